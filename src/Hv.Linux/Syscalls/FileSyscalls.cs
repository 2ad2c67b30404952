using System.Buffers;
using System.Buffers.Binary;
using System.Text;
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
internal static unsafe class FileSyscalls
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
        Segment one = new() { Base = Arg1(cpu), Length = Arg2(cpu) };
        return ReadInto(k, f, new ReadOnlySpan<Segment>(ref one), -1);
    }

    private static long Write(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
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

    // ---------------------------------------------------------------- paths

    /// <summary>
    /// Reads the guest path at <paramref name="address"/> into <paramref name="path"/> (NUL-terminated),
    /// rewrites /proc/self/exe and fd links to what they mean for the guest, and resolves
    /// <paramref name="dirfd"/>. Returns the path length or -errno (an empty path is -ENOENT unless allowed).
    /// </summary>
    private static long PathAt(LinuxKernel k, ulong dirfd, ulong address, Span<byte> path, out int hostDir, bool allowEmpty = false)
    {
        hostDir = Host.AtFdCwd;
        int n = ReadString(k.Memory, address, path);
        if (n < 0) return n;
        if (n == 0)
        {
            if (!allowEmpty) return -Errno.ENOENT;
            long e = EmptyPathTarget(k, dirfd, out hostDir);
            return e < 0 ? e : 0;
        }
        n = Substitute(k, path, n);
        if (n < 0) return n;
        long r = k.ResolveDirFd(dirfd, path[..n], out hostDir);
        return r < 0 ? r : n;
    }

    /// <summary>
    /// AT_EMPTY_PATH: the call is about <paramref name="dirfd"/> itself. <paramref name="hostDir"/> gets its host
    /// fd, or -1 for a memfd (which the caller handles without the host).
    /// </summary>
    private static long EmptyPathTarget(LinuxKernel k, ulong dirfd, out int hostDir)
    {
        hostDir = -1;
        if (Int(dirfd) == AT_FDCWD)
        {
            hostDir = k.WorkingDirectoryFd;
            return 0;
        }
        FileDescription? f = k.Files.Get(Int(dirfd));
        if (f is null) return -Errno.EBADF;
        hostDir = f.HostFd;
        return 0;
    }

    /// <summary>
    /// /proc/self/exe names the guest executable, and /proc/self/fd/N, /dev/fd/N and /dev/std* name guest fds,
    /// which live under other numbers on the host. Returns the new length or -errno.
    /// </summary>
    private static int Substitute(LinuxKernel k, Span<byte> path, int length)
    {
        ReadOnlySpan<byte> p = path[..length];
        if (p.SequenceEqual("/proc/self/exe"u8) && k.ExecutablePath is { } exe) return SetPath(path, exe);
        int guestFd = -1;
        if (p.SequenceEqual("/dev/stdin"u8)) guestFd = 0;
        else if (p.SequenceEqual("/dev/stdout"u8)) guestFd = 1;
        else if (p.SequenceEqual("/dev/stderr"u8)) guestFd = 2;
        else if (p.StartsWith("/proc/self/fd/"u8)) guestFd = ParseFd(p["/proc/self/fd/".Length..]);
        else if (p.StartsWith("/dev/fd/"u8)) guestFd = ParseFd(p["/dev/fd/".Length..]);
        if (guestFd < 0) return length;
        FileDescription? f = k.Files.Get(guestFd);
        if (f is null) return -Errno.ENOENT;
        if (f.HostFd < 0) return length; // memfd: no host file to name
        return SetPath(path, $"/proc/self/fd/{f.HostFd}");
    }

    private static int ParseFd(ReadOnlySpan<byte> digits)
    {
        if (digits.IsEmpty || digits.Length > 9) return -1;
        int value = 0;
        foreach (byte b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9') return -1;
            value = value * 10 + (b - '0');
        }
        return value;
    }

    private static int SetPath(Span<byte> path, string value)
    {
        if (Encoding.UTF8.GetByteCount(value) >= path.Length) return -Errno.ENAMETOOLONG;
        int n = Encoding.UTF8.GetBytes(value, path);
        path[n] = 0;
        return n;
    }

    private static long Open(LinuxKernel k, Vcpu cpu) => OpenAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), Int(Arg1(cpu)), Int(Arg2(cpu)));
    private static long Openat(LinuxKernel k, Vcpu cpu) => OpenAt(k, Arg0(cpu), Arg1(cpu), Int(Arg2(cpu)), Int(Arg3(cpu)));

    private static long Creat(LinuxKernel k, Vcpu cpu) =>
        OpenAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), OpenFlags.O_CREAT | OpenFlags.O_WRONLY | OpenFlags.O_TRUNC, Int(Arg1(cpu)));

    private static long OpenAt(LinuxKernel k, ulong dirfd, ulong pathAddress, int flags, int mode)
    {
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, dirfd, pathAddress, path, out int hostDir);
        if (n < 0) return n;
        if (ProcFiles.TryOpen(k, path[..(int)n]) is { } proc)
        {
            if ((flags & OpenFlags.O_ACCMODE) != OpenFlags.O_RDONLY) return -Errno.EACCES;
            return Install(k, proc, (flags & OpenFlags.O_CLOEXEC) != 0);
        }
        mode &= 0xFFF;
        if ((flags & OpenFlags.O_CREAT) != 0 || (flags & OpenFlags.O_TMPFILE) == OpenFlags.O_TMPFILE) mode &= ~k.Umask;
        long hostFd;
        // O_NOCTTY: a guest opening a terminal must not make it the host process's controlling tty.
        fixed (byte* p = path) hostFd = Host.Call(Host.Openat, hostDir, (long)p, flags | OpenFlags.O_CLOEXEC | OpenFlags.O_NOCTTY, mode);
        if (hostFd < 0) return hostFd;
        return Install(k, new HostFile((int)hostFd, ownsFd: true), (flags & OpenFlags.O_CLOEXEC) != 0);
    }

    /// <summary>Gives a new description a guest fd, or closes it if the table is full.</summary>
    private static long Install(LinuxKernel k, FileDescription file, bool cloexec)
    {
        int fd = k.Files.Add(file, cloexec);
        if (fd < 0) file.Release();
        return fd;
    }

    private static long Close(LinuxKernel k, Vcpu cpu) => k.Files.Close(Int(Arg0(cpu)));

    private static long CloseRange(LinuxKernel k, Vcpu cpu)
    {
        uint first = (uint)Arg0(cpu), last = (uint)Arg1(cpu);
        uint flags = (uint)Arg2(cpu);
        if (first > last || (flags & ~6u) != 0) return -Errno.EINVAL;
        k.Files.CloseRange(first, last, markCloseOnExec: (flags & 4) != 0);
        return 0;
    }

    private static long Stat(LinuxKernel k, Vcpu cpu) => StatAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), Arg1(cpu), 0);
    private static long Lstat(LinuxKernel k, Vcpu cpu) => StatAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), Arg1(cpu), AT_SYMLINK_NOFOLLOW);
    private static long Newfstatat(LinuxKernel k, Vcpu cpu) => StatAt(k, Arg0(cpu), Arg1(cpu), Arg2(cpu), Int(Arg3(cpu)));

    private static long Fstat(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        Span<byte> st = stackalloc byte[StatSize];
        long r = f.Stat(st);
        if (r < 0) return r;
        return k.Memory.TryWrite(Arg1(cpu), st) ? 0 : -Errno.EFAULT;
    }

    private static long StatAt(LinuxKernel k, ulong dirfd, ulong pathAddress, ulong buffer, int flags)
    {
        if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH)) != 0) return -Errno.EINVAL;
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, dirfd, pathAddress, path, out int hostDir, allowEmpty: (flags & AT_EMPTY_PATH) != 0);
        if (n < 0) return n;
        Span<byte> st = stackalloc byte[StatSize];
        long r;
        if (n == 0 && hostDir < 0)
            r = k.Files.Get(Int(dirfd))!.Stat(st);
        else
            fixed (byte* p = path)
            fixed (byte* s = st)
                r = Host.Call(Host.Newfstatat, hostDir, (long)p, (long)s, flags);
        if (r < 0) return r;
        return k.Memory.TryWrite(buffer, st) ? 0 : -Errno.EFAULT;
    }

    private static long Statx(LinuxKernel k, Vcpu cpu)
    {
        ulong dirfd = Arg0(cpu), pathAddress = Arg1(cpu), buffer = Arg4(cpu);
        int flags = Int(Arg2(cpu));
        uint mask = (uint)Arg3(cpu);
        bool emptyAllowed = (flags & AT_EMPTY_PATH) != 0;
        Span<byte> path = stackalloc byte[PathMax];
        long n;
        int hostDir;
        if (pathAddress == 0 && emptyAllowed)
        {
            path[0] = 0;
            n = EmptyPathTarget(k, dirfd, out hostDir);
        }
        else
        {
            n = PathAt(k, dirfd, pathAddress, path, out hostDir, allowEmpty: emptyAllowed);
        }
        if (n < 0) return n;
        Span<byte> stx = stackalloc byte[StatxSize];
        long r;
        if (n == 0 && hostDir < 0)
            r = k.Files.Get(Int(dirfd))!.Statx(stx, flags, mask);
        else
            fixed (byte* p = path)
            fixed (byte* s = stx)
                r = Host.Call(Host.Statx, hostDir, (long)p, flags, mask, (long)s);
        if (r < 0) return r;
        return k.Memory.TryWrite(buffer, stx) ? 0 : -Errno.EFAULT;
    }

    private static long Getdents64(LinuxKernel k, Vcpu cpu) => Getdents(k, cpu, Host.Getdents64);
    private static long Getdents(LinuxKernel k, Vcpu cpu) => Getdents(k, cpu, Host.Getdents);

    /// <summary>getdents/getdents64: the host's records are the guest's, so the bytes are copied as they are.</summary>
    private static long Getdents(LinuxKernel k, Vcpu cpu, long number)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        if (f.HostFd < 0) return -Errno.ENOTDIR;
        ulong buffer = Arg1(cpu);
        ulong count = (uint)Arg2(cpu);
        ulong ok = AccessiblePrefix(k.Memory, buffer, count, PagePermissions.Write);
        if (ok == 0 && count != 0) return -Errno.EFAULT;
        byte[] host = ArrayPool<byte>.Shared.Rent(Chunk);
        try
        {
            int want = (int)Math.Min(ok, (ulong)Chunk);
            long n;
            fixed (byte* p = host) n = Host.Call(number, f.HostFd, (long)p, want);
            if (n <= 0) return n;
            return k.Memory.TryWrite(buffer, host.AsSpan(0, (int)n)) ? n : -Errno.EFAULT;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(host);
        }
    }

    private static long Access(LinuxKernel k, Vcpu cpu) => AccessAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), Int(Arg1(cpu)), 0);
    private static long Faccessat(LinuxKernel k, Vcpu cpu) => AccessAt(k, Arg0(cpu), Arg1(cpu), Int(Arg2(cpu)), 0);
    private static long Faccessat2(LinuxKernel k, Vcpu cpu) => AccessAt(k, Arg0(cpu), Arg1(cpu), Int(Arg2(cpu)), Int(Arg3(cpu)));

    private static long AccessAt(LinuxKernel k, ulong dirfd, ulong pathAddress, int mode, int flags)
    {
        if ((mode & ~7) != 0) return -Errno.EINVAL;
        if ((flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -Errno.EINVAL;
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, dirfd, pathAddress, path, out int hostDir, allowEmpty: (flags & AT_EMPTY_PATH) != 0);
        if (n < 0) return n;
        if (n == 0 && hostDir < 0) return 0; // memfd: always accessible
        fixed (byte* p = path)
            return flags == 0
                ? Host.Call(Host.Faccessat, hostDir, (long)p, mode)
                : Host.Call(Host.Faccessat2, hostDir, (long)p, mode, flags);
    }

    private static long Readlink(LinuxKernel k, Vcpu cpu) => ReadlinkAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), Arg1(cpu), Int(Arg2(cpu)));
    private static long Readlinkat(LinuxKernel k, Vcpu cpu) => ReadlinkAt(k, Arg0(cpu), Arg1(cpu), Arg2(cpu), Int(Arg3(cpu)));

    private static long ReadlinkAt(LinuxKernel k, ulong dirfd, ulong pathAddress, ulong buffer, int size)
    {
        if (size <= 0) return -Errno.EINVAL;
        Span<byte> path = stackalloc byte[PathMax];
        int n = ReadString(k.Memory, pathAddress, path);
        if (n < 0) return n;
        if (n == 0) return -Errno.ENOENT;
        Span<byte> target = stackalloc byte[PathMax];
        int length = -1;
        ReadOnlySpan<byte> p = path[..n];
        if (p.SequenceEqual("/proc/self/exe"u8) && k.ExecutablePath is { } exe)
            length = Encoding.UTF8.GetBytes(exe, target);
        else if (p.SequenceEqual("/proc/self/cwd"u8))
        {
            ReadOnlySpan<byte> cwd = k.WorkingDirectoryBytes;
            cwd.CopyTo(target);
            length = cwd.Length;
        }
        else if (p.StartsWith("/proc/self/fd/"u8) && ParseFd(p["/proc/self/fd/".Length..]) is int fd and >= 0)
        {
            FileDescription? f = k.Files.Get(fd);
            if (f is null) return -Errno.ENOENT;
            if (f is MemoryFile m) length = Encoding.UTF8.GetBytes("/" + m.Name + " (deleted)", target);
        }
        if (length < 0)
        {
            long m = Substitute(k, path, n);
            if (m < 0) return m;
            long r = k.ResolveDirFd(dirfd, path[..(int)m], out int hostDir);
            if (r < 0) return r;
            fixed (byte* pp = path)
            fixed (byte* t = target)
                r = Host.Call(Host.Readlinkat, hostDir, (long)pp, (long)t, PathMax);
            if (r < 0) return r;
            length = (int)r;
        }
        int copy = Math.Min(length, size);
        return k.Memory.TryWrite(buffer, target[..copy]) ? copy : -Errno.EFAULT;
    }

    private static long Getcwd(LinuxKernel k, Vcpu cpu)
    {
        ulong buffer = Arg0(cpu), size = Arg1(cpu);
        ReadOnlySpan<byte> cwd = k.WorkingDirectoryBytes;
        if ((ulong)cwd.Length + 1 > size) return -Errno.ERANGE;
        Span<byte> copy = stackalloc byte[cwd.Length + 1];
        cwd.CopyTo(copy);
        copy[^1] = 0;
        return k.Memory.TryWrite(buffer, copy) ? copy.Length : -Errno.EFAULT;
    }

    private static long Chdir(LinuxKernel k, Vcpu cpu)
    {
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), path, out int hostDir);
        if (n < 0) return n;
        long fd;
        fixed (byte* p = path) fd = Host.Call(Host.Openat, hostDir, (long)p, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC);
        return fd < 0 ? fd : k.AdoptWorkingDirectory((int)fd);
    }

    private static long Fchdir(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        if (f.HostFd < 0) return -Errno.ENOTDIR;
        byte* dot = stackalloc byte[2];
        dot[0] = (byte)'.';
        dot[1] = 0;
        long fd = Host.Call(Host.Openat, f.HostFd, (long)dot, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC);
        return fd < 0 ? fd : k.AdoptWorkingDirectory((int)fd);
    }

    // ---------------------------------------------------------------- directory entries

    private static long Unlink(LinuxKernel k, Vcpu cpu) => UnlinkAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), 0);
    private static long Rmdir(LinuxKernel k, Vcpu cpu) => UnlinkAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), AT_REMOVEDIR);
    private static long Unlinkat(LinuxKernel k, Vcpu cpu) => UnlinkAt(k, Arg0(cpu), Arg1(cpu), Int(Arg2(cpu)));

    private static long UnlinkAt(LinuxKernel k, ulong dirfd, ulong pathAddress, int flags)
    {
        if ((flags & ~AT_REMOVEDIR) != 0) return -Errno.EINVAL;
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, dirfd, pathAddress, path, out int hostDir);
        if (n < 0) return n;
        fixed (byte* p = path) return Host.Call(Host.Unlinkat, hostDir, (long)p, flags);
    }

    private static long Rename(LinuxKernel k, Vcpu cpu) =>
        RenameAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), unchecked((ulong)AT_FDCWD), Arg1(cpu), 0);
    private static long Renameat(LinuxKernel k, Vcpu cpu) => RenameAt(k, Arg0(cpu), Arg1(cpu), Arg2(cpu), Arg3(cpu), 0);
    private static long Renameat2(LinuxKernel k, Vcpu cpu) => RenameAt(k, Arg0(cpu), Arg1(cpu), Arg2(cpu), Arg3(cpu), Int(Arg4(cpu)));

    private static long RenameAt(LinuxKernel k, ulong oldDirfd, ulong oldPath, ulong newDirfd, ulong newPath, int flags)
    {
        Span<byte> from = stackalloc byte[PathMax];
        Span<byte> to = stackalloc byte[PathMax];
        long n = PathAt(k, oldDirfd, oldPath, from, out int fromDir);
        if (n < 0) return n;
        n = PathAt(k, newDirfd, newPath, to, out int toDir);
        if (n < 0) return n;
        fixed (byte* f = from)
        fixed (byte* t = to)
            return Host.Call(Host.Renameat2, fromDir, (long)f, toDir, (long)t, flags);
    }

    private static long Mkdir(LinuxKernel k, Vcpu cpu) => MkdirAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), Int(Arg1(cpu)));
    private static long Mkdirat(LinuxKernel k, Vcpu cpu) => MkdirAt(k, Arg0(cpu), Arg1(cpu), Int(Arg2(cpu)));

    private static long MkdirAt(LinuxKernel k, ulong dirfd, ulong pathAddress, int mode)
    {
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, dirfd, pathAddress, path, out int hostDir);
        if (n < 0) return n;
        fixed (byte* p = path) return Host.Call(Host.Mkdirat, hostDir, (long)p, mode & 0xFFF & ~k.Umask);
    }

    private static long Mknod(LinuxKernel k, Vcpu cpu) => MknodAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), Int(Arg1(cpu)), Arg2(cpu));
    private static long Mknodat(LinuxKernel k, Vcpu cpu) => MknodAt(k, Arg0(cpu), Arg1(cpu), Int(Arg2(cpu)), Arg3(cpu));

    private static long MknodAt(LinuxKernel k, ulong dirfd, ulong pathAddress, int mode, ulong device)
    {
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, dirfd, pathAddress, path, out int hostDir);
        if (n < 0) return n;
        mode = (mode & OpenFlags.S_IFMT) | (mode & 0xFFF & ~k.Umask);
        fixed (byte* p = path) return Host.Call(Host.Mknodat, hostDir, (long)p, mode, (long)device);
    }

    private static long Symlink(LinuxKernel k, Vcpu cpu) => SymlinkAt(k, Arg0(cpu), unchecked((ulong)AT_FDCWD), Arg1(cpu));
    private static long Symlinkat(LinuxKernel k, Vcpu cpu) => SymlinkAt(k, Arg0(cpu), Arg1(cpu), Arg2(cpu));

    private static long SymlinkAt(LinuxKernel k, ulong targetAddress, ulong dirfd, ulong pathAddress)
    {
        Span<byte> target = stackalloc byte[PathMax];
        int t = ReadString(k.Memory, targetAddress, target);
        if (t < 0) return t;
        if (t == 0) return -Errno.ENOENT;
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, dirfd, pathAddress, path, out int hostDir);
        if (n < 0) return n;
        fixed (byte* tp = target)
        fixed (byte* p = path)
            return Host.Call(Host.Symlinkat, (long)tp, hostDir, (long)p);
    }

    private static long Link(LinuxKernel k, Vcpu cpu) =>
        LinkAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), unchecked((ulong)AT_FDCWD), Arg1(cpu), 0);
    private static long Linkat(LinuxKernel k, Vcpu cpu) => LinkAt(k, Arg0(cpu), Arg1(cpu), Arg2(cpu), Arg3(cpu), Int(Arg4(cpu)));

    private static long LinkAt(LinuxKernel k, ulong oldDirfd, ulong oldPath, ulong newDirfd, ulong newPath, int flags)
    {
        if ((flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) != 0) return -Errno.EINVAL;
        Span<byte> from = stackalloc byte[PathMax];
        Span<byte> to = stackalloc byte[PathMax];
        long n = PathAt(k, oldDirfd, oldPath, from, out int fromDir, allowEmpty: (flags & AT_EMPTY_PATH) != 0);
        if (n < 0) return n;
        n = PathAt(k, newDirfd, newPath, to, out int toDir);
        if (n < 0) return n;
        fixed (byte* f = from)
        fixed (byte* t = to)
            return Host.Call(Host.Linkat, fromDir, (long)f, toDir, (long)t, flags);
    }

    // ---------------------------------------------------------------- attributes

    private static long Umask(LinuxKernel k, Vcpu cpu)
    {
        int old = k.Umask;
        k.Umask = Int(Arg0(cpu)) & 0x1FF;
        return old;
    }

    private static long Ftruncate(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        long length = (long)Arg1(cpu);
        return length < 0 ? -Errno.EINVAL : f.Truncate(length);
    }

    private static long Truncate(LinuxKernel k, Vcpu cpu)
    {
        long length = (long)Arg1(cpu);
        if (length < 0) return -Errno.EINVAL;
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), path, out int hostDir);
        if (n < 0) return n;
        long fd;
        fixed (byte* p = path) fd = Host.Call(Host.Openat, hostDir, (long)p, OpenFlags.O_WRONLY | OpenFlags.O_CLOEXEC | OpenFlags.O_NOCTTY | OpenFlags.O_NONBLOCK);
        if (fd < 0) return fd;
        long r = Host.Call(Host.Ftruncate, fd, length);
        Host.CloseFd((int)fd);
        return r;
    }

    private static long Fsync(LinuxKernel k, Vcpu cpu) => OnHostFd(k, cpu, Host.Fsync);
    private static long Fdatasync(LinuxKernel k, Vcpu cpu) => OnHostFd(k, cpu, Host.Fdatasync);
    private static long Fchmod(LinuxKernel k, Vcpu cpu) => OnHostFd(k, cpu, Host.Fchmod, (long)(Arg1(cpu) & 0xFFF));
    private static long Fchown(LinuxKernel k, Vcpu cpu) => OnHostFd(k, cpu, Host.Fchown, (long)(uint)Arg1(cpu), (long)(uint)Arg2(cpu));
    private static long Flock(LinuxKernel k, Vcpu cpu) => OnHostFd(k, cpu, 73, (long)Arg1(cpu));

    private static long Fadvise64(LinuxKernel k, Vcpu cpu) =>
        OnHostFd(k, cpu, 221, (long)Arg1(cpu), (long)Arg2(cpu), Int(Arg3(cpu)));

    private static long Syncfs(LinuxKernel k, Vcpu cpu) => OnHostFd(k, cpu, 306);

    private static long Fallocate(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        int mode = Int(Arg1(cpu));
        long offset = (long)Arg2(cpu), length = (long)Arg3(cpu);
        if (f.HostFd >= 0) return Host.Call(285, f.HostFd, mode, offset, length);
        if (offset < 0 || length <= 0) return -Errno.EINVAL;
        if (mode != 0) return -Errno.EOPNOTSUPP;
        var m = (MemoryFile)f;
        return offset + length > m.Size ? m.Truncate(offset + length) : 0;
    }

    /// <summary>A host syscall whose first argument is the fd; memfds accept it without effect.</summary>
    private static long OnHostFd(LinuxKernel k, Vcpu cpu, long number, long a1 = 0, long a2 = 0, long a3 = 0)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        return f.HostFd < 0 ? 0 : Host.Call(number, f.HostFd, a1, a2, a3);
    }

    private static long Chmod(LinuxKernel k, Vcpu cpu) => ChmodAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), Int(Arg1(cpu)), 0);
    private static long Fchmodat(LinuxKernel k, Vcpu cpu) => ChmodAt(k, Arg0(cpu), Arg1(cpu), Int(Arg2(cpu)), 0);
    private static long Fchmodat2(LinuxKernel k, Vcpu cpu) => ChmodAt(k, Arg0(cpu), Arg1(cpu), Int(Arg2(cpu)), Int(Arg3(cpu)));

    private static long ChmodAt(LinuxKernel k, ulong dirfd, ulong pathAddress, int mode, int flags)
    {
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, dirfd, pathAddress, path, out int hostDir, allowEmpty: (flags & AT_EMPTY_PATH) != 0);
        if (n < 0) return n;
        fixed (byte* p = path)
            return flags == 0
                ? Host.Call(Host.Fchmodat, hostDir, (long)p, mode & 0xFFF)
                : Host.Call(Host.Fchmodat2, hostDir, (long)p, mode & 0xFFF, flags);
    }

    private static long Chown(LinuxKernel k, Vcpu cpu) => ChownAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), Arg1(cpu), Arg2(cpu), 0);
    private static long Lchown(LinuxKernel k, Vcpu cpu) => ChownAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), Arg1(cpu), Arg2(cpu), AT_SYMLINK_NOFOLLOW);
    private static long Fchownat(LinuxKernel k, Vcpu cpu) => ChownAt(k, Arg0(cpu), Arg1(cpu), Arg2(cpu), Arg3(cpu), Int(Arg4(cpu)));

    private static long ChownAt(LinuxKernel k, ulong dirfd, ulong pathAddress, ulong uid, ulong gid, int flags)
    {
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, dirfd, pathAddress, path, out int hostDir, allowEmpty: (flags & AT_EMPTY_PATH) != 0);
        if (n < 0) return n;
        fixed (byte* p = path) return Host.Call(Host.Fchownat, hostDir, (long)p, (uint)uid, (uint)gid, flags);
    }

    private static long Utimensat(LinuxKernel k, Vcpu cpu)
    {
        ulong dirfd = Arg0(cpu), pathAddress = Arg1(cpu), timesAddress = Arg2(cpu);
        int flags = Int(Arg3(cpu));
        Span<byte> times = stackalloc byte[32];
        if (timesAddress != 0 && !k.Memory.TryRead(timesAddress, times)) return -Errno.EFAULT;
        Span<byte> path = stackalloc byte[PathMax];
        int hostDir;
        long r;
        bool onFd = pathAddress == 0;
        if (onFd)
        {
            // utimensat(fd, NULL, ...) changes the file fd refers to (futimens).
            FileDescription? f = k.Files.Get(Int(dirfd));
            if (f is null) return -Errno.EBADF;
            if (f.HostFd < 0) return 0;
            hostDir = f.HostFd;
        }
        else
        {
            r = PathAt(k, dirfd, pathAddress, path, out hostDir, allowEmpty: (flags & AT_EMPTY_PATH) != 0);
            if (r < 0) return r;
        }
        fixed (byte* p = path)
        fixed (byte* t = times)
            return Host.Call(Host.Utimensat, hostDir, onFd ? 0 : (long)p, timesAddress == 0 ? 0 : (long)t, flags);
    }

    private static long Statfs(LinuxKernel k, Vcpu cpu)
    {
        Span<byte> path = stackalloc byte[PathMax];
        long n = PathAt(k, unchecked((ulong)AT_FDCWD), Arg0(cpu), path, out int hostDir);
        if (n < 0) return n;
        long fd;
        fixed (byte* p = path) fd = Host.Call(Host.Openat, hostDir, (long)p, OpenFlags.O_PATH | OpenFlags.O_CLOEXEC);
        if (fd < 0) return fd;
        long r = StatfsOf(k, (int)fd, Arg1(cpu));
        Host.CloseFd((int)fd);
        return r;
    }

    private static long Fstatfs(LinuxKernel k, Vcpu cpu)
    {
        FileDescription? f = k.Files.Get(Int(Arg0(cpu)));
        if (f is null) return -Errno.EBADF;
        if (f.HostFd >= 0) return StatfsOf(k, f.HostFd, Arg1(cpu));
        Span<byte> st = stackalloc byte[StatfsSize];
        st.Clear();
        BinaryPrimitives.WriteInt64LittleEndian(st, 0x01021994);           // TMPFS_MAGIC
        BinaryPrimitives.WriteInt64LittleEndian(st[8..], PhysicalPage.Size); // f_bsize
        BinaryPrimitives.WriteInt64LittleEndian(st[64..], 255);             // f_namelen
        BinaryPrimitives.WriteInt64LittleEndian(st[72..], PhysicalPage.Size); // f_frsize
        return k.Memory.TryWrite(Arg1(cpu), st) ? 0 : -Errno.EFAULT;
    }

    private static long StatfsOf(LinuxKernel k, int hostFd, ulong buffer)
    {
        Span<byte> st = stackalloc byte[StatfsSize];
        long r;
        fixed (byte* s = st) r = Host.Call(Host.Fstatfs, hostFd, (long)s);
        if (r < 0) return r;
        return k.Memory.TryWrite(buffer, st) ? 0 : -Errno.EFAULT;
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

    // ---------------------------------------------------------------- event fds

    private static long Eventfd(LinuxKernel k, Vcpu cpu) => MakeEventfd(k, (uint)Arg0(cpu), 0);
    private static long Eventfd2(LinuxKernel k, Vcpu cpu) => MakeEventfd(k, (uint)Arg0(cpu), Int(Arg1(cpu)));

    /// <summary>eventfd: a host eventfd behind a guest fd (reads, writes and polls pass through).</summary>
    private static long MakeEventfd(LinuxKernel k, uint initial, int flags)
    {
        const int EFD_SEMAPHORE = 1;
        if ((flags & ~(OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK | EFD_SEMAPHORE)) != 0) return -Errno.EINVAL;
        long fd = Host.Call(290, initial, flags | OpenFlags.O_CLOEXEC);
        return fd < 0 ? fd : Install(k, new HostFile((int)fd, ownsFd: true), (flags & OpenFlags.O_CLOEXEC) != 0);
    }

    private static long EpollCreate(LinuxKernel k, Vcpu cpu) => Int(Arg0(cpu)) <= 0 ? -Errno.EINVAL : MakeEpoll(k, 0);

    private static long EpollCreate1(LinuxKernel k, Vcpu cpu)
    {
        int flags = Int(Arg0(cpu));
        return (flags & ~OpenFlags.O_CLOEXEC) != 0 ? -Errno.EINVAL : MakeEpoll(k, flags);
    }

    /// <summary>
    /// epoll: a host epoll instance watching host fds. The 64-bit event data is the guest's own cookie and
    /// comes back unchanged, so events need no translation.
    /// </summary>
    private static long MakeEpoll(LinuxKernel k, int flags)
    {
        long fd = Host.Call(291, OpenFlags.O_CLOEXEC);
        return fd < 0 ? fd : Install(k, new HostFile((int)fd, ownsFd: true), flags != 0);
    }

    private static long EpollCtl(LinuxKernel k, Vcpu cpu)
    {
        const int EPOLL_CTL_DEL = 2;
        FileDescription? epoll = k.Files.Get(Int(Arg0(cpu))), target = k.Files.Get(Int(Arg2(cpu)));
        if (epoll is null || target is null) return -Errno.EBADF;
        int op = Int(Arg1(cpu));
        Span<byte> ev = stackalloc byte[12];
        ev.Clear();
        if (op != EPOLL_CTL_DEL && !k.Memory.TryRead(Arg3(cpu), ev)) return -Errno.EFAULT;
        if (epoll.HostFd < 0) return -Errno.EINVAL;
        if (target.HostFd < 0) return -Errno.EPERM; // like a regular file
        fixed (byte* p = ev) return Host.Call(233, epoll.HostFd, op, target.HostFd, (long)p);
    }

    private static long EpollWait(LinuxKernel k, Vcpu cpu)
    {
        int timeout = Int(Arg3(cpu));
        Span<byte> ts = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(ts, timeout / 1000);
        BinaryPrimitives.WriteInt64LittleEndian(ts[8..], timeout % 1000 * 1_000_000L);
        return EpollWaitCore(k, cpu, ts, timeout >= 0);
    }

    private static long EpollPwait2(LinuxKernel k, Vcpu cpu)
    {
        ulong address = Arg3(cpu);
        Span<byte> ts = stackalloc byte[16];
        if (address != 0)
        {
            if (!k.Memory.TryRead(address, ts)) return -Errno.EFAULT;
            if (!ValidTimespec(ts)) return -Errno.EINVAL;
        }
        return EpollWaitCore(k, cpu, ts, address != 0);
    }

    private static long EpollWaitCore(LinuxKernel k, Vcpu cpu, ReadOnlySpan<byte> timeout, bool hasTimeout)
    {
        const int EventSize = 12, MaxEvents = Chunk / EventSize;
        FileDescription? epoll = k.Files.Get(Int(Arg0(cpu)));
        if (epoll is null) return -Errno.EBADF;
        ulong events = Arg1(cpu);
        int max = Int(Arg2(cpu));
        if (max <= 0 || max > int.MaxValue / EventSize) return -Errno.EINVAL;
        if (AccessiblePrefix(k.Memory, events, (ulong)max * EventSize, PagePermissions.Write) < (ulong)max * EventSize) return -Errno.EFAULT;
        if (epoll.HostFd < 0) return -Errno.EINVAL;
        max = Math.Min(max, MaxEvents);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(max * EventSize);
        try
        {
            long n;
            fixed (byte* p = buffer)
            fixed (byte* t = timeout)
            {
                // epoll_pwait2 with a NULL sigmask: the timeout as a timespec (NULL waits forever).
                do n = Host.Call(441, epoll.HostFd, (long)p, max, hasTimeout ? (long)t : 0, 0, 8);
                while (n == -Errno.EINTR);
            }
            if (n <= 0) return n;
            return k.Memory.TryWrite(events, buffer.AsSpan(0, (int)n * EventSize)) ? n : -Errno.EFAULT;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // ---------------------------------------------------------------- waiting

    private static long Poll(LinuxKernel k, Vcpu cpu)
    {
        int timeout = Int(Arg2(cpu));
        Span<byte> ts = stackalloc byte[16];
        if (timeout >= 0)
        {
            BinaryPrimitives.WriteInt64LittleEndian(ts, timeout / 1000);
            BinaryPrimitives.WriteInt64LittleEndian(ts[8..], timeout % 1000 * 1_000_000L);
        }
        return PollCore(k, Arg0(cpu), Arg1(cpu), timeout >= 0 ? ts : default, timeout >= 0);
    }

    private static long Ppoll(LinuxKernel k, Vcpu cpu)
    {
        ulong timeoutAddress = Arg2(cpu);
        Span<byte> ts = stackalloc byte[16];
        if (timeoutAddress != 0)
        {
            if (!k.Memory.TryRead(timeoutAddress, ts)) return -Errno.EFAULT;
            if (!ValidTimespec(ts)) return -Errno.EINVAL;
        }
        return PollCore(k, Arg0(cpu), Arg1(cpu), ts, timeoutAddress != 0);
    }

    private static bool ValidTimespec(ReadOnlySpan<byte> ts)
    {
        long sec = BinaryPrimitives.ReadInt64LittleEndian(ts), nsec = BinaryPrimitives.ReadInt64LittleEndian(ts[8..]);
        return sec >= 0 && nsec is >= 0 and < 1_000_000_000;
    }

    /// <summary>
    /// poll over guest fds: each is translated to its host fd and the host waits. Closed fds report POLLNVAL and
    /// memfds are always ready, both without waiting.
    /// </summary>
    private static long PollCore(LinuxKernel k, ulong fdsAddress, ulong count, ReadOnlySpan<byte> timeout, bool hasTimeout)
    {
        if (count > FileTable.MaxFds) return -Errno.EINVAL;
        int n = (int)count;
        byte[] guest = ArrayPool<byte>.Shared.Rent(Math.Max(1, n * 8));
        byte[] host = ArrayPool<byte>.Shared.Rent(Math.Max(1, n * 8));
        try
        {
            Span<byte> g = guest.AsSpan(0, n * 8), h = host.AsSpan(0, n * 8);
            if (!k.Memory.TryRead(fdsAddress, g)) return -Errno.EFAULT;
            bool immediate = false;
            for (int i = 0; i < n; i++)
            {
                int fd = BinaryPrimitives.ReadInt32LittleEndian(g[(i * 8)..]);
                short events = BinaryPrimitives.ReadInt16LittleEndian(g[(i * 8 + 4)..]);
                int hostFd = -1;
                short ready = 0;
                if (fd >= 0)
                {
                    FileDescription? f = k.Files.Get(fd);
                    if (f is null) ready = POLLNVAL;
                    else if (f.HostFd < 0) ready = (short)(events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM));
                    else hostFd = f.HostFd;
                }
                immediate |= ready != 0;
                BinaryPrimitives.WriteInt32LittleEndian(h[(i * 8)..], hostFd);
                BinaryPrimitives.WriteInt16LittleEndian(h[(i * 8 + 4)..], events);
                BinaryPrimitives.WriteInt16LittleEndian(h[(i * 8 + 6)..], ready);
                BinaryPrimitives.WriteInt16LittleEndian(g[(i * 8 + 6)..], ready);
            }
            Span<byte> zero = stackalloc byte[16];
            zero.Clear();
            long r;
            fixed (byte* hp = h)
            fixed (byte* tp = immediate ? zero : timeout)
            {
                do r = Host.Call(Host.Ppoll, (long)hp, n, immediate || hasTimeout ? (long)tp : 0, 0, 8);
                while (r == -Errno.EINTR);
            }
            if (r < 0) return r;
            int readyCount = 0;
            for (int i = 0; i < n; i++)
            {
                short revents = BinaryPrimitives.ReadInt16LittleEndian(g[(i * 8 + 6)..]);
                if (BinaryPrimitives.ReadInt32LittleEndian(h[(i * 8)..]) >= 0)
                    revents = BinaryPrimitives.ReadInt16LittleEndian(h[(i * 8 + 6)..]);
                BinaryPrimitives.WriteInt16LittleEndian(g[(i * 8 + 6)..], revents);
                if (revents != 0) readyCount++;
            }
            return k.Memory.TryWrite(fdsAddress, g) ? readyCount : -Errno.EFAULT;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(guest);
            ArrayPool<byte>.Shared.Return(host);
        }
    }

    private static long Select(LinuxKernel k, Vcpu cpu)
    {
        ulong tv = Arg4(cpu);
        Span<byte> ts = stackalloc byte[16];
        if (tv != 0)
        {
            if (!k.Memory.TryRead(tv, ts)) return -Errno.EFAULT;
            long sec = BinaryPrimitives.ReadInt64LittleEndian(ts), usec = BinaryPrimitives.ReadInt64LittleEndian(ts[8..]);
            if (sec < 0 || usec < 0) return -Errno.EINVAL;
            sec += usec / 1_000_000;
            BinaryPrimitives.WriteInt64LittleEndian(ts, sec);
            BinaryPrimitives.WriteInt64LittleEndian(ts[8..], usec % 1_000_000 * 1000);
        }
        return SelectCore(k, Int(Arg0(cpu)), Arg1(cpu), Arg2(cpu), Arg3(cpu), ts, tv != 0);
    }

    private static long Pselect6(LinuxKernel k, Vcpu cpu)
    {
        ulong tsAddress = Arg4(cpu);
        Span<byte> ts = stackalloc byte[16];
        if (tsAddress != 0)
        {
            if (!k.Memory.TryRead(tsAddress, ts)) return -Errno.EFAULT;
            if (!ValidTimespec(ts)) return -Errno.EINVAL;
        }
        return SelectCore(k, Int(Arg0(cpu)), Arg1(cpu), Arg2(cpu), Arg3(cpu), ts, tsAddress != 0);
    }

    /// <summary>select over guest fd sets, done as a poll of the set fds.</summary>
    private static long SelectCore(LinuxKernel k, int nfds, ulong readSet, ulong writeSet, ulong exceptSet,
        ReadOnlySpan<byte> timeout, bool hasTimeout)
    {
        if (nfds < 0) return -Errno.EINVAL;
        nfds = Math.Min(nfds, FileTable.MaxFds);
        int bytes = (nfds + 63) / 64 * 8;
        Span<byte> sets = stackalloc byte[3 * 128];
        sets.Clear();
        Span<byte> r = sets[..bytes], w = sets.Slice(128, bytes), e = sets.Slice(256, bytes);
        if (readSet != 0 && !k.Memory.TryRead(readSet, r)) return -Errno.EFAULT;
        if (writeSet != 0 && !k.Memory.TryRead(writeSet, w)) return -Errno.EFAULT;
        if (exceptSet != 0 && !k.Memory.TryRead(exceptSet, e)) return -Errno.EFAULT;
        int count = 0;
        Span<int> fds = stackalloc int[nfds];
        Span<byte> pollfds = nfds * 8 <= 8192 ? stackalloc byte[nfds * 8] : new byte[nfds * 8];
        for (int fd = 0; fd < nfds; fd++)
        {
            short events = 0;
            if (Bit(r, fd)) events |= POLLIN;
            if (Bit(w, fd)) events |= POLLOUT;
            if (Bit(e, fd)) events |= POLLPRI;
            if (events == 0) continue;
            FileDescription? f = k.Files.Get(fd);
            if (f is null) return -Errno.EBADF;
            fds[count] = fd;
            BinaryPrimitives.WriteInt32LittleEndian(pollfds[(count * 8)..], f.HostFd);
            BinaryPrimitives.WriteInt16LittleEndian(pollfds[(count * 8 + 4)..], events);
            BinaryPrimitives.WriteInt16LittleEndian(pollfds[(count * 8 + 6)..],
                f.HostFd < 0 ? (short)(events & (POLLIN | POLLOUT)) : (short)0);
            count++;
        }
        bool immediate = false;
        for (int i = 0; i < count; i++) immediate |= BinaryPrimitives.ReadInt32LittleEndian(pollfds[(i * 8)..]) < 0;
        Span<byte> zero = stackalloc byte[16];
        zero.Clear();
        long result;
        fixed (byte* p = pollfds)
        fixed (byte* t = immediate ? zero : timeout)
        {
            do result = Host.Call(Host.Ppoll, (long)p, count, immediate || hasTimeout ? (long)t : 0, 0, 8);
            while (result == -Errno.EINTR);
        }
        if (result < 0) return result;
        sets.Clear();
        int readyBits = 0;
        for (int i = 0; i < count; i++)
        {
            short events = BinaryPrimitives.ReadInt16LittleEndian(pollfds[(i * 8 + 4)..]);
            short revents = BinaryPrimitives.ReadInt16LittleEndian(pollfds[(i * 8 + 6)..]);
            int fd = fds[i];
            if ((events & POLLIN) != 0 && (revents & (POLLIN | POLLHUP | POLLERR)) != 0) { SetBit(r, fd); readyBits++; }
            if ((events & POLLOUT) != 0 && (revents & (POLLOUT | POLLERR)) != 0) { SetBit(w, fd); readyBits++; }
            if ((events & POLLPRI) != 0 && (revents & POLLPRI) != 0) { SetBit(e, fd); readyBits++; }
        }
        if (readSet != 0 && !k.Memory.TryWrite(readSet, r)) return -Errno.EFAULT;
        if (writeSet != 0 && !k.Memory.TryWrite(writeSet, w)) return -Errno.EFAULT;
        if (exceptSet != 0 && !k.Memory.TryWrite(exceptSet, e)) return -Errno.EFAULT;
        return readyBits;
    }

    private static bool Bit(ReadOnlySpan<byte> set, int fd) => (set[fd >> 3] & (1 << (fd & 7))) != 0;
    private static void SetBit(Span<byte> set, int fd) => set[fd >> 3] |= (byte)(1 << (fd & 7));
}
