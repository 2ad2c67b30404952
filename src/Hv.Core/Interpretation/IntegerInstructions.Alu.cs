using System.Runtime.CompilerServices;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>
/// A two-operand ALU operation. Implemented by structs so <see cref="IntegerInstructions"/>' generic handler is
/// specialized per operation by the JIT (no runtime dispatch).
/// </summary>
internal interface IAluOp
{
    /// <summary>False for CMP and TEST, which only set flags.</summary>
    static abstract bool Writes { get; }

    /// <summary>The result (only its low operand-size bits matter). Reads CF for ADC/SBB.</summary>
    static abstract ulong Compute(CpuState s, ulong a, ulong b);

    /// <summary>Records the flags (lazily) once the result has been stored.</summary>
    static abstract void SetFlags(CpuState s, ulong a, ulong b, ulong r, int size);
}

internal static unsafe partial class IntegerInstructions
{
    private struct AddOp : IAluOp
    {
        public static bool Writes => true;
        public static ulong Compute(CpuState s, ulong a, ulong b) => a + b;
        public static void SetFlags(CpuState s, ulong a, ulong b, ulong r, int size) => Flags.SetAdd(s, a, b, r, size);
    }

    private struct AdcOp : IAluOp
    {
        public static bool Writes => true;
        public static ulong Compute(CpuState s, ulong a, ulong b) => a + b + (Flags.GetCF(s) ? 1UL : 0UL);
        public static void SetFlags(CpuState s, ulong a, ulong b, ulong r, int size) => Flags.SetAdc(s, a, b, r, size);
    }

    private struct SubOp : IAluOp
    {
        public static bool Writes => true;
        public static ulong Compute(CpuState s, ulong a, ulong b) => a - b;
        public static void SetFlags(CpuState s, ulong a, ulong b, ulong r, int size) => Flags.SetSub(s, a, b, r, size);
    }

    private struct SbbOp : IAluOp
    {
        public static bool Writes => true;
        public static ulong Compute(CpuState s, ulong a, ulong b) => a - b - (Flags.GetCF(s) ? 1UL : 0UL);
        public static void SetFlags(CpuState s, ulong a, ulong b, ulong r, int size) => Flags.SetSbb(s, a, b, r, size);
    }

    private struct CmpOp : IAluOp
    {
        public static bool Writes => false;
        public static ulong Compute(CpuState s, ulong a, ulong b) => a - b;
        public static void SetFlags(CpuState s, ulong a, ulong b, ulong r, int size) => Flags.SetSub(s, a, b, r, size);
    }

    private struct AndOp : IAluOp
    {
        public static bool Writes => true;
        public static ulong Compute(CpuState s, ulong a, ulong b) => a & b;
        public static void SetFlags(CpuState s, ulong a, ulong b, ulong r, int size) => Flags.SetLogic(s, r, size);
    }

    private struct TestOp : IAluOp
    {
        public static bool Writes => false;
        public static ulong Compute(CpuState s, ulong a, ulong b) => a & b;
        public static void SetFlags(CpuState s, ulong a, ulong b, ulong r, int size) => Flags.SetLogic(s, r, size);
    }

    private struct OrOp : IAluOp
    {
        public static bool Writes => true;
        public static ulong Compute(CpuState s, ulong a, ulong b) => a | b;
        public static void SetFlags(CpuState s, ulong a, ulong b, ulong r, int size) => Flags.SetLogic(s, r, size);
    }

    private struct XorOp : IAluOp
    {
        public static bool Writes => true;
        public static ulong Compute(CpuState s, ulong a, ulong b) => a ^ b;
        public static void SetFlags(CpuState s, ulong a, ulong b, ulong r, int size) => Flags.SetLogic(s, r, size);
    }

    /// <summary>ADD/ADC/SUB/SBB/AND/OR/XOR/CMP/TEST in all forms: r/m op r, r op r/m, r/m op imm, acc op imm.</summary>
    private static void Alu<T>(Vcpu cpu, ref Instruction ins) where T : struct, IAluOp
    {
        CpuState s = cpu.State;
        if (ins.Op0Kind == OpKind.Register)
        {
            Iced.Intel.Register dst = ins.Op0Register;
            int size = Operands.GprSize(dst);
            ulong a = Operands.ReadGpr(s, dst);
            ulong b = ins.Op1Kind == OpKind.Register ? Operands.ReadGpr(s, ins.Op1Register) : ReadSource(cpu, ref ins, size);
            ulong r = T.Compute(s, a, b);
            if (T.Writes) Operands.WriteGpr(s, dst, r);
            T.SetFlags(s, a, b, r, size);
        }
        else
        {
            AluMemory<T>(cpu, ref ins);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AluMemory<T>(Vcpu cpu, ref Instruction ins) where T : struct, IAluOp
    {
        CpuState s = cpu.State;
        ulong address = Operands.EffectiveAddress(cpu, ref ins);
        int size = ins.MemorySize.GetSize();
        ulong b = ins.Op1Kind == OpKind.Register ? Operands.ReadGpr(s, ins.Op1Register) : ins.GetImmediate(1);
        ulong a = Operands.ReadMemory(cpu, address, size);
        ulong r = T.Compute(s, a, b);
        if (T.Writes) Operands.WriteMemory(cpu, address, size, r);
        T.SetFlags(s, a, b, r, size);
    }

    private static void Neg(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        int size = DestSize(ref ins);
        if (ins.Op0Kind == OpKind.Register)
        {
            ulong a = Operands.ReadGpr(s, ins.Op0Register);
            Operands.WriteGpr(s, ins.Op0Register, 0 - a);
            Flags.SetSub(s, 0, a, 0 - a, size);
        }
        else
        {
            ulong address = Operands.EffectiveAddress(cpu, ref ins);
            ulong a = Operands.ReadMemory(cpu, address, size);
            Operands.WriteMemory(cpu, address, size, 0 - a);
            Flags.SetSub(s, 0, a, 0 - a, size);
        }
    }

    private static void Not(Vcpu cpu, ref Instruction ins)
    {
        if (ins.Op0Kind == OpKind.Register)
        {
            Operands.WriteGpr(cpu.State, ins.Op0Register, ~Operands.ReadGpr(cpu.State, ins.Op0Register));
        }
        else
        {
            int size = ins.MemorySize.GetSize();
            ulong address = Operands.EffectiveAddress(cpu, ref ins);
            Operands.WriteMemory(cpu, address, size, ~Operands.ReadMemory(cpu, address, size));
        }
    }

    private static void Inc(Vcpu cpu, ref Instruction ins) => IncDec(cpu, ref ins, false);

    private static void Dec(Vcpu cpu, ref Instruction ins) => IncDec(cpu, ref ins, true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void IncDec(Vcpu cpu, ref Instruction ins, bool isDec)
    {
        CpuState s = cpu.State;
        ulong delta = isDec ? ulong.MaxValue : 1;
        if (ins.Op0Kind == OpKind.Register)
        {
            Iced.Intel.Register dst = ins.Op0Register;
            ulong a = Operands.ReadGpr(s, dst);
            Operands.WriteGpr(s, dst, a + delta);
            Flags.SetIncDec(s, isDec, a, a + delta, Operands.GprSize(dst));
        }
        else
        {
            int size = ins.MemorySize.GetSize();
            ulong address = Operands.EffectiveAddress(cpu, ref ins);
            ulong a = Operands.ReadMemory(cpu, address, size);
            Operands.WriteMemory(cpu, address, size, a + delta);
            Flags.SetIncDec(s, isDec, a, a + delta, size);
        }
    }
}
