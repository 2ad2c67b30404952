using System.Runtime.InteropServices;

namespace Hv.Linux.Files;

/// <summary>
/// The host kernel, reached through libc's generic <c>syscall()</c>. The host is x86-64 Linux, so syscall
/// numbers, flags, errno values and struct layouts are exactly the guest's: passthrough means copying bytes.
/// Every call returns the result or a negated errno, like the guest ABI.
/// </summary>
internal static unsafe partial class Host
{
#pragma warning disable CS1591 // x86-64 syscall numbers, named as in the kernel.
    public const long Read = 0, Write = 1, Close = 3, Fstat = 5, Lseek = 8, Ioctl = 16, Pread64 = 17, Pwrite64 = 18,
        Dup = 32, Fcntl = 72, Fsync = 74, Fdatasync = 75, Ftruncate = 77, Getdents = 78, Fchmod = 91, Fchown = 93,
        Times = 100, Fstatfs = 138, ClockGettime = 228, ClockGetres = 229, ClockNanosleep = 230, Openat = 257,
        Mkdirat = 258, Mknodat = 259, Fchownat = 260, Newfstatat = 262, Unlinkat = 263, Linkat = 265,
        Symlinkat = 266, Readlinkat = 267, Fchmodat = 268, Faccessat = 269, Ppoll = 271, Utimensat = 280,
        Pipe2 = 293, Renameat2 = 316, Statx = 332, Faccessat2 = 439, Getdents64 = 217, Fchmodat2 = 452;
#pragma warning restore CS1591

    /// <summary>The host's AT_FDCWD; only ever passed with absolute paths (the guest cwd is a directory fd).</summary>
    public const int AtFdCwd = -100;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long RawSyscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    /// <summary>Performs host syscall <paramref name="number"/>; returns the result or -errno.</summary>
    public static long Call(long number, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0, long a6 = 0)
    {
        long r = RawSyscall(number, a1, a2, a3, a4, a5, a6);
        return r == -1 ? -Marshal.GetLastPInvokeError() : r;
    }

    /// <summary>Closes a host fd (errors are ignored, as after close the fd is gone anyway).</summary>
    public static void CloseFd(int fd) => Call(Close, fd);
}
