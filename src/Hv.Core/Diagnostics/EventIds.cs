using Microsoft.Extensions.Logging;

namespace Hv.Core.Diagnostics;

/// <summary>Every log event id Hv uses, in one place (1xxx engine, 2xxx memory/SMC, 3xxx OS personality, 4xxx tools).</summary>
public static class HvEventIds
{
    /// <summary>A machine started running.</summary>
    public static readonly EventId MachineStarted = new(1000, nameof(MachineStarted));
    /// <summary>A vCPU stopped.</summary>
    public static readonly EventId VcpuStopped = new(1001, nameof(VcpuStopped));
    /// <summary>A block was decoded.</summary>
    public static readonly EventId BlockDecoded = new(1002, nameof(BlockDecoded));
    /// <summary>One guest instruction (trace only).</summary>
    public static readonly EventId InstructionTrace = new(1003, nameof(InstructionTrace));
    /// <summary>A guest fault reached the kernel.</summary>
    public static readonly EventId GuestFault = new(1004, nameof(GuestFault));
    /// <summary>A region was translated.</summary>
    public static readonly EventId RegionTranslated = new(1005, nameof(RegionTranslated));
    /// <summary>Decoded code was invalidated by a write.</summary>
    public static readonly EventId CodeInvalidated = new(2000, nameof(CodeInvalidated));
    /// <summary>A write changed decoded or translated code (one SMC event).</summary>
    public static readonly EventId SmcEvent = new(2001, nameof(SmcEvent));
    /// <summary>Code rewritten again and again was demoted to the interpreter.</summary>
    public static readonly EventId SmcDemoted = new(2002, nameof(SmcDemoted));
    /// <summary>Demoted code calmed down and was translated again.</summary>
    public static readonly EventId SmcRepromoted = new(2003, nameof(SmcRepromoted));
    /// <summary>A patched immediate is loaded from guest memory by translated code from now on.</summary>
    public static readonly EventId SmcImmediateLoaded = new(2004, nameof(SmcImmediateLoaded));
    /// <summary>A syscall Hv does not implement (logged once per number).</summary>
    public static readonly EventId UnimplementedSyscall = new(3000, nameof(UnimplementedSyscall));
    /// <summary>A syscall (trace only).</summary>
    public static readonly EventId SyscallTrace = new(3001, nameof(SyscallTrace));
    /// <summary>A signal was delivered or killed the guest.</summary>
    public static readonly EventId Signal = new(3002, nameof(Signal));
    /// <summary>An image was loaded.</summary>
    public static readonly EventId ImageLoaded = new(3003, nameof(ImageLoaded));
    /// <summary>A signal killed the guest.</summary>
    public static readonly EventId SignalKilled = new(3004, nameof(SignalKilled));
    /// <summary>A signal frame could not be written (the guest gets SIGSEGV).</summary>
    public static readonly EventId SignalFrameFailed = new(3005, nameof(SignalFrameFailed));
    /// <summary>The guest called exit or exit_group.</summary>
    public static readonly EventId GuestExited = new(3006, nameof(GuestExited));
    /// <summary>A single-threaded futex wait would block forever.</summary>
    public static readonly EventId FutexDeadlock = new(3007, nameof(FutexDeadlock));
}
