using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Linux.Files;
using static Hv.Linux.Files.GuestBuffers;

namespace Hv.Linux.Syscalls;

/// <summary>Path-based file syscalls: resolution against the guest cwd, open, stat, links, directory entries, attributes.</summary>
internal static unsafe partial class FileSyscalls
{
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
        int guestFd = GuestFdOfPath(p);
        if (guestFd < 0) return length;
        FileDescription? f = k.Files.Get(guestFd);
        if (f is null) return -Errno.ENOENT;
        // A memfd has no host file to name (and the host's fd of that number is someone else's): only open
        // handles it, by sharing the description.
        if (f.HostFd < 0) return -Errno.ENOENT;
        return SetPath(path, $"/proc/self/fd/{f.HostFd}");
    }

    /// <summary>The guest fd a path names through /proc/self/fd/N, /dev/fd/N or /dev/std*, or -1.</summary>
    private static int GuestFdOfPath(ReadOnlySpan<byte> p)
    {
        if (p.SequenceEqual("/dev/stdin"u8)) return 0;
        if (p.SequenceEqual("/dev/stdout"u8)) return 1;
        if (p.SequenceEqual("/dev/stderr"u8)) return 2;
        if (p.StartsWith("/proc/self/fd/"u8)) return ParseFd(p["/proc/self/fd/".Length..]);
        if (p.StartsWith("/dev/fd/"u8)) return ParseFd(p["/dev/fd/".Length..]);
        return -1;
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
        int raw = ReadString(k.Memory, pathAddress, path);
        if (raw > 0 && k.Files.Get(GuestFdOfPath(path[..raw])) is MemoryFile memfd)
        {
            // Reopening a memfd through /proc/self/fd: the same file (here: the same description).
            memfd.AddReference();
            return Install(k, memfd, (flags & OpenFlags.O_CLOEXEC) != 0);
        }
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

    private static long RenameAt(LinuxKernel k, ulong oldDirfd, ulong oldPath, ulong newDirfd, ulong newPath, int flags) =>
        TwoPathCall(k, Host.Renameat2, oldDirfd, oldPath, newDirfd, newPath, flags, allowEmptyOld: false);

    /// <summary>
    /// Resolves two guest paths, each against its own dirfd, and makes the two-path *at host syscall
    /// <paramref name="hostCall"/> (renameat2, linkat) with them and <paramref name="flags"/>.
    /// </summary>
    private static long TwoPathCall(LinuxKernel k, long hostCall, ulong oldDirfd, ulong oldPath, ulong newDirfd, ulong newPath,
        int flags, bool allowEmptyOld)
    {
        Span<byte> from = stackalloc byte[PathMax];
        Span<byte> to = stackalloc byte[PathMax];
        long n = PathAt(k, oldDirfd, oldPath, from, out int fromDir, allowEmpty: allowEmptyOld);
        if (n < 0) return n;
        n = PathAt(k, newDirfd, newPath, to, out int toDir);
        if (n < 0) return n;
        fixed (byte* f = from)
        fixed (byte* t = to)
            return Host.Call(hostCall, fromDir, (long)f, toDir, (long)t, flags);
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
        return TwoPathCall(k, Host.Linkat, oldDirfd, oldPath, newDirfd, newPath, flags, allowEmptyOld: (flags & AT_EMPTY_PATH) != 0);
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

    private static long Sync(LinuxKernel k, Vcpu cpu) => Host.Call(162);

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
}
