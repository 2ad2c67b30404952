namespace Hv.Core.Cpu;

/// <summary>General-purpose register numbers in x86 encoding order (the index into <see cref="CpuState.Gpr"/>).</summary>
public enum Gpr
{
#pragma warning disable CS1591 // The names are the registers.
    Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15,
#pragma warning restore CS1591
}

/// <summary>RFLAGS bits.</summary>
[Flags]
public enum RFlags : ulong
{
    /// <summary>Carry.</summary>
    CF = 1 << 0,
    /// <summary>Always 1.</summary>
    Reserved1 = 1 << 1,
    /// <summary>Parity of the low result byte.</summary>
    PF = 1 << 2,
    /// <summary>Auxiliary carry (bit 3 → 4).</summary>
    AF = 1 << 4,
    /// <summary>Zero.</summary>
    ZF = 1 << 6,
    /// <summary>Sign.</summary>
    SF = 1 << 7,
    /// <summary>Trap (single step).</summary>
    TF = 1 << 8,
    /// <summary>Interrupts enabled (always 1 in user mode).</summary>
    IF = 1 << 9,
    /// <summary>Direction.</summary>
    DF = 1 << 10,
    /// <summary>Overflow.</summary>
    OF = 1 << 11,
    /// <summary>Alignment check.</summary>
    AC = 1 << 18,
    /// <summary>CPUID available (toggleable).</summary>
    ID = 1 << 21,
    /// <summary>The six arithmetic status flags.</summary>
    Status = CF | PF | AF | ZF | SF | OF,
}
