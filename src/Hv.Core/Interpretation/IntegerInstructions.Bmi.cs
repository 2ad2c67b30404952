using System.Numerics;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>
/// BMI1/BMI2 (VEX-encoded general-register instructions): ANDN, BEXTR, BLSI, BLSMSK, BLSR, BZHI, MULX, PDEP,
/// PEXT, RORX, SARX, SHLX, SHRX. Whether programs use them depends on what CPUID advertises.
/// </summary>
internal static unsafe partial class IntegerInstructions
{
    private static void RegisterBmi(HandlerRegistry r)
    {
        r.Add(Code.VEX_Andn_r32_r32_rm32, &Andn);
        r.Add(Code.VEX_Andn_r64_r64_rm64, &Andn);
        r.Add(Code.VEX_Bextr_r32_rm32_r32, &Bextr);
        r.Add(Code.VEX_Bextr_r64_rm64_r64, &Bextr);
        r.Add(Code.VEX_Blsi_r32_rm32, &Blsi);
        r.Add(Code.VEX_Blsi_r64_rm64, &Blsi);
        r.Add(Code.VEX_Blsmsk_r32_rm32, &Blsmsk);
        r.Add(Code.VEX_Blsmsk_r64_rm64, &Blsmsk);
        r.Add(Code.VEX_Blsr_r32_rm32, &Blsr);
        r.Add(Code.VEX_Blsr_r64_rm64, &Blsr);
        r.Add(Code.VEX_Bzhi_r32_rm32_r32, &Bzhi);
        r.Add(Code.VEX_Bzhi_r64_rm64_r64, &Bzhi);
        r.Add(Code.VEX_Mulx_r32_r32_rm32, &Mulx);
        r.Add(Code.VEX_Mulx_r64_r64_rm64, &Mulx);
        r.Add(Code.VEX_Pdep_r32_r32_rm32, &Pdep);
        r.Add(Code.VEX_Pdep_r64_r64_rm64, &Pdep);
        r.Add(Code.VEX_Pext_r32_r32_rm32, &Pext);
        r.Add(Code.VEX_Pext_r64_r64_rm64, &Pext);
        r.Add(Code.VEX_Rorx_r32_rm32_imm8, &Rorx);
        r.Add(Code.VEX_Rorx_r64_rm64_imm8, &Rorx);
        r.Add(Code.VEX_Sarx_r32_rm32_r32, &Sarx);
        r.Add(Code.VEX_Sarx_r64_rm64_r64, &Sarx);
        r.Add(Code.VEX_Shlx_r32_rm32_r32, &Shlx);
        r.Add(Code.VEX_Shlx_r64_rm64_r64, &Shlx);
        r.Add(Code.VEX_Shrx_r32_rm32_r32, &Shrx);
        r.Add(Code.VEX_Shrx_r64_rm64_r64, &Shrx);
    }

    /// <summary>Operand <paramref name="op"/> (register, memory or immediate) at the destination's width.</summary>
    private static ulong Op(Vcpu cpu, ref Instruction ins, int op, int size) => Operands.Read(cpu, ref ins, op, size);

    private static void Andn(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong r = ~Op(cpu, ref ins, 1, size) & Op(cpu, ref ins, 2, size) & Operands.SizeMask(size);
        Operands.WriteGpr(cpu.State, ins.Op0Register, r);
        Flags.SetStatus(cpu.State, SzpFlags(r, size)); // CF = OF = 0; AF and PF are undefined
    }

    private static void Bextr(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong src = Op(cpu, ref ins, 1, size), control = Op(cpu, ref ins, 2, size);
        int start = (int)(control & 0xFF), length = (int)((control >> 8) & 0xFF);
        ulong r = start >= 64 ? 0 : src >> start;
        if (length < 64) r &= (1UL << length) - 1;
        Operands.WriteGpr(cpu.State, ins.Op0Register, r);
        Flags.SetStatus(cpu.State, r == 0 ? ZF : 0);
    }

    private static void Blsi(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong src = Op(cpu, ref ins, 1, size);
        ulong r = src & (0 - src) & Operands.SizeMask(size);
        Operands.WriteGpr(cpu.State, ins.Op0Register, r);
        Flags.SetStatus(cpu.State, (SzpFlags(r, size) & (ZF | SF)) | (src != 0 ? CF : 0));
    }

    private static void Blsmsk(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong src = Op(cpu, ref ins, 1, size);
        ulong r = (src ^ (src - 1)) & Operands.SizeMask(size);
        Operands.WriteGpr(cpu.State, ins.Op0Register, r);
        Flags.SetStatus(cpu.State, (SzpFlags(r, size) & (ZF | SF)) | (src == 0 ? CF : 0));
    }

    private static void Blsr(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong src = Op(cpu, ref ins, 1, size);
        ulong r = src & (src - 1) & Operands.SizeMask(size);
        Operands.WriteGpr(cpu.State, ins.Op0Register, r);
        Flags.SetStatus(cpu.State, (SzpFlags(r, size) & (ZF | SF)) | (src == 0 ? CF : 0));
    }

    private static void Bzhi(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        int bits = size * 8;
        ulong src = Op(cpu, ref ins, 1, size);
        int index = (int)(Op(cpu, ref ins, 2, size) & 0xFF);
        ulong r = index < bits ? src & ((1UL << index) - 1) : src;
        Operands.WriteGpr(cpu.State, ins.Op0Register, r);
        Flags.SetStatus(cpu.State, (SzpFlags(r, size) & (ZF | SF)) | (index > bits - 1 ? CF : 0));
    }

    private static void Mulx(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        int size = Operands.GprSize(ins.Op0Register);
        ulong b = Op(cpu, ref ins, 2, size);
        ulong low, high;
        if (size == 8)
        {
            high = Math.BigMul(s.Gpr[2], b, out low);
        }
        else
        {
            ulong p = (ulong)(uint)s.Gpr[2] * (uint)b;
            low = (uint)p;
            high = p >> 32;
        }
        // The low half goes first so that the high half wins when both name the same register.
        Operands.WriteGpr(s, ins.Op1Register, low);
        Operands.WriteGpr(s, ins.Op0Register, high);
    }

    private static void Pdep(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong src = Op(cpu, ref ins, 1, size), mask = Op(cpu, ref ins, 2, size);
        ulong r = 0;
        for (ulong bit = 1; mask != 0; bit <<= 1)
        {
            ulong lowest = mask & (0 - mask);
            if ((src & bit) != 0) r |= lowest;
            mask &= mask - 1;
        }
        Operands.WriteGpr(cpu.State, ins.Op0Register, r);
    }

    private static void Pext(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong src = Op(cpu, ref ins, 1, size), mask = Op(cpu, ref ins, 2, size);
        ulong r = 0;
        for (ulong bit = 1; mask != 0; bit <<= 1)
        {
            ulong lowest = mask & (0 - mask);
            if ((src & lowest) != 0) r |= bit;
            mask &= mask - 1;
        }
        Operands.WriteGpr(cpu.State, ins.Op0Register, r);
    }

    private static void Rorx(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong src = Op(cpu, ref ins, 1, size);
        int count = (int)(ins.GetImmediate(2) & (size == 8 ? 63UL : 31UL));
        ulong r = size == 8 ? BitOperations.RotateRight(src, count) : BitOperations.RotateRight((uint)src, count);
        Operands.WriteGpr(cpu.State, ins.Op0Register, r);
    }

    private static int ShiftxCount(Vcpu cpu, ref Instruction ins, int size) =>
        (int)(Op(cpu, ref ins, 2, size) & (size == 8 ? 63UL : 31UL));

    private static void Sarx(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong src = Op(cpu, ref ins, 1, size);
        Operands.WriteGpr(cpu.State, ins.Op0Register, (ulong)((long)Operands.SignExtend(src, size) >> ShiftxCount(cpu, ref ins, size)));
    }

    private static void Shlx(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong src = Op(cpu, ref ins, 1, size);
        Operands.WriteGpr(cpu.State, ins.Op0Register, src << ShiftxCount(cpu, ref ins, size));
    }

    private static void Shrx(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.GprSize(ins.Op0Register);
        ulong src = Op(cpu, ref ins, 1, size);
        Operands.WriteGpr(cpu.State, ins.Op0Register, src >> ShiftxCount(cpu, ref ins, size));
    }
}
