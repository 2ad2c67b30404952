using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
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
    public LinuxKernel(Machine machine)
    {
        Machine = machine;
        Logger = machine.Options.LoggerFactory.CreateLogger("Hv.Linux");
        machine.AttachKernel(this);
    }

    /// <summary>The machine.</summary>
    public Machine Machine { get; }

    /// <summary>The guest address space.</summary>
    public AddressSpace Memory => Machine.AddressSpace;

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
        if (cpu.StopReason is null) s[Gpr.Rax] = (ulong)result;
    }

    /// <inheritdoc />
    public void Fault(Vcpu cpu, in GuestFault fault)
    {
        int signal = SignalOf(fault);
        cpu.Stop(new StopReason(StopKind.Killed, signal, fault, $"{SignalName(signal)}: {cpu.Describe(fault)}"));
    }

    /// <summary>The signal a fault raises, as the kernel maps x86 exceptions.</summary>
    public static int SignalOf(in GuestFault fault) => fault.Kind switch
    {
        FaultKind.InvalidOpcode => 4,      // SIGILL
        FaultKind.DivideError or FaultKind.FloatingPoint => 8, // SIGFPE
        FaultKind.Breakpoint or FaultKind.DebugTrap => 5,      // SIGTRAP
        _ => 11,                           // SIGSEGV
    };

    /// <summary>"SIGSEGV" for 11, and so on.</summary>
    public static string SignalName(int signal) => signal switch
    {
        1 => "SIGHUP", 2 => "SIGINT", 3 => "SIGQUIT", 4 => "SIGILL", 5 => "SIGTRAP", 6 => "SIGABRT", 7 => "SIGBUS",
        8 => "SIGFPE", 9 => "SIGKILL", 10 => "SIGUSR1", 11 => "SIGSEGV", 12 => "SIGUSR2", 13 => "SIGPIPE",
        14 => "SIGALRM", 15 => "SIGTERM", 17 => "SIGCHLD", _ => $"signal {signal}",
    };
}

/// <summary>Source-generated log messages of the Linux personality.</summary>
internal static partial class LinuxLog
{
    [LoggerMessage(EventId = 3000, EventName = "UnimplementedSyscall", Level = LogLevel.Warning,
        Message = "Unimplemented syscall {Name} ({Number}) returns -ENOSYS")]
    public static partial void UnimplementedSyscall(ILogger logger, string name, long number);
}
