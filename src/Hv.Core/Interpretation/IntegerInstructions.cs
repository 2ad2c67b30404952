using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>
/// Interpreter handlers for the general-purpose integer instructions: moves and exchanges (here), ALU (Alu.cs),
/// shifts/rotates (Shift.cs), multiply/divide (MulDiv.cs), bit instructions (Bits.cs), BMI1/BMI2 (Bmi.cs).
/// Flags: ADD/ADC/SUB/SBB/CMP/NEG/logic/INC/DEC record lazily, the rest set them eagerly; where the
/// architecture leaves a flag undefined Hv picks a fixed value. Every memory-destination form reads and writes
/// memory before it touches registers or flags, so a faulting access leaves the state precise. LOCK needs no
/// work: there is one vCPU and each handler is one indivisible step.
/// </summary>
internal static unsafe partial class IntegerInstructions
{
    private const ulong CF = (ulong)RFlags.CF, PF = (ulong)RFlags.PF, AF = (ulong)RFlags.AF, ZF = (ulong)RFlags.ZF,
        SF = (ulong)RFlags.SF, OF = (ulong)RFlags.OF, DF = (ulong)RFlags.DF;

    public static void Register(HandlerRegistry r)
    {
        AddGpr(r, Mnemonic.Mov, &Mov);
        AddGpr(r, Mnemonic.Movzx, &Movzx);
        AddGpr(r, Mnemonic.Movsx, &Movsx);
        AddGpr(r, Mnemonic.Movsxd, &Movsx);
        AddGpr(r, Mnemonic.Lea, &Lea);
        AddGpr(r, Mnemonic.Xchg, &Xchg);
        AddGpr(r, Mnemonic.Cmpxchg, &Cmpxchg);
        r.Add(Code.Cmpxchg8b_m64, &Cmpxchg8b);
        r.Add(Code.Cmpxchg16b_m128, &Cmpxchg16b);
        AddGpr(r, Mnemonic.Xadd, &Xadd);
        AddGpr(r, Mnemonic.Movnti, &Mov); // the non-temporal hint means nothing here
        r.Add(Code.Mov_rm16_Sreg, &MovFromSreg);
        r.Add(Code.Mov_r32m16_Sreg, &MovFromSreg);
        r.Add(Code.Mov_r64m16_Sreg, &MovFromSreg);

        AddGpr(r, Mnemonic.Add, &Alu<AddOp>);
        AddGpr(r, Mnemonic.Adc, &Alu<AdcOp>);
        AddGpr(r, Mnemonic.Sub, &Alu<SubOp>);
        AddGpr(r, Mnemonic.Sbb, &Alu<SbbOp>);
        AddGpr(r, Mnemonic.And, &Alu<AndOp>);
        AddGpr(r, Mnemonic.Or, &Alu<OrOp>);
        AddGpr(r, Mnemonic.Xor, &Alu<XorOp>);
        AddGpr(r, Mnemonic.Cmp, &Alu<CmpOp>);
        AddGpr(r, Mnemonic.Test, &Alu<TestOp>);
        AddGpr(r, Mnemonic.Neg, &Neg);
        AddGpr(r, Mnemonic.Not, &Not);
        AddGpr(r, Mnemonic.Inc, &Inc);
        AddGpr(r, Mnemonic.Dec, &Dec);

        // BSWAP r16 is undefined (gcc never emits it) and stays unimplemented.
        r.Add(Code.Bswap_r32, &Bswap);
        r.Add(Code.Bswap_r64, &Bswap);
        AddGpr(r, Mnemonic.Movbe, &Movbe);
        foreach (Mnemonic m in (ReadOnlySpan<Mnemonic>)[Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae,
            Mnemonic.Cmove, Mnemonic.Cmovne, Mnemonic.Cmovbe, Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns,
            Mnemonic.Cmovp, Mnemonic.Cmovnp, Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg])
            AddGpr(r, m, &Cmovcc);
        foreach (Mnemonic m in (ReadOnlySpan<Mnemonic>)[Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae,
            Mnemonic.Sete, Mnemonic.Setne, Mnemonic.Setbe, Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns,
            Mnemonic.Setp, Mnemonic.Setnp, Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg])
            AddGpr(r, m, &Setcc);

        r.Add(Mnemonic.Cbw, &Cbw);
        r.Add(Mnemonic.Cwde, &Cwde);
        r.Add(Mnemonic.Cdqe, &Cdqe);
        r.Add(Mnemonic.Cwd, &Cwd);
        r.Add(Mnemonic.Cdq, &Cdq);
        r.Add(Mnemonic.Cqo, &Cqo);
        r.Add(Mnemonic.Lahf, &Lahf);
        r.Add(Mnemonic.Sahf, &Sahf);
        r.Add(Mnemonic.Clc, &Clc);
        r.Add(Mnemonic.Stc, &Stc);
        r.Add(Mnemonic.Cmc, &Cmc);
        r.Add(Mnemonic.Cld, &Cld);
        r.Add(Mnemonic.Std, &Std);

        RegisterShifts(r);
        RegisterMulDiv(r);
        RegisterBits(r);
        RegisterBmi(r);
    }

    /// <summary>
    /// Registers the codes of <paramref name="mnemonic"/> whose operands are general registers, memory or
    /// immediates (not segment, control, debug, MMX or XMM registers, which other groups own or Hv rejects).
    /// </summary>
    private static void AddGpr(HandlerRegistry r, Mnemonic mnemonic, delegate*<Vcpu, ref Instruction, void> handler)
    {
        foreach (Code code in HandlerRegistry.CodesOf(mnemonic))
        {
            OpCodeInfo info = code.ToOpCode();
            bool ok = true;
            for (int i = 0; i < info.OpCount && ok; i++) ok = IsGprOperand(info.GetOpKind(i));
            if (ok) r.Add(code, handler);
        }
    }

    private static bool IsGprOperand(OpCodeOperandKind kind)
    {
        switch (kind)
        {
            case OpCodeOperandKind.r8_or_mem: case OpCodeOperandKind.r16_or_mem: case OpCodeOperandKind.r32_or_mem:
            case OpCodeOperandKind.r64_or_mem: case OpCodeOperandKind.r8_reg: case OpCodeOperandKind.r8_opcode:
            case OpCodeOperandKind.r16_reg: case OpCodeOperandKind.r16_opcode: case OpCodeOperandKind.r32_reg:
            case OpCodeOperandKind.r32_opcode: case OpCodeOperandKind.r64_reg: case OpCodeOperandKind.r64_opcode:
            case OpCodeOperandKind.r16_rm: case OpCodeOperandKind.r32_rm: case OpCodeOperandKind.r64_rm:
            case OpCodeOperandKind.al: case OpCodeOperandKind.cl: case OpCodeOperandKind.ax: case OpCodeOperandKind.eax:
            case OpCodeOperandKind.rax: case OpCodeOperandKind.mem: case OpCodeOperandKind.mem_offs:
            case OpCodeOperandKind.imm8: case OpCodeOperandKind.imm8sex16: case OpCodeOperandKind.imm8sex32:
            case OpCodeOperandKind.imm8sex64: case OpCodeOperandKind.imm16: case OpCodeOperandKind.imm32:
            case OpCodeOperandKind.imm32sex64: case OpCodeOperandKind.imm64: case OpCodeOperandKind.imm8_const_1:
                return true;
            default:
                return false;
        }
    }

    // ---- shared helpers ----

    /// <summary>Operand size in bytes of operand 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int DestSize(ref Instruction ins) =>
        ins.Op0Kind == OpKind.Register ? Operands.GprSize(ins.Op0Register) : ins.MemorySize.GetSize();

    /// <summary>Reads operand 1 of an instruction whose destination is a register of <paramref name="size"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadSource(Vcpu cpu, ref Instruction ins, int size) => ins.Op1Kind switch
    {
        OpKind.Register => Operands.ReadGpr(cpu.State, ins.Op1Register),
        OpKind.Memory => Operands.ReadMemory(cpu, Operands.EffectiveAddress(cpu, ref ins), size),
        _ => ins.GetImmediate(1),
    };

    /// <summary>ZF, SF and PF of a result of <paramref name="size"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong SzpFlags(ulong result, int size)
    {
        ulong f = 0;
        if ((result & Operands.SizeMask(size)) == 0) f |= ZF;
        if (((result >> (size * 8 - 1)) & 1) != 0) f |= SF;
        if ((BitOperations.PopCount(result & 0xFF) & 1) == 0) f |= PF;
        return f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SignBit(int size) => 1UL << (size * 8 - 1);

    // ---- moves ----

    private static void Mov(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (ins.Op0Kind == OpKind.Register)
        {
            Iced.Intel.Register dst = ins.Op0Register;
            Operands.WriteGpr(s, dst, ReadSource(cpu, ref ins, Operands.GprSize(dst)));
        }
        else
        {
            ulong value = ins.Op1Kind == OpKind.Register ? Operands.ReadGpr(s, ins.Op1Register) : ins.GetImmediate(1);
            Operands.WriteMemory(cpu, Operands.EffectiveAddress(cpu, ref ins), ins.MemorySize.GetSize(), value);
        }
    }

    private static int SourceSize(ref Instruction ins) =>
        ins.Op1Kind == OpKind.Register ? Operands.GprSize(ins.Op1Register) : ins.MemorySize.GetSize();

    private static void Movzx(Vcpu cpu, ref Instruction ins) =>
        Operands.WriteGpr(cpu.State, ins.Op0Register, ReadSource(cpu, ref ins, SourceSize(ref ins)));

    private static void Movsx(Vcpu cpu, ref Instruction ins)
    {
        int size = SourceSize(ref ins);
        Operands.WriteGpr(cpu.State, ins.Op0Register, Operands.SignExtend(ReadSource(cpu, ref ins, size), size));
    }

    private static void Lea(Vcpu cpu, ref Instruction ins)
    {
        // LEA computes the offset only: a segment override adds no base.
        CpuState s = cpu.State;
        ulong address = ins.MemoryDisplacement64;
        Iced.Intel.Register b = ins.MemoryBase;
        if (b != Iced.Intel.Register.None && b != Iced.Intel.Register.RIP) address += Operands.ReadGpr(s, b);
        Iced.Intel.Register x = ins.MemoryIndex;
        if (x != Iced.Intel.Register.None) address += Operands.ReadGpr(s, x) * (ulong)ins.MemoryIndexScale;
        if (b is >= Iced.Intel.Register.EAX and <= Iced.Intel.Register.R15D || x is >= Iced.Intel.Register.EAX and <= Iced.Intel.Register.R15D || b == Iced.Intel.Register.EIP)
            address = (uint)address;
        Operands.WriteGpr(s, ins.Op0Register, address);
    }

    /// <summary>
    /// MOV r/m, Sreg: the selectors a Linux x86-64 process sees (CS 0x33, SS 0x2B, the others 0; FS/GS bases
    /// live in MSRs). A register destination gets the selector zero-extended; memory gets 16 bits.
    /// </summary>
    private static void MovFromSreg(Vcpu cpu, ref Instruction ins)
    {
        ulong selector = ins.Op1Register switch
        {
            Iced.Intel.Register.CS => 0x33,
            Iced.Intel.Register.SS => 0x2B,
            _ => 0,
        };
        if (ins.Op0Kind == OpKind.Register) Operands.WriteGpr(cpu.State, ins.Op0Register, selector);
        else cpu.Memory.Write16(Operands.EffectiveAddress(cpu, ref ins), (ushort)selector);
    }

    private static void Xchg(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        Iced.Intel.Register src = ins.Op1Register;
        if (ins.Op0Kind == OpKind.Register)
        {
            Iced.Intel.Register dst = ins.Op0Register;
            ulong a = Operands.ReadGpr(s, dst), b = Operands.ReadGpr(s, src);
            Operands.WriteGpr(s, dst, b);
            Operands.WriteGpr(s, src, a);
        }
        else
        {
            ulong address = Operands.EffectiveAddress(cpu, ref ins);
            int size = ins.MemorySize.GetSize();
            ulong old = Operands.ReadMemory(cpu, address, size);
            Operands.WriteMemory(cpu, address, size, Operands.ReadGpr(s, src));
            Operands.WriteGpr(s, src, old);
        }
    }

    private static void Xadd(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        Iced.Intel.Register src = ins.Op1Register;
        int size = Operands.GprSize(src);
        ulong b = Operands.ReadGpr(s, src);
        ulong a, r;
        if (ins.Op0Kind == OpKind.Register)
        {
            Iced.Intel.Register dst = ins.Op0Register;
            a = Operands.ReadGpr(s, dst);
            r = a + b;
            Operands.WriteGpr(s, src, a);
            Operands.WriteGpr(s, dst, r); // when both name the same register, the sum wins
        }
        else
        {
            ulong address = Operands.EffectiveAddress(cpu, ref ins);
            a = Operands.ReadMemory(cpu, address, size);
            r = a + b;
            Operands.WriteMemory(cpu, address, size, r);
            Operands.WriteGpr(s, src, a);
        }
        Flags.SetAdd(s, a, b, r, size);
    }

    private static void Cmpxchg(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        Iced.Intel.Register src = ins.Op1Register;
        int size = Operands.GprSize(src);
        ulong mask = Operands.SizeMask(size);
        ulong acc = s.Gpr[0] & mask;
        ulong dest;
        if (ins.Op0Kind == OpKind.Register)
        {
            Iced.Intel.Register dst = ins.Op0Register;
            dest = Operands.ReadGpr(s, dst);
            if (dest == acc) Operands.WriteGpr(s, dst, Operands.ReadGpr(s, src));
            else WriteAccumulator(s, size, dest);
        }
        else
        {
            ulong address = Operands.EffectiveAddress(cpu, ref ins);
            dest = Operands.ReadMemory(cpu, address, size);
            // The destination is written in both cases (with its old value on mismatch), as the hardware does.
            Operands.WriteMemory(cpu, address, size, dest == acc ? Operands.ReadGpr(s, src) : dest);
            if (dest != acc) WriteAccumulator(s, size, dest);
        }
        Flags.SetSub(s, acc, dest, acc - dest, size);
    }

    /// <summary>Writes AL/AX/EAX/RAX with the usual merge/zero-extension rules.</summary>
    private static void WriteAccumulator(CpuState s, int size, ulong value)
    {
        ref ulong rax = ref s.Gpr[0];
        rax = size switch
        {
            8 => value,
            4 => (uint)value,
            2 => (rax & ~0xFFFFUL) | (ushort)value,
            _ => (rax & ~0xFFUL) | (byte)value,
        };
    }

    private static void Cmpxchg8b(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong address = Operands.EffectiveAddress(cpu, ref ins);
        ulong old = cpu.Memory.Read64(address);
        ulong expected = ((ulong)(uint)s.Gpr[2] << 32) | (uint)s.Gpr[0];
        bool equal = old == expected;
        cpu.Memory.Write64(address, equal ? ((ulong)(uint)s.Gpr[1] << 32) | (uint)s.Gpr[3] : old);
        if (!equal)
        {
            s.Gpr[0] = (uint)old;
            s.Gpr[2] = old >> 32;
        }
        Flags.Update(s, ZF, equal ? ZF : 0);
    }

    private static void Cmpxchg16b(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong address = Operands.EffectiveAddress(cpu, ref ins);
        if ((address & 15) != 0)
            throw new GuestFaultException(new GuestFault(FaultKind.GeneralProtection, 0, AccessKind.Write, "cmpxchg16b operand not 16-byte aligned"));
        cpu.Memory.Probe(address, 16, AccessKind.Write);
        ulong lo = cpu.Memory.Read64(address), hi = cpu.Memory.Read64(address + 8);
        bool equal = lo == s.Gpr[0] && hi == s.Gpr[2];
        if (equal)
        {
            cpu.Memory.Write64(address, s.Gpr[3]);
            cpu.Memory.Write64(address + 8, s.Gpr[1]);
        }
        else
        {
            cpu.Memory.Write64(address, lo);
            cpu.Memory.Write64(address + 8, hi);
            s.Gpr[0] = lo;
            s.Gpr[2] = hi;
        }
        Flags.Update(s, ZF, equal ? ZF : 0);
    }

    private static void Bswap(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        Iced.Intel.Register r = ins.Op0Register;
        ulong v = Operands.ReadGpr(s, r);
        Operands.WriteGpr(s, r, Operands.GprSize(r) == 8 ? BinaryPrimitives.ReverseEndianness(v) : BinaryPrimitives.ReverseEndianness((uint)v));
    }

    private static ulong Swap(ulong v, int size) => size switch
    {
        8 => BinaryPrimitives.ReverseEndianness(v),
        4 => BinaryPrimitives.ReverseEndianness((uint)v),
        _ => BinaryPrimitives.ReverseEndianness((ushort)v),
    };

    private static void Movbe(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (ins.Op0Kind == OpKind.Register)
        {
            int size = Operands.GprSize(ins.Op0Register);
            ulong v = Operands.ReadMemory(cpu, Operands.EffectiveAddress(cpu, ref ins), size);
            Operands.WriteGpr(s, ins.Op0Register, Swap(v, size));
        }
        else
        {
            int size = Operands.GprSize(ins.Op1Register);
            Operands.WriteMemory(cpu, Operands.EffectiveAddress(cpu, ref ins), size, Swap(Operands.ReadGpr(s, ins.Op1Register), size));
        }
    }

    private static void Cmovcc(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        Iced.Intel.Register dst = ins.Op0Register;
        // The source is read (and may fault) whatever the condition; a 32-bit destination is always zero-extended.
        ulong v = ReadSource(cpu, ref ins, Operands.GprSize(dst));
        Operands.WriteGpr(s, dst, Flags.Condition(s, ins.ConditionCode) ? v : Operands.ReadGpr(s, dst));
    }

    private static void Setcc(Vcpu cpu, ref Instruction ins)
    {
        ulong v = Flags.Condition(cpu.State, ins.ConditionCode) ? 1UL : 0UL;
        if (ins.Op0Kind == OpKind.Register) Operands.WriteGpr(cpu.State, ins.Op0Register, v);
        else cpu.Memory.Write8(Operands.EffectiveAddress(cpu, ref ins), (byte)v);
    }

    // ---- accumulator sign extensions ----

    private static void Cbw(Vcpu cpu, ref Instruction ins)
    {
        ref ulong rax = ref cpu.State.Gpr[0];
        rax = (rax & ~0xFFFFUL) | (ulong)(ushort)(short)(sbyte)(byte)rax;
    }

    private static void Cwde(Vcpu cpu, ref Instruction ins)
    {
        ref ulong rax = ref cpu.State.Gpr[0];
        rax = (uint)(int)(short)rax;
    }

    private static void Cdqe(Vcpu cpu, ref Instruction ins)
    {
        ref ulong rax = ref cpu.State.Gpr[0];
        rax = (ulong)(long)(int)rax;
    }

    private static void Cwd(Vcpu cpu, ref Instruction ins)
    {
        ulong[] g = cpu.State.Gpr;
        g[2] = (g[2] & ~0xFFFFUL) | ((g[0] & 0x8000) != 0 ? 0xFFFFUL : 0);
    }

    private static void Cdq(Vcpu cpu, ref Instruction ins)
    {
        ulong[] g = cpu.State.Gpr;
        g[2] = (g[0] & 0x8000_0000) != 0 ? 0xFFFF_FFFFUL : 0;
    }

    private static void Cqo(Vcpu cpu, ref Instruction ins)
    {
        ulong[] g = cpu.State.Gpr;
        g[2] = (ulong)((long)g[0] >> 63);
    }

    // ---- flag instructions ----

    private static void Lahf(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong ah = (s.RFlags & (SF | ZF | AF | PF | CF)) | 2;
        s.Gpr[0] = (s.Gpr[0] & ~0xFF00UL) | (ah << 8);
    }

    private static void Sahf(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        Flags.Update(s, SF | ZF | AF | PF | CF, s.Gpr[0] >> 8);
    }

    private static void Clc(Vcpu cpu, ref Instruction ins) => Flags.Update(cpu.State, CF, 0);

    private static void Stc(Vcpu cpu, ref Instruction ins) => Flags.Update(cpu.State, CF, CF);

    private static void Cmc(Vcpu cpu, ref Instruction ins) => Flags.Update(cpu.State, CF, Flags.GetCF(cpu.State) ? 0 : CF);

    // DF is never lazy: FlagsBase always holds it.
    private static void Cld(Vcpu cpu, ref Instruction ins) => cpu.State.FlagsBase &= ~DF;

    private static void Std(Vcpu cpu, ref Instruction ins) => cpu.State.FlagsBase |= DF;
}
