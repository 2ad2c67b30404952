using System.Runtime.CompilerServices;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>MUL, IMUL (one, two and three operands), DIV and IDIV.</summary>
internal static unsafe partial class IntegerInstructions
{
    private static void RegisterMulDiv(HandlerRegistry r)
    {
        AddGpr(r, Mnemonic.Mul, &Mul);
        AddGpr(r, Mnemonic.Imul, &Imul);
        AddGpr(r, Mnemonic.Div, &Div);
        AddGpr(r, Mnemonic.Idiv, &Idiv);
    }

    /// <summary>The single r/m operand of MUL/IMUL/DIV/IDIV and its size.</summary>
    private static ulong ReadRm(Vcpu cpu, ref Instruction ins, out int size)
    {
        if (ins.Op0Kind == OpKind.Register)
        {
            size = Operands.GprSize(ins.Op0Register);
            return Operands.ReadGpr(cpu.State, ins.Op0Register);
        }
        size = ins.MemorySize.GetSize();
        return Operands.ReadMemory(cpu, Operands.EffectiveAddress(cpu, ref ins), size);
    }

    /// <summary>Stores a double-width result: AX for bytes, else rDX:rAX.</summary>
    private static void WriteWide(CpuState s, int size, ulong low, ulong high)
    {
        ulong[] g = s.Gpr;
        switch (size)
        {
            case 1: g[0] = (g[0] & ~0xFFFFUL) | ((high & 0xFF) << 8) | (low & 0xFF); break;
            case 2:
                g[0] = (g[0] & ~0xFFFFUL) | (low & 0xFFFF);
                g[2] = (g[2] & ~0xFFFFUL) | (high & 0xFFFF);
                break;
            case 4: g[0] = (uint)low; g[2] = (uint)high; break;
            default: g[0] = low; g[2] = high; break;
        }
    }

    private static void Mul(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong b = ReadRm(cpu, ref ins, out int size);
        ulong a = s.Gpr[0] & Operands.SizeMask(size);
        ulong low, high;
        if (size == 8)
        {
            high = Math.BigMul(a, b, out low);
        }
        else
        {
            ulong p = a * b;
            low = p & Operands.SizeMask(size);
            high = p >> (size * 8);
        }
        WriteWide(s, size, low, high);
        ulong co = high != 0 ? CF | OF : 0;
        Flags.SetStatus(s, co | SzpFlags(low, size));
    }

    private static void Imul(Vcpu cpu, ref Instruction ins)
    {
        if (ins.OpCount == 1)
        {
            Imul1(cpu, ref ins);
            return;
        }
        CpuState s = cpu.State;
        Iced.Intel.Register dst = ins.Op0Register;
        int size = Operands.GprSize(dst);
        ulong a, b;
        if (ins.OpCount == 2)
        {
            b = ReadSource(cpu, ref ins, size);
            a = Operands.ReadGpr(s, dst);
        }
        else
        {
            a = ReadSource(cpu, ref ins, size);
            b = ins.GetImmediate(2);
        }
        ulong low = ImulCore(a, b, size, out ulong flags);
        Operands.WriteGpr(s, dst, low);
        Flags.SetStatus(s, flags);
    }

    /// <summary>Two- and three-operand IMUL: the truncated product and the status flags (translated code calls this too).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong ImulCore(ulong a, ulong b, int size, out ulong flags)
    {
        ulong low;
        bool overflow;
        if (size == 8)
        {
            long high = Math.BigMul((long)a, (long)b, out long lo);
            low = (ulong)lo;
            overflow = high != (lo >> 63);
        }
        else
        {
            long p = (long)Operands.SignExtend(a, size) * (long)Operands.SignExtend(b, size);
            low = (ulong)p & Operands.SizeMask(size);
            overflow = (long)Operands.SignExtend(low, size) != p;
        }
        flags = (overflow ? CF | OF : 0) | SzpFlags(low, size);
        return low;
    }

    private static void Imul1(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong b = ReadRm(cpu, ref ins, out int size);
        ulong a = s.Gpr[0];
        ulong low, high;
        bool overflow;
        if (size == 8)
        {
            long hi = Math.BigMul((long)a, (long)b, out long lo);
            low = (ulong)lo;
            high = (ulong)hi;
            overflow = hi != (lo >> 63);
        }
        else
        {
            long p = (long)Operands.SignExtend(a, size) * (long)Operands.SignExtend(b, size);
            low = (ulong)p & Operands.SizeMask(size);
            high = (ulong)(p >> (size * 8));
            overflow = (long)Operands.SignExtend(low, size) != p;
        }
        WriteWide(s, size, low, high);
        Flags.SetStatus(s, (overflow ? CF | OF : 0) | SzpFlags(low, size));
    }

    private static GuestFaultException DivideError(string detail) =>
        new(new GuestFault(FaultKind.DivideError, 0, AccessKind.Execute, detail));

    // DIV/IDIV leave every status flag undefined; Hv leaves them unchanged.
    private static void Div(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong divisor = ReadRm(cpu, ref ins, out int size);
        if (divisor == 0) throw DivideError("divide by zero");
        ulong[] g = s.Gpr;
        ulong q, rem;
        switch (size)
        {
            case 1:
            {
                ulong dividend = g[0] & 0xFFFF;
                q = dividend / divisor;
                rem = dividend % divisor;
                if (q > 0xFF) throw DivideError("divide overflow");
                g[0] = (g[0] & ~0xFFFFUL) | (rem << 8) | q;
                return;
            }
            case 2:
            case 4:
            {
                int bits = size * 8;
                ulong m = Operands.SizeMask(size);
                ulong dividend = ((g[2] & m) << bits) | (g[0] & m);
                q = dividend / divisor;
                rem = dividend % divisor;
                if (q > m) throw DivideError("divide overflow");
                break;
            }
            default:
            {
                ulong high = g[2], low = g[0];
                if (high >= divisor) throw DivideError("divide overflow");
                if (high == 0)
                {
                    q = low / divisor;
                    rem = low % divisor;
                }
                else
                {
                    UInt128 dividend = new(high, low);
                    q = (ulong)(dividend / divisor);
                    rem = (ulong)(dividend % divisor);
                }
                break;
            }
        }
        WriteWide(s, size, q, rem);
    }

    private static void Idiv(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong raw = ReadRm(cpu, ref ins, out int size);
        if (raw == 0) throw DivideError("divide by zero");
        long divisor = (long)Operands.SignExtend(raw, size);
        ulong[] g = s.Gpr;
        long q, rem;
        if (size == 8)
        {
            long high = (long)g[2];
            long low = (long)g[0];
            if (high == (low >> 63))
            {
                if (low == long.MinValue && divisor == -1) throw DivideError("divide overflow");
                q = low / divisor;
                rem = low % divisor;
            }
            else
            {
                var dividend = new Int128((ulong)high, (ulong)low);
                // Int128.MinValue / -1 would throw; negation wraps instead and the range check catches it.
                Int128 wq = divisor == -1 ? -dividend : dividend / divisor;
                if (wq > long.MaxValue || wq < long.MinValue) throw DivideError("divide overflow");
                q = (long)wq;
                rem = divisor == -1 ? 0 : (long)(dividend % divisor);
            }
        }
        else
        {
            int bits = size * 8;
            long dividend = size == 1
                ? (short)g[0]
                : (long)Operands.SignExtend(((g[2] & Operands.SizeMask(size)) << bits) | (g[0] & Operands.SizeMask(size)), size * 2);
            if (divisor == -1 && dividend == long.MinValue) throw DivideError("divide overflow");
            q = dividend / divisor;
            rem = dividend % divisor;
            long limit = 1L << (bits - 1);
            if (q >= limit || q < -limit) throw DivideError("divide overflow");
        }
        if (size == 1) g[0] = (g[0] & ~0xFFFFUL) | (((ulong)rem & 0xFF) << 8) | ((ulong)q & 0xFF);
        else WriteWide(s, size, (ulong)q, (ulong)rem);
    }
}
