namespace Hv.Core.Interpretation.Simd;

/// <summary>How the C# side moves state in and out of a thunk.</summary>
internal enum ThunkKind : byte
{
    /// <summary>XMM/GPR operands are remapped to host registers loaded from and stored to context slots.</summary>
    Sse,
    /// <summary>The whole FXSAVE image is restored into the host, the instruction runs, the image is saved back.</summary>
    X87,
}

/// <summary>What an operand of the original instruction became in the thunk.</summary>
internal enum ThunkOperand : byte
{
    /// <summary>Immediate, or a register that lives in the FXSAVE image (X87 kind).</summary>
    None,
    /// <summary>A guest XMM register copied into host XMM slot <c>OpHost</c>.</summary>
    Xmm,
    /// <summary>A guest GPR copied into host GPR slot <c>OpHost</c>.</summary>
    Gpr,
    /// <summary>The memory operand, remapped to the context's memory buffer.</summary>
    Memory,
}

/// <summary>Fix-ups the x87 path applies because the host ran with every exception masked.</summary>
internal enum X87Fixup : byte
{
    /// <summary>Keep the guest's control word.</summary>
    None,
    /// <summary>FLDCW/FLDENV/FRSTOR: the new control word is the one in guest memory (the host saw it masked).</summary>
    LoadsControl,
    /// <summary>FNINIT/FNSTENV/FNSAVE: the control word the host ends with is the guest's.</summary>
    TakesResultControl,
    /// <summary>FNSTCW: the stored word must be the guest's, not the masked one.</summary>
    StoresControl,
    /// <summary>FNSTENV/FNSAVE: the stored environment's control/status words must be the guest's.</summary>
    StoresEnvironment,
    /// <summary>FNSTSW: the stored status word gets the guest's ES/B bits.</summary>
    StoresStatus,
}

/// <summary>A generated host thunk for one instruction shape, and how to marshal state around it.</summary>
internal sealed unsafe class SimdThunk
{
    /// <summary>Maximum explicit operands handled.</summary>
    public const int MaxOperands = 4;

    /// <summary>Entry point; the only argument (RDI) is the context block.</summary>
    public delegate* unmanaged[SuppressGCTransition]<byte*, void> Entry;

    /// <summary>The state-marshalling kind.</summary>
    public ThunkKind Kind;

    /// <summary>Explicit operand count (capped at <see cref="MaxOperands"/>).</summary>
    public int OpCount;

    /// <summary>Per operand: what it became.</summary>
    public readonly ThunkOperand[] OpClass = new ThunkOperand[MaxOperands];

    /// <summary>Per operand: the host register slot.</summary>
    public readonly byte[] OpHost = new byte[MaxOperands];

    /// <summary>Per operand: whether the instruction writes it.</summary>
    public readonly bool[] OpWritten = new bool[MaxOperands];

    /// <summary>Implicit GPRs (guest index == host index) loaded before the instruction.</summary>
    public ushort ImplicitGprs;

    /// <summary>Implicit GPRs stored back afterwards.</summary>
    public ushort ImplicitGprWrites;

    /// <summary>XMM0 is read implicitly (BLENDV*, PCMPxSTRM).</summary>
    public bool ImplicitXmm0;

    /// <summary>XMM0 is written implicitly (PCMPxSTRM).</summary>
    public bool ImplicitXmm0Write;

    /// <summary>Size of the memory operand in bytes, 0 if none.</summary>
    public int MemSize;

    /// <summary>The instruction reads its memory operand.</summary>
    public bool MemRead;

    /// <summary>The instruction writes its memory operand.</summary>
    public bool MemWrite;

    /// <summary>Address bits that must be zero (15 for aligned 16-byte SSE operands), else #GP.</summary>
    public ulong AlignMask;

    /// <summary>The instruction reads RFLAGS (FCMOVcc).</summary>
    public bool FlagsRead;

    /// <summary>RFLAGS bits (x86 positions) the instruction writes.</summary>
    public ulong FlagsWritten;

    /// <summary>x87 only: the instruction first checks for a pending unmasked x87 exception.</summary>
    public bool Waiting;

    /// <summary>x87 only: control/status word fix-ups.</summary>
    public X87Fixup Fixup;

    /// <summary>The shape key this thunk was built for.</summary>
    public ulong Key;

    /// <summary>Host code size in bytes.</summary>
    public int CodeSize;
}
