using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Linux.Signals;
using Hv.Linux.Syscalls;
using Microsoft.Extensions.Logging;

namespace Hv.Linux;

/// <summary>
/// The Linux personality of one guest process: syscalls, signals, file descriptors, the program break.
/// It plugs into the engine through <see cref="IGuestKernel"/>.
/// </summary>
public sealed unsafe partial class LinuxKernel : IGuestKernel
{
    private readonly HashSet<long> reportedUnimplemented = [];

    /// <summary>Creates the personality for <paramref name="machine"/> and attaches itself.</summary>
    /// <param name="machine">The machine.</param>
    /// <param name="stdio">Host descriptors behind guest fds 0, 1 and 2 (default: the host's own 0, 1, 2).</param>
    public LinuxKernel(Machine machine, GuestStdio? stdio = null)
    {
        Machine = machine;
        Stdio = stdio ?? GuestStdio.Host;
        Logger = machine.Options.LoggerFactory.CreateLogger("Hv.Linux");
        InitializeProcess();
        machine.AttachKernel(this);
    }

    /// <summary>The machine.</summary>
    public Machine Machine { get; }

    /// <summary>The guest address space.</summary>
    public AddressSpace Memory => Machine.AddressSpace;

    /// <summary>The host descriptors the guest's fds 0, 1 and 2 start out bound to.</summary>
    public GuestStdio Stdio { get; }

    /// <summary>The Linux layer's logger.</summary>
    public ILogger Logger { get; }

    /// <inheritdoc />
    public void Syscall(Vcpu cpu)
    {
        CpuState s = cpu.State;
        long number = (long)s[Gpr.Rax];
        long result;
        if (SyscallTable.TryGet(number, out var handler))
        {
            result = handler(this, cpu);
        }
        else
        {
            if (reportedUnimplemented.Add(number)) LinuxLog.UnimplementedSyscall(Logger, SyscallTable.NameOf(number), number);
            result = -Errno.ENOSYS;
        }
        if (cpu.StopReason is not null) return;
        // A syscall that blocked, yielded or exited the thread left another thread's registers in the vCPU.
        if (!TakeSwitchedInSyscall()) s[Gpr.Rax] = (ulong)result;
        // Signals are delivered on the way back to user mode, after the result is in RAX (it is saved in the frame).
        if ((PendingSignals & ~BlockedSignals) != 0) DeliverPending(cpu);
    }

    /// <inheritdoc />
    public void Fault(Vcpu cpu, in GuestFault fault) => RaiseFault(cpu, fault);

    /// <summary>The signal a fault raises, as the kernel maps x86 exceptions.</summary>
    public static int SignalOf(in GuestFault fault) => fault.Kind switch
    {
        FaultKind.InvalidOpcode => Signal.SIGILL,
        FaultKind.DivideError or FaultKind.FloatingPoint => Signal.SIGFPE,
        FaultKind.Breakpoint or FaultKind.DebugTrap => Signal.SIGTRAP,
        FaultKind.BusError => Signal.SIGBUS,
        _ => Signal.SIGSEGV,
    };

    /// <summary>"SIGSEGV" for 11, and so on.</summary>
    public static string SignalName(int signal) => Signal.Name(signal);
}

/// <summary>Source-generated log messages of the Linux personality.</summary>
internal static partial class LinuxLog
{
    [LoggerMessage(EventId = 3000, EventName = "UnimplementedSyscall", Level = LogLevel.Warning,
        Message = "Unimplemented syscall {Name} ({Number}) returns -ENOSYS")]
    public static partial void UnimplementedSyscall(ILogger logger, string name, long number);

    [LoggerMessage(EventId = 3002, EventName = "Signal", Level = LogLevel.Debug,
        Message = "Delivered {Signal} to handler 0x{Handler:x}, frame at 0x{Frame:x}")]
    public static partial void SignalDelivered(ILogger logger, string signal, ulong handler, ulong frame);

    [LoggerMessage(EventId = 3004, EventName = "SignalKilled", Level = LogLevel.Debug,
        Message = "Guest killed by {Signal} at rip 0x{Rip:x}")]
    public static partial void SignalKilled(ILogger logger, string signal, ulong rip);

    [LoggerMessage(EventId = 3005, EventName = "SignalFrameFailed", Level = LogLevel.Warning,
        Message = "Cannot write the {Signal} frame below 0x{Top:x}; the guest gets SIGSEGV")]
    public static partial void SignalFrameFailed(ILogger logger, string signal, ulong top);

    [LoggerMessage(EventId = 3003, EventName = "ImageLoaded", Level = LogLevel.Debug,
        Message = "Loaded {Path}: entry 0x{Entry:x}, load bias 0x{Bias:x}, brk 0x{Brk:x}, rsp 0x{Rsp:x}")]
    public static partial void ImageLoaded(ILogger logger, string path, ulong entry, ulong bias, ulong brk, ulong rsp);

    [LoggerMessage(EventId = 3006, EventName = "GuestExited", Level = LogLevel.Debug,
        Message = "Guest exited with status {Status}")]
    public static partial void GuestExited(ILogger logger, int status);

    [LoggerMessage(EventId = 3007, EventName = "FutexDeadlock", Level = LogLevel.Warning,
        Message = "futex wait at 0x{Address:x} would block forever (single thread); returning -EDEADLK")]
    public static partial void FutexDeadlock(ILogger logger, ulong address);
}
