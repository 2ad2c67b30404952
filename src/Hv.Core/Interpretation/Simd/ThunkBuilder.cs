using Hv.Core.Native;
using Iced.Intel;

namespace Hv.Core.Interpretation.Simd;

/// <summary>
/// Generates host thunks: the guest instruction with its operands remapped (XMM to host XMM1..3, GPRs to
/// R8..R11, memory to the context's buffer at [RDI+<see cref="SimdContext.Memory"/>]), wrapped in the state
/// loads/stores and MXCSR (or FXRSTOR/FXSAVE) switches. Runs only when a new shape is first seen.
/// </summary>
internal static unsafe class ThunkBuilder
{
    private static readonly Register[] Gpr64 =
    [
        Register.RAX, Register.RCX, Register.RDX, Register.RBX, Register.RSP, Register.RBP, Register.RSI, Register.RDI,
        Register.R8, Register.R9, Register.R10, Register.R11, Register.R12, Register.R13, Register.R14, Register.R15,
    ];

    /// <summary>True if the code runs through the FXRSTOR/FXSAVE path (x87, or MMX registers).</summary>
    public static bool IsX87Kind(Code code)
    {
        foreach (CpuidFeature f in code.CpuidFeatures())
            if (f is CpuidFeature.FPU or CpuidFeature.FPU287 or CpuidFeature.FPU387 or CpuidFeature.MMX) return true;
        OpCodeInfo info = code.ToOpCode();
        for (int i = 0; i < info.OpCount; i++)
            if (info.GetOpKind(i) is OpCodeOperandKind.mm_reg or OpCodeOperandKind.mm_rm or OpCodeOperandKind.mm_or_mem
                or OpCodeOperandKind.st0 or OpCodeOperandKind.sti_opcode)
                return true;
        return false;
    }

    /// <summary>Builds the thunk for <paramref name="original"/>'s shape.</summary>
    public static SimdThunk Build(in Instruction original, ExecutableMemory arena)
    {
        Instruction ins = original;
        var t = new SimdThunk { Kind = IsX87Kind(original.Code) ? ThunkKind.X87 : ThunkKind.Sse };
        bool x87 = t.Kind == ThunkKind.X87;
        OpCodeInfo opCode = ins.Code.ToOpCode();
        t.OpCount = Math.Min(ins.OpCount, SimdThunk.MaxOperands);
        Span<Register> xmmGuest = stackalloc Register[4];
        Span<Register> gprGuest = stackalloc Register[4];
        int xmmCount = 0, gprCount = 0;
        ushort explicitHostGprs = 0;
        int memOp = -1;

        for (int i = 0; i < t.OpCount; i++)
        {
            OpKind kind = ins.GetOpKind(i);
            if (kind == OpKind.Memory)
            {
                memOp = i;
                t.OpClass[i] = ThunkOperand.Memory;
                ins.MemoryBase = Register.RDI;
                ins.MemoryIndex = Register.None;
                ins.MemoryIndexScale = 1;
                ins.MemoryDisplacement64 = SimdContext.Memory;
                ins.MemoryDisplSize = 8;
                ins.SegmentPrefix = Register.None;
                continue;
            }
            if (kind != OpKind.Register) continue;
            Register reg = ins.GetOpRegister(i);
            if (reg.IsGPR())
            {
                OpCodeOperandKind fixedKind = opCode.GetOpKind(i);
                Register full = reg.GetFullRegister();
                int guestIndex = full - Register.RAX;
                if (fixedKind is OpCodeOperandKind.al or OpCodeOperandKind.cl or OpCodeOperandKind.ax or OpCodeOperandKind.dx
                    or OpCodeOperandKind.eax or OpCodeOperandKind.rax)
                {
                    // Fixed-register forms (FNSTSW AX) keep the register: it is loaded like an implicit one.
                    t.OpClass[i] = ThunkOperand.Gpr;
                    t.OpHost[i] = (byte)guestIndex;
                    explicitHostGprs |= (ushort)(1 << guestIndex);
                    continue;
                }
                int slot = gprGuest[..gprCount].IndexOf(full);
                if (slot < 0)
                {
                    slot = gprCount++;
                    gprGuest[slot] = full;
                }
                int host = 8 + slot;
                explicitHostGprs |= (ushort)(1 << host);
                t.OpClass[i] = ThunkOperand.Gpr;
                t.OpHost[i] = (byte)host;
                ins.SetOpRegister(i, SameWidth(reg, host));
            }
            else if (reg.IsXMM() && !x87)
            {
                int slot = xmmGuest[..xmmCount].IndexOf(reg);
                if (slot < 0)
                {
                    slot = xmmCount++;
                    xmmGuest[slot] = reg;
                }
                t.OpClass[i] = ThunkOperand.Xmm;
                t.OpHost[i] = (byte)(1 + slot);
                ins.SetOpRegister(i, Register.XMM1 + slot);
            }
        }

        InstructionInfo info = new InstructionInfoFactory().GetInfo(ins);
        for (int i = 0; i < t.OpCount; i++)
        {
            OpAccess access = info.GetOpAccess(i);
            bool written = access is OpAccess.Write or OpAccess.ReadWrite or OpAccess.CondWrite or OpAccess.ReadCondWrite;
            t.OpWritten[i] = written;
            if (i == memOp)
            {
                t.MemWrite = written;
                t.MemRead = access is OpAccess.Read or OpAccess.ReadWrite or OpAccess.CondRead or OpAccess.ReadCondWrite;
                t.MemSize = ins.MemorySize.GetSize();
            }
        }
        ushort usedXmmHost = 0, writtenXmmHost = 0;
        foreach (UsedRegister used in info.GetUsedRegisters())
        {
            Register r = used.Register;
            bool w = used.Access is OpAccess.Write or OpAccess.ReadWrite or OpAccess.CondWrite or OpAccess.ReadCondWrite;
            if (r.IsGPR())
            {
                int index = r.GetFullRegister() - Register.RAX;
                if (memOp >= 0 && index == 7) continue; // RDI is the buffer base
                if ((explicitHostGprs & (1 << index)) != 0) continue;
                t.ImplicitGprs |= (ushort)(1 << index);
                if (w) t.ImplicitGprWrites |= (ushort)(1 << index);
            }
            else if (r.IsXMM() && !x87)
            {
                int index = r - Register.XMM0;
                usedXmmHost |= (ushort)(1 << index);
                if (w) writtenXmmHost |= (ushort)(1 << index);
            }
        }
        t.ImplicitXmm0 = (usedXmmHost & 1) != 0;
        t.ImplicitXmm0Write = (writtenXmmHost & 1) != 0;
        if ((t.ImplicitGprs & (1 << 7 | 1 << 4)) != 0)
            throw new InvalidOperationException($"cannot thunk {original.Code}: implicit RSP/RDI");

        t.FlagsRead = ins.RflagsRead != RflagsBits.None;
        t.FlagsWritten = ToX86Flags(ins.RflagsModified);
        if (memOp >= 0 && t.MemSize == 16 && !IsUnaligned(original.Mnemonic)) t.AlignMask = 15; // incl. CVTPD2PI mm, m128
        if (x87) ClassifyX87(original, t);

        byte[] code = Emit(ins, t, usedXmmHost, writtenXmmHost);
        t.CodeSize = code.Length;
        t.Entry = (delegate* unmanaged[SuppressGCTransition]<byte*, void>)arena.Add(code);
        return t;
    }

    private static bool IsUnaligned(Mnemonic m) => m is Mnemonic.Movups or Mnemonic.Movupd or Mnemonic.Movdqu or Mnemonic.Lddqu
        or Mnemonic.Pcmpestri or Mnemonic.Pcmpestri64 or Mnemonic.Pcmpestrm or Mnemonic.Pcmpestrm64
        or Mnemonic.Pcmpistri or Mnemonic.Pcmpistrm;

    private static void ClassifyX87(in Instruction ins, SimdThunk t)
    {
        Mnemonic m = ins.Mnemonic;
        // FN* forms do not check for pending exceptions; everything else (incl. MMX) does.
        t.Waiting = m is not (Mnemonic.Fninit or Mnemonic.Fnclex or Mnemonic.Fnstcw or Mnemonic.Fnstsw or Mnemonic.Fnstenv
            or Mnemonic.Fnsave or Mnemonic.Fneni or Mnemonic.Fndisi or Mnemonic.Fnsetpm);
        t.Fixup = m switch
        {
            Mnemonic.Fldcw or Mnemonic.Fldenv or Mnemonic.Frstor => X87Fixup.LoadsControl,
            Mnemonic.Fninit or Mnemonic.Finit => X87Fixup.TakesResultControl,
            Mnemonic.Fnstcw or Mnemonic.Fstcw => X87Fixup.StoresControl,
            Mnemonic.Fnstenv or Mnemonic.Fstenv or Mnemonic.Fnsave or Mnemonic.Fsave => X87Fixup.StoresEnvironment,
            Mnemonic.Fnstsw or Mnemonic.Fstsw => X87Fixup.StoresStatus,
            _ => X87Fixup.None,
        };
    }

    private static Register SameWidth(Register guest, int host)
    {
        int n = host - 8;
        return guest.GetSize() switch
        {
            8 => Register.R8 + n,
            4 => Register.R8D + n,
            2 => Register.R8W + n,
            _ => Register.R8L + n,
        };
    }

    private static ulong ToX86Flags(RflagsBits bits)
    {
        ulong f = 0;
        if ((bits & RflagsBits.CF) != 0) f |= 1UL << 0;
        if ((bits & RflagsBits.PF) != 0) f |= 1UL << 2;
        if ((bits & RflagsBits.AF) != 0) f |= 1UL << 4;
        if ((bits & RflagsBits.ZF) != 0) f |= 1UL << 6;
        if ((bits & RflagsBits.SF) != 0) f |= 1UL << 7;
        if ((bits & RflagsBits.OF) != 0) f |= 1UL << 11;
        return f;
    }

    private static MemoryOperand Ctx(int offset) => new(Register.RDI, offset);

    private static byte[] Emit(in Instruction ins, SimdThunk t, ushort usedXmmHost, ushort writtenXmmHost)
    {
        var list = new List<Instruction>();
        bool x87 = t.Kind == ThunkKind.X87;
        list.Add(Instruction.Create(Code.Stmxcsr_m32, Ctx(SimdContext.HostMxcsr)));
        if (x87) list.Add(Instruction.Create(Code.Fxrstor64_m512byte, Ctx(SimdContext.Image)));
        else list.Add(Instruction.Create(Code.Ldmxcsr_m32, Ctx(SimdContext.GuestMxcsr)));

        ushort gprLoads = t.ImplicitGprs;
        ushort gprStores = t.ImplicitGprWrites;
        for (int i = 0; i < t.OpCount; i++)
        {
            if (t.OpClass[i] == ThunkOperand.Gpr)
            {
                gprLoads |= (ushort)(1 << t.OpHost[i]);
                if (t.OpWritten[i]) gprStores |= (ushort)(1 << t.OpHost[i]);
            }
            else if (t.OpClass[i] == ThunkOperand.Xmm && t.OpWritten[i])
            {
                writtenXmmHost |= (ushort)(1 << t.OpHost[i]);
            }
        }
        if (!x87)
        {
            for (int k = 0; k < 16; k++)
                if ((usedXmmHost & (1 << k)) != 0)
                    list.Add(Instruction.Create(Code.Movdqa_xmm_xmmm128, Register.XMM0 + k, Ctx(SimdContext.XmmSlot(k))));
        }
        for (int n = 0; n < 16; n++)
            if ((gprLoads & (1 << n)) != 0)
                list.Add(Instruction.Create(Code.Mov_r64_rm64, Gpr64[n], Ctx(SimdContext.GprSlot(n))));
        if (t.FlagsRead)
        {
            list.Add(Instruction.Create(Code.Push_rm64, Ctx(SimdContext.Flags)));
            list.Add(Instruction.Create(Code.Popfq));
        }
        list.Add(ins);
        if (t.FlagsWritten != 0)
        {
            list.Add(Instruction.Create(Code.Pushfq));
            list.Add(Instruction.Create(Code.Pop_rm64, Ctx(SimdContext.Flags)));
        }
        if (!x87)
        {
            for (int k = 0; k < 16; k++)
                if ((writtenXmmHost & (1 << k)) != 0)
                    list.Add(Instruction.Create(Code.Movdqa_xmmm128_xmm, Ctx(SimdContext.XmmSlot(k)), Register.XMM0 + k));
        }
        for (int n = 0; n < 16; n++)
            if ((gprStores & (1 << n)) != 0)
                list.Add(Instruction.Create(Code.Mov_rm64_r64, Ctx(SimdContext.GprSlot(n)), Gpr64[n]));
        if (x87)
        {
            list.Add(Instruction.Create(Code.Fxsave64_m512byte, Ctx(SimdContext.Image)));
            list.Add(Instruction.Create(Code.Fninit)); // leave the host x87 unit clean (ABI: empty stack, default FCW)
        }
        else
        {
            list.Add(Instruction.Create(Code.Stmxcsr_m32, Ctx(SimdContext.GuestMxcsrOut)));
        }
        list.Add(Instruction.Create(Code.Ldmxcsr_m32, Ctx(SimdContext.HostMxcsr)));
        list.Add(Instruction.Create(Code.Retnq));

        var writer = new ByteWriter();
        var encoder = Encoder.Create(64, writer);
        foreach (Instruction i in list)
        {
            Instruction copy = i;
            if (!encoder.TryEncode(copy, 0, out _, out string? error))
                throw new InvalidOperationException($"cannot encode thunk for {ins.Code}: {error}");
        }
        return writer.ToArray();
    }

    private sealed class ByteWriter : CodeWriter
    {
        private readonly List<byte> bytes = [];
        public override void WriteByte(byte value) => bytes.Add(value);
        public byte[] ToArray() => [.. bytes];
    }
}
