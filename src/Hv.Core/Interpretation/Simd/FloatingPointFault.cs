using Hv.Core.Cpu;

namespace Hv.Core.Interpretation.Simd;

/// <summary>
/// Classifies a <see cref="Memory.FaultKind.FloatingPoint"/> fault from the FPU state the way Linux does for
/// SIGFPE's si_code: the unmasked SIMD exceptions in MXCSR if there are any (#XM), else the unmasked x87 ones
/// (#MF), in the priority invalid, divide-by-zero, overflow, underflow/denormal, precision.
/// </summary>
public static class FloatingPointFault
{
    /// <summary>si_code FPE_FLTDIV.</summary>
    public const int FltDiv = 3;
    /// <summary>si_code FPE_FLTOVF.</summary>
    public const int FltOvf = 4;
    /// <summary>si_code FPE_FLTUND.</summary>
    public const int FltUnd = 5;
    /// <summary>si_code FPE_FLTRES.</summary>
    public const int FltRes = 6;
    /// <summary>si_code FPE_FLTINV.</summary>
    public const int FltInv = 7;

    /// <summary>The si_code for the pending unmasked exception in <paramref name="fpu"/> (FPE_FLTINV if none is found).</summary>
    public static int SignalCode(FpuState fpu)
    {
        ArgumentNullException.ThrowIfNull(fpu);
        uint mxcsr = fpu.Mxcsr;
        uint simd = mxcsr & ~(mxcsr >> 7) & 0x3F;
        uint x87 = (uint)(fpu.Fsw & ~fpu.Fcw) & 0x3F;
        uint err = simd != 0 ? simd : x87;
        if ((err & 0x01) != 0) return FltInv;
        if ((err & 0x04) != 0) return FltDiv;
        if ((err & 0x08) != 0) return FltOvf;
        if ((err & 0x12) != 0) return FltUnd;
        if ((err & 0x20) != 0) return FltRes;
        return FltInv;
    }
}
