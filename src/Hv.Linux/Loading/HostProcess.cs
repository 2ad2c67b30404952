using System.Runtime.InteropServices;

namespace Hv.Linux.Loading;

/// <summary>Identity of the host process, which the guest inherits (qemu-user style).</summary>
public static partial class HostProcess
{
    /// <summary>The host's user and group ids.</summary>
    public static HostIds Ids => new(getuid(), geteuid(), getgid(), getegid());

    /// <summary>The host's parent process id.</summary>
    public static int ParentPid => getppid();

    [LibraryImport("libc")] private static partial uint getuid();
    [LibraryImport("libc")] private static partial uint geteuid();
    [LibraryImport("libc")] private static partial uint getgid();
    [LibraryImport("libc")] private static partial uint getegid();
    [LibraryImport("libc")] private static partial int getppid();
}
