using System.Buffers;
using System.Buffers.Binary;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Linux.Files;
using Hv.Linux.Signals;
using static Hv.Linux.Files.GuestBuffers;

namespace Hv.Linux.Syscalls;

/// <summary>
/// File and fd syscalls, passed through to the host (qemu-user style): guest fds map to host fds through the
/// <see cref="FileTable"/>, relative paths resolve against the guest working directory's host fd (never the
/// host process's cwd), and guest buffers are copied through the address space with permission checks.
/// </summary>
internal static unsafe partial class FileSyscalls
{
    private const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_SYMLINK_FOLLOW = 0x400,
        AT_NO_AUTOMOUNT = 0x800, AT_EMPTY_PATH = 0x1000, AT_EACCESS = 0x200;
    private const int StatSize = 144, StatxSize = 256, StatfsSize = 120;
    private const int MaxIov = 1024;
    private const short POLLIN = 1, POLLPRI = 2, POLLOUT = 4, POLLERR = 8, POLLHUP = 0x10, POLLNVAL = 0x20,
        POLLRDNORM = 0x40, POLLWRNORM = 0x100;

    public static void Register(SyscallRegistry r)
    {
        r.Add("read", &Read);
        r.Add("write", &Write);
        r.Add("pread64", &Pread64);
        r.Add("pwrite64", &Pwrite64);
        r.Add("readv", &Readv);
        r.Add("writev", &Writev);
        r.Add("preadv", &Preadv);
        r.Add("pwritev", &Pwritev);
        r.Add("preadv2", &Preadv2);
        r.Add("pwritev2", &Pwritev2);
        r.Add("open", &Open);
        r.Add("openat", &Openat);
        r.Add("creat", &Creat);
        r.Add("close", &Close);
        r.Add("close_range", &CloseRange);
        r.Add("lseek", &Lseek);
        r.Add("stat", &Stat);
        r.Add("lstat", &Lstat);
        r.Add("fstat", &Fstat);
        r.Add("newfstatat", &Newfstatat);
        r.Add("statx", &Statx);
        r.Add("getdents64", &Getdents64);
        r.Add("getdents", &Getdents);
        r.Add("fcntl", &Fcntl);
        r.Add("dup", &Dup);
        r.Add("dup2", &Dup2);
        r.Add("dup3", &Dup3);
        r.Add("pipe", &Pipe);
        r.Add("pipe2", &Pipe2);
        r.Add("ioctl", &Ioctl);
        r.Add("access", &Access);
        r.Add("faccessat", &Faccessat);
        r.Add("faccessat2", &Faccessat2);
        r.Add("readlink", &Readlink);
        r.Add("readlinkat", &Readlinkat);
        r.Add("getcwd", &Getcwd);
        r.Add("chdir", &Chdir);
        r.Add("fchdir", &Fchdir);
        r.Add("unlink", &Unlink);
        r.Add("rmdir", &Rmdir);
        r.Add("unlinkat", &Unlinkat);
        r.Add("rename", &Rename);
        r.Add("renameat", &Renameat);
        r.Add("renameat2", &Renameat2);
        r.Add("mkdir", &Mkdir);
        r.Add("mkdirat", &Mkdirat);
        r.Add("mknod", &Mknod);
        r.Add("mknodat", &Mknodat);
        r.Add("umask", &Umask);
        r.Add("ftruncate", &Ftruncate);
        r.Add("truncate", &Truncate);
        r.Add("fsync", &Fsync);
        r.Add("fdatasync", &Fdatasync);
        r.Add("fchmod", &Fchmod);
        r.Add("chmod", &Chmod);
        r.Add("fchmodat", &Fchmodat);
        r.Add("fchmodat2", &Fchmodat2);
        r.Add("fchown", &Fchown);
        r.Add("chown", &Chown);
        r.Add("lchown", &Lchown);
        r.Add("fchownat", &Fchownat);
        r.Add("utimensat", &Utimensat);
        r.Add("symlink", &Symlink);
        r.Add("symlinkat", &Symlinkat);
        r.Add("link", &Link);
        r.Add("linkat", &Linkat);
        r.Add("sendfile", &Sendfile);
        r.Add("poll", &Poll);
        r.Add("ppoll", &Ppoll);
        r.Add("select", &Select);
        r.Add("pselect6", &Pselect6);
        r.Add("statfs", &Statfs);
        r.Add("fstatfs", &Fstatfs);
        r.Add("fadvise64", &Fadvise64);
        r.Add("flock", &Flock);
        r.Add("fallocate", &Fallocate);
        r.Add("syncfs", &Syncfs);
        r.Add("sync", &Sync);
        r.Add("copy_file_range", &CopyFileRange);
        r.Add("eventfd", &Eventfd);
        r.Add("eventfd2", &Eventfd2);
        r.Add("epoll_create", &EpollCreate);
        r.Add("epoll_create1", &EpollCreate1);
        r.Add("epoll_ctl", &EpollCtl);
        r.Add("epoll_wait", &EpollWait);
        r.Add("epoll_pwait", &EpollWait);
        r.Add("epoll_pwait2", &EpollPwait2);
    }

    /// <summary>One guest buffer of a vectored I/O (an iovec).</summary>
    private struct Segment
    {
        public ulong Base;
        public ulong Length;
    }

    // ---------------------------------------------------------------- read / write

    private static long Read(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        if (k.RetryLaterIfBlocking(cpu, f, POLLIN)) return 0;
        Segment one = new() { Base = Arg1(cpu), Length = Arg2(cpu) };
        return ReadInto(k, f, new ReadOnlySpan<Segment>(ref one), -1);
    }

    private static long Write(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        if (k.RetryLaterIfBlocking(cpu, f, POLLOUT)) return 0;
        Segment one = new() { Base = Arg1(cpu), Length = Arg2(cpu) };
        return WriteFrom(k, f, new ReadOnlySpan<Segment>(ref one), -1);
    }

    private static long Pread64(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        long offset = (long)Arg3(cpu);
        if (offset < 0) return -Errno.EINVAL;
        Segment one = new() { Base = Arg1(cpu), Length = Arg2(cpu) };
        return ReadInto(k, f, new ReadOnlySpan<Segment>(ref one), offset);
    }

    private static long Pwrite64(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        long offset = (long)Arg3(cpu);
        if (offset < 0) return -Errno.EINVAL;
        Segment one = new() { Base = Arg1(cpu), Length = Arg2(cpu) };
        return WriteFrom(k, f, new ReadOnlySpan<Segment>(ref one), offset);
    }

    private static long Readv(LinuxKernel k, Vcpu cpu) => Vectored(k, cpu, write: false, -1);
    private static long Writev(LinuxKernel k, Vcpu cpu) => Vectored(k, cpu, write: true, -1);

    private static long Preadv(LinuxKernel k, Vcpu cpu)
    {
        long offset = (long)Arg3(cpu);
        return offset < 0 ? -Errno.EINVAL : Vectored(k, cpu, write: false, offset);
    }

    private static long Pwritev(LinuxKernel k, Vcpu cpu)
    {
        long offset = (long)Arg3(cpu);
        return offset < 0 ? -Errno.EINVAL : Vectored(k, cpu, write: true, offset);
    }

    private static long Preadv2(LinuxKernel k, Vcpu cpu)
    {
        long offset = (long)Arg3(cpu);
        if (Arg5(cpu) != 0) return -Errno.EOPNOTSUPP;
        return offset < -1 ? -Errno.EINVAL : Vectored(k, cpu, write: false, offset);
    }

    private static long Pwritev2(LinuxKernel k, Vcpu cpu)
    {
        long offset = (long)Arg3(cpu);
        if (Arg5(cpu) != 0) return -Errno.EOPNOTSUPP;
        return offset < -1 ? -Errno.EINVAL : Vectored(k, cpu, write: true, offset);
    }

    private static long Vectored(LinuxKernel k, Vcpu cpu, bool write, long offset)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        if (offset == -1 && k.RetryLaterIfBlocking(cpu, f, write ? POLLOUT : POLLIN)) return 0;
        ulong iov = Arg1(cpu);
        long count = Int(Arg2(cpu));
        if (count < 0 || count > MaxIov) return -Errno.EINVAL;
        Span<Segment> segments = stackalloc Segment[(int)count];
        Span<byte> raw = System.Runtime.InteropServices.MemoryMarshal.AsBytes(segments);
        if (!k.Memory.TryRead(iov, raw)) return -Errno.EFAULT;
        ulong total = 0;
        foreach (Segment s in segments)
        {
            if ((long)s.Length < 0) return -Errno.EINVAL;
            total += s.Length;
            if (total > (ulong)long.MaxValue) return -Errno.EINVAL;
        }
        return write ? WriteFrom(k, f, segments, offset) : ReadInto(k, f, segments, offset);
    }

    /// <summary>
    /// Reads from <paramref name="f"/> into guest buffers (at the current offset when <paramref name="offset"/>
    /// is -1). Only the writable prefix of the buffers is offered to the host, so nothing is consumed that
    /// cannot be delivered; a buffer that is bad from its first byte gives -EFAULT.
    /// </summary>
    private static long ReadInto(LinuxKernel k, FileDescription f, ReadOnlySpan<Segment> segments, long offset)
    {
        ulong requested = 0, total = 0;
        foreach (Segment s in segments)
        {
            requested += s.Length;
            ulong ok = AccessiblePrefix(k.Memory, s.Base, s.Length, PagePermissions.Write);
            total += ok;
            if (ok < s.Length) break;
        }
        total = Math.Min(total, (ulong)MaxRwCount);
        if (total == 0)
        {
            if (requested != 0) return -Errno.EFAULT;
            return offset < 0 ? f.Read([]) : f.ReadAt([], offset);
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(total, Chunk));
        try
        {
            ulong done = 0;
            while (done < total)
            {
                int want = (int)Math.Min(total - done, (ulong)buffer.Length);
                long n = offset < 0 ? f.Read(buffer.AsSpan(0, want)) : f.ReadAt(buffer.AsSpan(0, want), offset + (long)done);
                if (n < 0) return done > 0 ? (long)done : n;
                Scatter(k.Memory, segments, done, buffer.AsSpan(0, (int)n));
                done += (ulong)n;
                if (n < want || !f.IsRegular) break;
            }
            return (long)done;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Copies <paramref name="data"/> into the segments, starting <paramref name="skip"/> bytes in.</summary>
    private static void Scatter(AddressSpace memory, ReadOnlySpan<Segment> segments, ulong skip, ReadOnlySpan<byte> data)
    {
        foreach (Segment s in segments)
        {
            if (data.IsEmpty) return;
            if (skip >= s.Length)
            {
                skip -= s.Length;
                continue;
            }
            int n = (int)Math.Min((ulong)data.Length, s.Length - skip);
            memory.TryWrite(s.Base + skip, data[..n]);
            data = data[n..];
            skip = 0;
        }
    }

    /// <summary>
    /// Writes guest buffers to <paramref name="f"/> in chunks. Stops at the first unreadable guest byte: what
    /// came before it is written, and -EFAULT only if that was nothing.
    /// </summary>
    private static long WriteFrom(LinuxKernel k, FileDescription f, ReadOnlySpan<Segment> segments, long offset)
    {
        ulong total = 0;
        foreach (Segment s in segments) total += s.Length;
        total = Math.Min(total, (ulong)MaxRwCount);
        if (total == 0) return offset < 0 ? f.Write([]) : f.WriteAt([], offset);
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(total, Chunk));
        try
        {
            ulong done = 0;
            int segment = 0;
            ulong inSegment = 0;
            bool faulted = false;
            while (done < total && !faulted)
            {
                int filled = 0;
                while (filled < buffer.Length && segment < segments.Length && done + (ulong)filled < total)
                {
                    Segment s = segments[segment];
                    ulong want = Math.Min(Math.Min(s.Length - inSegment, (ulong)(buffer.Length - filled)), total - done - (ulong)filled);
                    ulong ok = AccessiblePrefix(k.Memory, s.Base + inSegment, want, PagePermissions.Read);
                    if (ok > 0) k.Memory.TryRead(s.Base + inSegment, buffer.AsSpan(filled, (int)ok));
                    filled += (int)ok;
                    inSegment += ok;
                    if (ok < want)
                    {
                        faulted = true;
                        break;
                    }
                    if (inSegment == s.Length)
                    {
                        segment++;
                        inSegment = 0;
                    }
                }
                if (filled == 0) return done > 0 ? (long)done : -Errno.EFAULT;
                long n = offset < 0 ? f.Write(buffer.AsSpan(0, filled)) : f.WriteAt(buffer.AsSpan(0, filled), offset + (long)done);
                if (n < 0) return done > 0 ? (long)done : BrokenPipe(k, n);
                done += (ulong)n;
                if (n < filled) break;
            }
            return (long)done;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// A write to a pipe without readers raises SIGPIPE in the writer, as the kernel does (the host runtime ignores
    /// SIGPIPE, so the host only reports EPIPE). Returns <paramref name="result"/>.
    /// </summary>
    private static long BrokenPipe(LinuxKernel k, long result)
    {
        if (result == -Errno.EPIPE) k.QueueSignal(new SignalInfo(Signal.SIGPIPE, 0, 0, k.Pid, k.Ids.Uid));
        return result;
    }

    private static long Lseek(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        int whence = Int(Arg2(cpu));
        if ((uint)whence > 4) return -Errno.EINVAL;
        return f.Seek((long)Arg1(cpu), whence);
    }

    private static long Sendfile(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? output = k.Files.Get(Int(Arg0(cpu))), input = k.Files.Get(Int(Arg1(cpu)));
        if (output is null || input is null) return -Errno.EBADF;
        ulong offsetAddress = Arg2(cpu);
        long count = (long)Math.Min(Arg3(cpu), (ulong)MaxRwCount);
        long offset = -1;
        if (offsetAddress != 0)
        {
            if (!TryRead64(k.Memory, offsetAddress, out ulong o)) return -Errno.EFAULT;
            offset = (long)o;
            if (offset < 0) return -Errno.EINVAL;
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Chunk);
        long done = 0, result = 0;
        try
        {
            while (done < count)
            {
                int want = (int)Math.Min(count - done, Chunk);
                long n = offset < 0 ? input.Read(buffer.AsSpan(0, want)) : input.ReadAt(buffer.AsSpan(0, want), offset + done);
                if (n <= 0)
                {
                    result = n;
                    break;
                }
                long w = output.Write(buffer.AsSpan(0, (int)n));
                if (w < 0)
                {
                    result = BrokenPipe(k, w);
                    break;
                }
                done += w;
                if (w < n)
                {
                    // The unwritten tail was consumed from the input: step back so it is not lost.
                    if (offset < 0) input.Seek(w - n, 1);
                    break;
                }
                if (n < want && !input.IsRegular) break;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (offsetAddress != 0 && !TryWrite64(k.Memory, offsetAddress, (ulong)(offset + done))) return -Errno.EFAULT;
        return done > 0 ? done : result;
    }

    /// <summary>copy_file_range between host files; offsets given by pointer are copied in and back out.</summary>
    private static long CopyFileRange(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? input = k.Files.Get(Int(Arg0(cpu))), output = k.Files.Get(Int(Arg2(cpu)));
        if (input is null || output is null) return -Errno.EBADF;
        ulong inOffset = Arg1(cpu), outOffset = Arg3(cpu);
        if (input.HostFd < 0 || output.HostFd < 0) return -Errno.EXDEV; // callers fall back to read/write
        long* offsets = stackalloc long[2];
        if (inOffset != 0)
        {
            if (!TryRead64(k.Memory, inOffset, out ulong v)) return -Errno.EFAULT;
            offsets[0] = (long)v;
        }
        if (outOffset != 0)
        {
            if (!TryRead64(k.Memory, outOffset, out ulong v)) return -Errno.EFAULT;
            offsets[1] = (long)v;
        }
        long r = Host.Call(326, input.HostFd, inOffset != 0 ? (long)offsets : 0, output.HostFd,
            outOffset != 0 ? (long)(offsets + 1) : 0, (long)Math.Min(Arg4(cpu), (ulong)MaxRwCount), Int(Arg5(cpu)));
        if (r < 0) return r;
        if (inOffset != 0 && !TryWrite64(k.Memory, inOffset, (ulong)offsets[0])) return -Errno.EFAULT;
        if (outOffset != 0 && !TryWrite64(k.Memory, outOffset, (ulong)offsets[1])) return -Errno.EFAULT;
        return r;
    }

    // ---------------------------------------------------------------- descriptors

    private static long Dup(LinuxKernel k, Vcpu cpu) => k.Files.Duplicate(Int(Arg0(cpu)), 0, cloexec: false);
    private static long Dup2(LinuxKernel k, Vcpu cpu) => k.Files.DuplicateTo(Int(Arg0(cpu)), Int(Arg1(cpu)), cloexec: false);

    private static long Dup3(LinuxKernel k, Vcpu cpu)
    {
        int oldFd = Int(Arg0(cpu)), newFd = Int(Arg1(cpu)), flags = Int(Arg2(cpu));
        if ((flags & ~OpenFlags.O_CLOEXEC) != 0 || oldFd == newFd) return -Errno.EINVAL;
        return k.Files.DuplicateTo(oldFd, newFd, cloexec: flags != 0);
    }

    private static long Pipe(LinuxKernel k, Vcpu cpu) => MakePipe(k, Arg0(cpu), 0);
    private static long Pipe2(LinuxKernel k, Vcpu cpu) => MakePipe(k, Arg0(cpu), Int(Arg1(cpu)));

    private static long MakePipe(LinuxKernel k, ulong address, int flags)
    {
        const int O_NOTIFICATION_PIPE = OpenFlags.O_EXCL;
        if ((flags & ~(OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK | OpenFlags.O_DIRECT | O_NOTIFICATION_PIPE)) != 0) return -Errno.EINVAL;
        int* host = stackalloc int[2];
        long r = Host.Call(Host.Pipe2, (long)host, flags | OpenFlags.O_CLOEXEC);
        if (r < 0) return r;
        bool cloexec = (flags & OpenFlags.O_CLOEXEC) != 0;
        var reader = new HostFile(host[0], ownsFd: true);
        var writer = new HostFile(host[1], ownsFd: true);
        long readFd = Install(k, reader, cloexec);
        if (readFd < 0)
        {
            writer.Release();
            return readFd;
        }
        long writeFd = Install(k, writer, cloexec);
        if (writeFd < 0)
        {
            k.Files.Close(readFd);
            return writeFd;
        }
        Span<byte> fds = stackalloc byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(fds, (int)readFd);
        BinaryPrimitives.WriteInt32LittleEndian(fds[4..], (int)writeFd);
        if (k.Memory.TryWrite(address, fds)) return 0;
        k.Files.Close(readFd);
        k.Files.Close(writeFd);
        return -Errno.EFAULT;
    }

    private static long Fcntl(LinuxKernel k, Vcpu cpu)
    {
        const int F_DUPFD = 0, F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, F_GETLK = 5, F_SETLK = 6, F_SETLKW = 7,
            F_SETOWN = 8, F_GETOWN = 9, F_OFD_GETLK = 36, F_OFD_SETLK = 37, F_OFD_SETLKW = 38, F_SETLEASE = 1024,
            F_GETLEASE = 1025, F_DUPFD_CLOEXEC = 1030, F_SETPIPE_SZ = 1031, F_GETPIPE_SZ = 1032, F_ADD_SEALS = 1033,
            F_GET_SEALS = 1034;
        int fd = Int(Arg0(cpu)), command = Int(Arg1(cpu));
        ulong arg = Arg2(cpu);
        FileDescription? f = k.Files.Get(fd);
        if (f is null) return -Errno.EBADF;
        switch (command)
        {
            case F_DUPFD:
            case F_DUPFD_CLOEXEC:
                if (arg >= FileTable.MaxFds) return -Errno.EINVAL;
                return k.Files.Duplicate(fd, (int)arg, cloexec: command == F_DUPFD_CLOEXEC);
            case F_GETFD:
                return k.Files.GetCloseOnExec(fd) ? 1 : 0;
            case F_SETFD:
                k.Files.SetCloseOnExec(fd, (arg & 1) != 0);
                return 0;
            case F_GETFL:
                return f.GetStatusFlags();
            case F_SETFL:
                return f.SetStatusFlags(Int(arg));
            case F_GETLK or F_SETLK or F_SETLKW or F_OFD_GETLK or F_OFD_SETLK or F_OFD_SETLKW:
            {
                Span<byte> flock = stackalloc byte[32];
                if (!k.Memory.TryRead(arg, flock)) return -Errno.EFAULT;
                if (f.HostFd < 0) return command is F_GETLK or F_OFD_GETLK ? WriteUnlocked(k, arg, flock) : 0;
                long r;
                fixed (byte* p = flock) r = Host.Call(Host.Fcntl, f.HostFd, command, (long)p);
                if (r < 0) return r;
                if (command is F_GETLK or F_OFD_GETLK && !k.Memory.TryWrite(arg, flock)) return -Errno.EFAULT;
                return r;
            }
            case F_SETOWN or F_GETOWN or F_SETLEASE or F_GETLEASE or F_SETPIPE_SZ or F_GETPIPE_SZ:
                return f.HostFd < 0 ? -Errno.EINVAL : Host.Call(Host.Fcntl, f.HostFd, command, Int(arg));
            case F_ADD_SEALS:
                if (f is not MemoryFile m) return -Errno.EINVAL;
                if ((m.Seals & MemoryFile.SealSeal) != 0) return -Errno.EPERM;
                if ((arg & ~0x3FUL) != 0) return -Errno.EINVAL;
                m.Seals |= (int)arg;
                return 0;
            case F_GET_SEALS:
                return f is MemoryFile s ? s.Seals : -Errno.EINVAL;
            default:
                return -Errno.EINVAL;
        }
    }

    /// <summary>F_GETLK on a file nobody else can lock: l_type = F_UNLCK.</summary>
    private static long WriteUnlocked(LinuxKernel k, ulong address, Span<byte> flock)
    {
        BinaryPrimitives.WriteInt16LittleEndian(flock, 2);
        return k.Memory.TryWrite(address, flock) ? 0 : -Errno.EFAULT;
    }

    private static long Ioctl(LinuxKernel k, Vcpu cpu)
    {
        const uint FIONCLEX = 0x5450, FIOCLEX = 0x5451, TIOCSCTTY = 0x540E, TIOCNOTTY = 0x5422;
        int fd = Int(Arg0(cpu));
        uint request = (uint)Arg1(cpu);
        ulong arg = Arg2(cpu);
        FileDescription? f = k.Files.Get(fd);
        if (f is null) return -Errno.EBADF;
        if (request == FIOCLEX || request == FIONCLEX)
        {
            k.Files.SetCloseOnExec(fd, request == FIOCLEX);
            return 0;
        }
        if (f.HostFd < 0) return -Errno.ENOTTY;
        // The host process's controlling terminal is not the guest's to change.
        if (request is TIOCSCTTY or TIOCNOTTY) return -Errno.EPERM;
        (int size, bool input, bool output) = IoctlShape(request);
        if (size < 0) return -Errno.ENOTTY;
        if (size == 0) return Host.Call(Host.Ioctl, f.HostFd, request, (long)arg); // the argument is a value
        Span<byte> buffer = stackalloc byte[64];
        buffer.Clear();
        if (input && !k.Memory.TryRead(arg, buffer[..size])) return -Errno.EFAULT;
        long r;
        fixed (byte* p = buffer) r = Host.Call(Host.Ioctl, f.HostFd, request, (long)p);
        if (r < 0) return r;
        if (output && !k.Memory.TryWrite(arg, buffer[..size])) return -Errno.EFAULT;
        return r;
    }

    /// <summary>
    /// The argument of the terminal and fd ioctls passed through: its size in bytes (0 for a plain value,
    /// -1 for unknown requests) and whether the kernel reads and/or writes it.
    /// </summary>
    private static (int Size, bool Input, bool Output) IoctlShape(uint request) => request switch
    {
        0x5401 => (36, false, true),                  // TCGETS (kernel struct termios)
        0x5402 or 0x5403 or 0x5404 => (36, true, false), // TCSETS, TCSETSW, TCSETSF
        0x5405 => (18, false, true),                  // TCGETA (struct termio)
        0x5406 or 0x5407 or 0x5408 => (18, true, false), // TCSETA*
        0x5409 or 0x540A or 0x540B => (0, false, false), // TCSBRK, TCXONC, TCFLSH
        0x540F => (4, false, true),                   // TIOCGPGRP
        0x5410 => (4, true, false),                   // TIOCSPGRP
        0x5411 => (4, false, true),                   // TIOCOUTQ
        0x5413 => (8, false, true),                   // TIOCGWINSZ
        0x5414 => (8, true, false),                   // TIOCSWINSZ
        0x541B => (4, false, true),                   // FIONREAD
        0x5421 => (4, true, false),                   // FIONBIO
        0x5429 => (4, false, true),                   // TIOCGSID
        0x802C542A => (44, false, true),              // TCGETS2
        0x402C542B or 0x402C542C or 0x402C542D => (44, true, false), // TCSETS2, TCSETSW2, TCSETSF2
        0x80045430 => (4, false, true),               // TIOCGPTN
        0x40045431 => (4, true, false),               // TIOCSPTLCK
        _ => (-1, false, false),
    };

}
