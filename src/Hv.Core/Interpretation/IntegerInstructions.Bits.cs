using System.Numerics;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>BT/BTS/BTR/BTC, BSF/BSR, TZCNT/LZCNT and POPCNT.</summary>
internal static unsafe partial class IntegerInstructions
{
    private static void RegisterBits(HandlerRegistry r)
    {
        AddGpr(r, Mnemonic.Bt, &Bt);
        AddGpr(r, Mnemonic.Bts, &Bts);
        AddGpr(r, Mnemonic.Btr, &Btr);
        AddGpr(r, Mnemonic.Btc, &Btc);
        AddGpr(r, Mnemonic.Bsf, &Bsf);
        AddGpr(r, Mnemonic.Bsr, &Bsr);
        AddGpr(r, Mnemonic.Tzcnt, &Tzcnt);
        AddGpr(r, Mnemonic.Lzcnt, &Lzcnt);
        AddGpr(r, Mnemonic.Popcnt, &Popcnt);
    }

    private static void Bt(Vcpu cpu, ref Instruction ins) => BitTest(cpu, ref ins, 0);

    private static void Bts(Vcpu cpu, ref Instruction ins) => BitTest(cpu, ref ins, 1);

    private static void Btr(Vcpu cpu, ref Instruction ins) => BitTest(cpu, ref ins, 2);

    private static void Btc(Vcpu cpu, ref Instruction ins) => BitTest(cpu, ref ins, 3);

    /// <summary>
    /// <paramref name="op"/>: 0 test, 1 set, 2 reset, 3 complement. A register bit offset with a memory operand
    /// is signed and may address far outside the operand; an immediate offset is taken modulo the operand size.
    /// Only CF changes (ZF is kept; OF/SF/AF/PF are undefined and kept too).
    /// </summary>
    private static void BitTest(Vcpu cpu, ref Instruction ins, int op)
    {
        CpuState s = cpu.State;
        int size = DestSize(ref ins);
        int bits = size * 8;
        ulong offset = ins.Op1Kind == OpKind.Register ? Operands.ReadGpr(s, ins.Op1Register) : ins.GetImmediate(1);
        ulong value, address = 0;
        int bit;
        if (ins.Op0Kind == OpKind.Register)
        {
            bit = (int)(offset & (ulong)(bits - 1));
            value = Operands.ReadGpr(s, ins.Op0Register);
        }
        else
        {
            address = Operands.EffectiveAddress(cpu, ref ins);
            if (ins.Op1Kind == OpKind.Register)
            {
                long signed = (long)Operands.SignExtend(offset, size);
                address += (ulong)((signed >> BitOperations.Log2((uint)bits)) * size);
            }
            bit = (int)(offset & (ulong)(bits - 1));
            value = Operands.ReadMemory(cpu, address, size);
        }
        ulong cf = (value >> bit) & 1;
        if (op != 0)
        {
            ulong m = 1UL << bit;
            ulong result = op switch { 1 => value | m, 2 => value & ~m, _ => value ^ m };
            if (ins.Op0Kind == OpKind.Register) Operands.WriteGpr(s, ins.Op0Register, result);
            else Operands.WriteMemory(cpu, address, size, result);
        }
        Flags.Update(s, CF, cf);
    }

    private static void Bsf(Vcpu cpu, ref Instruction ins) => BitScan(cpu, ref ins, false);

    private static void Bsr(Vcpu cpu, ref Instruction ins) => BitScan(cpu, ref ins, true);

    /// <summary>BSF/BSR: a zero source sets ZF and leaves the destination unchanged (as AMD documents and Intel does).</summary>
    private static void BitScan(Vcpu cpu, ref Instruction ins, bool reverse)
    {
        CpuState s = cpu.State;
        Iced.Intel.Register dst = ins.Op0Register;
        int size = Operands.GprSize(dst);
        ulong v = ReadSource(cpu, ref ins, size);
        if (v == 0)
        {
            Flags.Update(s, ZF, ZF);
            return;
        }
        int index = reverse ? BitOperations.Log2(v) : BitOperations.TrailingZeroCount(v);
        Operands.WriteGpr(s, dst, (ulong)index);
        Flags.Update(s, ZF, 0);
    }

    private static void Tzcnt(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        Iced.Intel.Register dst = ins.Op0Register;
        int size = Operands.GprSize(dst);
        ulong v = ReadSource(cpu, ref ins, size);
        ulong r = v == 0 ? (ulong)(size * 8) : (ulong)BitOperations.TrailingZeroCount(v);
        Operands.WriteGpr(s, dst, r);
        Flags.Update(s, CF | ZF, (v == 0 ? CF : 0) | (r == 0 ? ZF : 0));
    }

    private static void Lzcnt(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        Iced.Intel.Register dst = ins.Op0Register;
        int size = Operands.GprSize(dst);
        ulong v = ReadSource(cpu, ref ins, size);
        ulong r = (ulong)(BitOperations.LeadingZeroCount(v) - (64 - size * 8));
        Operands.WriteGpr(s, dst, r);
        Flags.Update(s, CF | ZF, (v == 0 ? CF : 0) | (r == 0 ? ZF : 0));
    }

    private static void Popcnt(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        Iced.Intel.Register dst = ins.Op0Register;
        ulong v = ReadSource(cpu, ref ins, Operands.GprSize(dst));
        Operands.WriteGpr(s, dst, (ulong)BitOperations.PopCount(v));
        Flags.SetStatus(s, v == 0 ? ZF : 0);
    }
}
