namespace Hv.Linux.Files;

/// <summary>
/// A process's guest file descriptor table. Guest fd numbers are allocated like the kernel (lowest free),
/// independently of host fd numbers; each slot has its own close-on-exec flag and refers to a shared
/// <see cref="FileDescription"/>.
/// </summary>
public sealed class FileTable : IDisposable
{
    /// <summary>RLIMIT_NOFILE: guest fds are below this.</summary>
    public const int MaxFds = 1024;

    private FileDescription?[] files = new FileDescription?[64];
    private bool[] closeOnExec = new bool[64];

    /// <summary>
    /// Creates a table whose guest fds 0, 1 and 2 are the host fds <paramref name="stdinHostFd"/>,
    /// <paramref name="stdoutHostFd"/> and <paramref name="stderrHostFd"/>. The table does not own them:
    /// closing guest fd 1 never closes the host's stdout. A negative host fd leaves the guest fd closed.
    /// </summary>
    public static FileTable CreateStandard(int stdinHostFd = 0, int stdoutHostFd = 1, int stderrHostFd = 2)
    {
        var table = new FileTable();
        if (stdinHostFd >= 0) table.Install(0, new HostFile(stdinHostFd, ownsFd: false), false);
        if (stdoutHostFd >= 0) table.Install(1, new HostFile(stdoutHostFd, ownsFd: false), false);
        if (stderrHostFd >= 0) table.Install(2, new HostFile(stderrHostFd, ownsFd: false), false);
        return table;
    }

    /// <summary>The description behind guest fd <paramref name="fd"/>, or null if it is not open.</summary>
    public FileDescription? Get(long fd) => (ulong)fd < (ulong)files.Length ? files[fd] : null;

    /// <summary>
    /// Installs <paramref name="file"/> (whose reference the caller hands over) at the lowest free fd at or above
    /// <paramref name="minimum"/>. Returns the fd, or -EMFILE (the caller still owns the reference then).
    /// </summary>
    public int Add(FileDescription file, bool cloexec, int minimum = 0)
    {
        for (int fd = minimum; fd < MaxFds; fd++)
        {
            if (fd < files.Length && files[fd] is not null) continue;
            Install(fd, file, cloexec);
            return fd;
        }
        return -Errno.EMFILE;
    }

    /// <summary>close(2).</summary>
    public int Close(long fd)
    {
        FileDescription? file = Get(fd);
        if (file is null) return -Errno.EBADF;
        files[fd] = null;
        closeOnExec[fd] = false;
        file.Release();
        return 0;
    }

    /// <summary>dup(2) and F_DUPFD: a new fd at or above <paramref name="minimum"/> sharing the description.</summary>
    public int Duplicate(long fd, int minimum, bool cloexec)
    {
        FileDescription? file = Get(fd);
        if (file is null) return -Errno.EBADF;
        int result = Add(file, cloexec, minimum);
        if (result >= 0) file.AddReference();
        return result;
    }

    /// <summary>dup2/dup3: makes <paramref name="newFd"/> refer to <paramref name="oldFd"/>'s description.</summary>
    public int DuplicateTo(long oldFd, long newFd, bool cloexec)
    {
        FileDescription? file = Get(oldFd);
        if (file is null) return -Errno.EBADF;
        if ((ulong)newFd >= MaxFds) return -Errno.EBADF;
        if (oldFd == newFd) return (int)newFd;
        file.AddReference();
        Get(newFd)?.Release();
        Install((int)newFd, file, cloexec);
        return (int)newFd;
    }

    /// <summary>The FD_CLOEXEC flag of an open fd.</summary>
    public bool GetCloseOnExec(long fd) => Get(fd) is not null && closeOnExec[fd];

    /// <summary>Sets the FD_CLOEXEC flag of an open fd; false if it is not open.</summary>
    public bool SetCloseOnExec(long fd, bool value)
    {
        if (Get(fd) is null) return false;
        closeOnExec[fd] = value;
        return true;
    }

    /// <summary>Closes every fd marked close-on-exec (for execve).</summary>
    public void CloseOnExec()
    {
        for (int fd = 0; fd < files.Length; fd++)
            if (files[fd] is not null && closeOnExec[fd]) Close(fd);
    }

    /// <summary>Closes the guest fds in [first, last] (close_range without flags), or marks them close-on-exec.</summary>
    public void CloseRange(long first, long last, bool markCloseOnExec)
    {
        long end = Math.Min(last, files.Length - 1L);
        for (long fd = Math.Max(first, 0); fd <= end; fd++)
        {
            if (files[fd] is null) continue;
            if (markCloseOnExec) closeOnExec[fd] = true;
            else Close(fd);
        }
    }

    /// <summary>Closes every fd (process exit).</summary>
    public void Dispose()
    {
        for (int fd = 0; fd < files.Length; fd++)
            if (files[fd] is not null) Close(fd);
    }

    private void Install(int fd, FileDescription file, bool cloexec)
    {
        if (fd >= files.Length)
        {
            int size = Math.Min(MaxFds, Math.Max(files.Length * 2, fd + 1));
            Array.Resize(ref files, size);
            Array.Resize(ref closeOnExec, size);
        }
        files[fd] = file;
        closeOnExec[fd] = cloexec;
    }
}
