namespace Hv.Core.Memory;

/// <summary>The architectural exception a guest instruction raised.</summary>
public enum FaultKind : byte
{
    /// <summary>#PF: the address is not mapped.</summary>
    PageNotMapped,
    /// <summary>#PF: the page is mapped but forbids this access.</summary>
    PageProtection,
    /// <summary>#GP: e.g. a non-canonical address or a misaligned SSE operand.</summary>
    GeneralProtection,
    /// <summary>#UD: undefined or unimplemented instruction.</summary>
    InvalidOpcode,
    /// <summary>#DE: divide error.</summary>
    DivideError,
    /// <summary>#BP: INT3.</summary>
    Breakpoint,
    /// <summary>#DB: single step trap.</summary>
    DebugTrap,
    /// <summary>#MF / #XM: unmasked x87 or SIMD floating-point exception.</summary>
    FloatingPoint,
    /// <summary>An access to a file mapping's pages past the end of the file (SIGBUS on Linux).</summary>
    BusError,
    /// <summary>
    /// Not architectural: an access hit a debugger watchpoint (or a watched code write). The access did not
    /// happen; the vCPU re-runs the instruction for the debugger, which then reports the stop. Never reaches the guest.
    /// </summary>
    DebuggerWatch,
}

/// <summary>A guest fault: what happened, where, and which instruction did it.</summary>
/// <param name="Kind">The exception.</param>
/// <param name="Address">The faulting data address (for page faults), otherwise 0.</param>
/// <param name="Access">The access kind for page faults.</param>
/// <param name="Detail">A human-readable detail (e.g. the undecodable bytes), or null.</param>
public readonly record struct GuestFault(FaultKind Kind, ulong Address, AccessKind Access, string? Detail = null);

/// <summary>
/// Unwinds from the faulting access to the vCPU loop. Guest faults are exceptional events (the guest dies or
/// gets a signal), so they use an exception; branches, syscalls and block exits never do.
/// </summary>
public sealed class GuestFaultException(GuestFault fault) : Exception(fault.Detail ?? fault.Kind.ToString())
{
    /// <summary>The fault.</summary>
    public GuestFault Fault { get; } = fault;
}
