using Hv.Linux.Loading;

namespace Hv.Linux;

/// <summary>Process identity and per-process state the syscalls share.</summary>
public sealed partial class LinuxKernel
{
    /// <summary>Number of resource limits (RLIMIT_*).</summary>
    public const int ResourceLimitCount = 16;
    /// <summary>RLIM_INFINITY.</summary>
    public const ulong Unlimited = ulong.MaxValue;

    /// <summary>Start of the program break (page-aligned end of the image); set by the loader.</summary>
    public ulong BrkStart;

    /// <summary>The current program break; starts at <see cref="BrkStart"/>, moved by brk.</summary>
    public ulong BrkCurrent;

    /// <summary>Top of the mmap area; mmap searches downwards from here.</summary>
    public ulong MmapBase = ImageLoader.MmapBase;

    /// <summary>The lowest stack address and the top of the stack, set by the loader.</summary>
    public ulong StackBottom, StackTop;

    /// <summary>Soft and hard limits, indexed by RLIMIT_* number.</summary>
    public readonly ResourceLimit[] Limits = new ResourceLimit[ResourceLimitCount];

    /// <summary>The process id (the host's, qemu-user style); also the thread and group id.</summary>
    public int Pid { get; private set; }

    /// <summary>The parent's process id (the host's parent).</summary>
    public int ParentPid { get; private set; }

    /// <summary>Real/effective user and group ids (the host's).</summary>
    public HostIds Ids { get; private set; }

    /// <summary>set_tid_address: cleared (and futex-woken) when the thread exits.</summary>
    public ulong ClearChildTid { get; set; }

    /// <summary>set_robust_list head and length.</summary>
    public ulong RobustListHead { get; set; }

    /// <summary>Length given to set_robust_list.</summary>
    public ulong RobustListLength { get; set; }

    /// <summary>The registered rseq area, or 0.</summary>
    public ulong RseqArea { get; set; }

    /// <summary>Length of the registered rseq area.</summary>
    public uint RseqLength { get; set; }

    /// <summary>Signature given at rseq registration.</summary>
    public uint RseqSignature { get; set; }

    /// <summary>The thread name (comm) set with PR_SET_NAME, at most 15 bytes.</summary>
    public byte[] ThreadName { get; set; } = [];

    private void InitializeProcess()
    {
        Pid = Environment.ProcessId;
        ParentPid = HostProcess.ParentPid;
        Ids = HostProcess.Ids;
        for (int i = 0; i < Limits.Length; i++) Limits[i] = new ResourceLimit(Unlimited, Unlimited);
        Limits[3] = new ResourceLimit(ImageLoader.StackSize, Unlimited);  // RLIMIT_STACK
        Limits[4] = new ResourceLimit(0, Unlimited);                      // RLIMIT_CORE
        Limits[6] = new ResourceLimit(63_000, 63_000);                    // RLIMIT_NPROC
        Limits[7] = new ResourceLimit(1024, 1024 * 1024);                 // RLIMIT_NOFILE
        Limits[8] = new ResourceLimit(8UL << 20, 8UL << 20);              // RLIMIT_MEMLOCK
        Limits[11] = new ResourceLimit(63_000, 63_000);                   // RLIMIT_SIGPENDING
        Limits[12] = new ResourceLimit(819_200, 819_200);                 // RLIMIT_MSGQUEUE
        Limits[13] = new ResourceLimit(0, 0);                             // RLIMIT_NICE
        Limits[14] = new ResourceLimit(0, 0);                             // RLIMIT_RTPRIO
    }
}

/// <summary>One resource limit (struct rlimit).</summary>
/// <param name="Soft">rlim_cur.</param>
/// <param name="Hard">rlim_max.</param>
public readonly record struct ResourceLimit(ulong Soft, ulong Hard);

/// <summary>The host file descriptors behind the guest's standard input, output and error.</summary>
/// <param name="Input">Host fd for guest fd 0.</param>
/// <param name="Output">Host fd for guest fd 1.</param>
/// <param name="Error">Host fd for guest fd 2.</param>
public readonly record struct GuestStdio(int Input, int Output, int Error)
{
    /// <summary>The host's own 0, 1 and 2.</summary>
    public static GuestStdio Host => new(0, 1, 2);
}
