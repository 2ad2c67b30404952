using System.Text;
using Hv.Linux.Files;

namespace Hv.Linux;

/// <summary>The process's file state: the fd table, the guest working directory and the umask.</summary>
public sealed unsafe partial class LinuxKernel
{
    private FileTable? files;
    private HostFile? cwd; // owns the host directory fd (its finalizer closes it if the guest is abandoned)
    private byte[] cwdPath = [];
    private ulong nextInode = 1;

    /// <summary>
    /// The guest's fd table. Unless <see cref="InitializeFiles"/> ran first, it is created on first use with
    /// guest fds 0/1/2 bound to the host fds in <see cref="Stdio"/>.
    /// </summary>
    public FileTable Files => files ??= FileTable.CreateStandard(Stdio.Input, Stdio.Output, Stdio.Error);

    /// <summary>The guest's umask (kept here: the host's is process-wide).</summary>
    public int Umask { get; set; } = 0x12; // 022

    /// <summary>
    /// Sets up the fd table with guest fds 0/1/2 bound to the given host fds (not owned: the guest closing them
    /// leaves the host's open) and the guest working directory (default: the host process's).
    /// </summary>
    public void InitializeFiles(int stdinHostFd = 0, int stdoutHostFd = 1, int stderrHostFd = 2, string? workingDirectory = null)
    {
        files?.Dispose();
        files = FileTable.CreateStandard(stdinHostFd, stdoutHostFd, stderrHostFd);
        if (workingDirectory is not null)
        {
            long r = SetWorkingDirectory(workingDirectory);
            if (r < 0) throw new DirectoryNotFoundException($"guest working directory '{workingDirectory}': errno {-r}");
        }
    }

    /// <summary>The guest working directory's absolute host path.</summary>
    public string WorkingDirectory
    {
        get
        {
            EnsureWorkingDirectory();
            return Encoding.UTF8.GetString(cwdPath);
        }
    }

    /// <summary>A host fd of the guest working directory: relative guest paths resolve against it (never the host cwd).</summary>
    internal int WorkingDirectoryFd
    {
        get
        {
            EnsureWorkingDirectory();
            return cwd!.HostFd;
        }
    }

    /// <summary>The working directory path as bytes (for getcwd).</summary>
    internal ReadOnlySpan<byte> WorkingDirectoryBytes
    {
        get
        {
            EnsureWorkingDirectory();
            return cwdPath;
        }
    }

    /// <summary>Changes the guest working directory to <paramref name="path"/> (absolute or relative to the current one).</summary>
    public long SetWorkingDirectory(string path)
    {
        int max = Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        Span<byte> bytes = max <= GuestBuffers.PathMax ? stackalloc byte[max] : new byte[max];
        int n = Encoding.UTF8.GetBytes(path, bytes);
        bytes[n] = 0;
        fixed (byte* p = bytes)
        {
            int dir = path.StartsWith('/') ? Host.AtFdCwd : WorkingDirectoryFd;
            long fd = Host.Call(Host.Openat, dir, (long)p, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC);
            return fd < 0 ? fd : AdoptWorkingDirectory((int)fd);
        }
    }

    /// <summary>Closes every guest fd and the working directory (process exit).</summary>
    public void CloseFiles()
    {
        files?.Dispose();
        cwd?.Release();
        cwd = null;
        CloseSharedFileMappings();
    }

    /// <summary>A fresh inode number for memfds.</summary>
    internal ulong NextInode() => nextInode++;

    /// <summary>
    /// Makes the host directory fd <paramref name="fd"/> (owned from now on) the working directory after checking
    /// search permission, as chdir does. Returns 0 or -errno (and closes <paramref name="fd"/>).
    /// </summary>
    internal long AdoptWorkingDirectory(int fd)
    {
        byte* path = stackalloc byte[2];
        path[0] = (byte)'.';
        path[1] = 0;
        long r = Host.Call(Host.Faccessat, fd, (long)path, 1 /* X_OK */);
        if (r < 0)
        {
            Host.CloseFd(fd);
            return r;
        }
        byte[]? resolved = ReadProcFdLink(fd);
        if (resolved is null)
        {
            Host.CloseFd(fd);
            return -Errno.ENOENT;
        }
        cwd?.Release();
        cwd = new HostFile(fd, ownsFd: true);
        cwdPath = resolved;
        return 0;
    }

    /// <summary>
    /// Resolves a guest dirfd for a *at syscall: absolute paths ignore it, AT_FDCWD is the guest working
    /// directory, anything else must be an open guest fd backed by a host fd.
    /// </summary>
    internal long ResolveDirFd(ulong guestDirFd, ReadOnlySpan<byte> path, out int hostDirFd)
    {
        hostDirFd = Host.AtFdCwd;
        if (!path.IsEmpty && path[0] == (byte)'/') return 0;
        int dirfd = GuestBuffers.Int(guestDirFd);
        if (dirfd == Host.AtFdCwd)
        {
            hostDirFd = WorkingDirectoryFd;
            return 0;
        }
        FileDescription? file = Files.Get(dirfd);
        if (file is null) return -Errno.EBADF;
        if (file.HostFd < 0) return -Errno.ENOTDIR;
        hostDirFd = file.HostFd;
        return 0;
    }

    private void EnsureWorkingDirectory()
    {
        if (cwd is not null) return;
        long r = SetWorkingDirectory(Environment.CurrentDirectory);
        if (r < 0) throw new DirectoryNotFoundException($"cannot open the host working directory: errno {-r}");
    }

    /// <summary>The absolute path of host fd <paramref name="fd"/> (via /proc/self/fd), or null.</summary>
    internal static byte[]? ReadProcFdLink(int fd)
    {
        Span<byte> link = stackalloc byte[32];
        int n = Encoding.ASCII.GetBytes($"/proc/self/fd/{fd}", link);
        link[n] = 0;
        byte* target = stackalloc byte[GuestBuffers.PathMax];
        fixed (byte* l = link)
        {
            long len = Host.Call(Host.Readlinkat, Host.AtFdCwd, (long)l, (long)target, GuestBuffers.PathMax);
            return len <= 0 ? null : new ReadOnlySpan<byte>(target, (int)len).ToArray();
        }
    }
}
