using Hv.Core.Memory;

namespace Hv.Core.Execution;

/// <summary>Why a vCPU stopped running.</summary>
public enum StopKind
{
    /// <summary>The guest exited normally (exit/exit_group).</summary>
    Exited,
    /// <summary>The guest was killed by a signal.</summary>
    Killed,
    /// <summary>A bare machine (no kernel) executed HLT.</summary>
    Halted,
    /// <summary>A bare machine (no kernel) faulted.</summary>
    Faulted,
    /// <summary>A bare machine (no kernel) executed SYSCALL.</summary>
    Syscall,
    /// <summary>The instruction budget given to <see cref="Vcpu.Run"/> ran out.</summary>
    InstructionLimit,
    /// <summary>A debugger or the host asked the vCPU to stop.</summary>
    Interrupted,
}

/// <summary>The outcome of running a vCPU.</summary>
/// <param name="Kind">Why it stopped.</param>
/// <param name="Status">The exit status for <see cref="StopKind.Exited"/>, the signal number for <see cref="StopKind.Killed"/>.</param>
/// <param name="Fault">The fault for <see cref="StopKind.Faulted"/> (and the fault that killed the guest, if any).</param>
/// <param name="Message">A one-line diagnostic for the user, or null.</param>
public readonly record struct StopReason(StopKind Kind, int Status = 0, GuestFault? Fault = null, string? Message = null)
{
    /// <summary>The process exit status the way a shell reports it (128+N for signal N).</summary>
    public int ShellStatus => Kind switch
    {
        StopKind.Exited => Status & 0xFF,
        StopKind.Killed => 128 + Status,
        _ => 0,
    };
}
