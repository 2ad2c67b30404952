using System.Runtime.CompilerServices;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>Shifts, rotates and double shifts. Flags are computed eagerly; a zero (masked) count changes nothing.</summary>
internal static unsafe partial class IntegerInstructions
{
    private static void RegisterShifts(HandlerRegistry r)
    {
        AddGpr(r, Mnemonic.Shl, &Shl);
        AddGpr(r, Mnemonic.Sal, &Shl);
        AddGpr(r, Mnemonic.Shr, &Shr);
        AddGpr(r, Mnemonic.Sar, &Sar);
        AddGpr(r, Mnemonic.Rol, &Rol);
        AddGpr(r, Mnemonic.Ror, &Ror);
        AddGpr(r, Mnemonic.Rcl, &Rcl);
        AddGpr(r, Mnemonic.Rcr, &Rcr);
        AddGpr(r, Mnemonic.Shld, &Shld);
        AddGpr(r, Mnemonic.Shrd, &Shrd);
    }

    /// <summary>Reads operand 0 (register or memory); <paramref name="address"/> is set for memory operands.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadDest(Vcpu cpu, ref Instruction ins, out ulong address, out int size)
    {
        if (ins.Op0Kind == OpKind.Register)
        {
            address = 0;
            size = Operands.GprSize(ins.Op0Register);
            return Operands.ReadGpr(cpu.State, ins.Op0Register);
        }
        address = Operands.EffectiveAddress(cpu, ref ins);
        size = ins.MemorySize.GetSize();
        return Operands.ReadMemory(cpu, address, size);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteDest(Vcpu cpu, ref Instruction ins, ulong address, int size, ulong value)
    {
        if (ins.Op0Kind == OpKind.Register) Operands.WriteGpr(cpu.State, ins.Op0Register, value);
        else Operands.WriteMemory(cpu, address, size, value);
    }

    /// <summary>The count operand (CL, imm8 or the implicit 1) masked to 5 bits, or 6 for 64-bit operands.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ShiftCount(CpuState s, ref Instruction ins, int op, int size)
    {
        ulong raw = ins.GetOpKind(op) == OpKind.Register ? s.Gpr[1] : ins.GetImmediate(op);
        return (int)(raw & (size == 8 ? 63UL : 31UL));
    }

    /// <summary>
    /// A zero count changes no flags and no memory, but a 32-bit register destination is still written, so its
    /// upper half is cleared (the host CPU does this).
    /// </summary>
    private static void ZeroCount(Vcpu cpu, ref Instruction ins, int size, ulong value)
    {
        if (size == 4 && ins.Op0Kind == OpKind.Register) Operands.WriteGpr(cpu.State, ins.Op0Register, value);
    }

    /// <summary>
    /// The common start of every shift and rotate: reads the destination and the masked count (operand
    /// <paramref name="countOp"/>); a zero count is handled here and returns false.
    /// </summary>
    private static bool BeginShift(Vcpu cpu, ref Instruction ins, int countOp, out ulong a, out ulong address, out int size, out int c)
    {
        a = ReadDest(cpu, ref ins, out address, out size);
        c = ShiftCount(cpu.State, ref ins, countOp, size);
        if (c != 0) return true;
        ZeroCount(cpu, ref ins, size, a);
        return false;
    }

    private static void Shl(Vcpu cpu, ref Instruction ins) => Shift(cpu, ref ins, &ShlCore);

    /// <summary>SHL/SHR/SAR: a zero masked count changes nothing; otherwise <paramref name="core"/> gives result and flags.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Shift(Vcpu cpu, ref Instruction ins, delegate*<ulong, int, int, out ulong, ulong> core)
    {
        if (!BeginShift(cpu, ref ins, 1, out ulong a, out ulong address, out int size, out int c)) return;
        ulong r = core(a, c, size, out ulong flags);
        WriteDest(cpu, ref ins, address, size, r);
        Flags.SetStatus(cpu.State, flags);
    }

    /// <summary>SHL by a nonzero masked count: the result and the status flags (translated code calls this too).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong ShlCore(ulong a, int c, int size, out ulong flags)
    {
        int n = size * 8;
        ulong r = (a << c) & Operands.SizeMask(size);
        ulong cf = c <= n ? (a >> (n - c)) & 1 : 0;
        ulong of = ((r >> (n - 1)) & 1) ^ cf;
        flags = cf | (of << 11) | SzpFlags(r, size);
        return r;
    }

    private static void Shr(Vcpu cpu, ref Instruction ins) => Shift(cpu, ref ins, &ShrCore);

    /// <summary>SHR by a nonzero masked count (<paramref name="a"/> zero-extended from <paramref name="size"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong ShrCore(ulong a, int c, int size, out ulong flags)
    {
        int n = size * 8;
        ulong r = a >> c;
        ulong cf = (a >> (c - 1)) & 1;
        ulong of = c == 1 ? (a >> (n - 1)) & 1 : 0;
        flags = cf | (of << 11) | SzpFlags(r, size);
        return r;
    }

    private static void Sar(Vcpu cpu, ref Instruction ins) => Shift(cpu, ref ins, &SarCore);

    /// <summary>SAR by a nonzero masked count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong SarCore(ulong a, int c, int size, out ulong flags)
    {
        long sa = (long)Operands.SignExtend(a, size);
        ulong r = (ulong)(sa >> c) & Operands.SizeMask(size);
        ulong cf = (ulong)(sa >> (c - 1)) & 1;
        flags = cf | SzpFlags(r, size);
        return r;
    }

    private static void Rol(Vcpu cpu, ref Instruction ins) => Rotate(cpu, ref ins, left: true);

    private static void Ror(Vcpu cpu, ref Instruction ins) => Rotate(cpu, ref ins, left: false);

    /// <summary>ROL/ROR: CF is the bit that wrapped around; OF (defined for count 1) from the top two bits.</summary>
    private static void Rotate(Vcpu cpu, ref Instruction ins, bool left)
    {
        CpuState s = cpu.State;
        if (!BeginShift(cpu, ref ins, 1, out ulong a, out ulong address, out int size, out int c)) return;
        ulong r = RotateCore(a, c, size, left, out ulong flags);
        WriteDest(cpu, ref ins, address, size, r);
        Flags.Update(s, RotateFlags, flags);
    }

    /// <summary>The flags ROL/ROR change (the others keep their values).</summary>
    internal const ulong RotateFlags = CF | OF;

    /// <summary>ROL/ROR by a nonzero masked count: the result and its CF/OF bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong RotateCore(ulong a, int c, int size, bool left, out ulong flags)
    {
        int n = size * 8, rc = c & (n - 1);
        ulong m = Operands.SizeMask(size);
        ulong r = rc == 0 ? a
            : left ? ((a << rc) | (a >> (n - rc))) & m
            : ((a >> rc) | (a << (n - rc))) & m;
        ulong cf = left ? r & 1 : (r >> (n - 1)) & 1;
        ulong of = left ? ((r >> (n - 1)) & 1) ^ cf : cf ^ ((r >> (n - 2)) & 1);
        flags = cf | (of << 11);
        return r;
    }

    private static void Rcl(Vcpu cpu, ref Instruction ins) => RotateThroughCarry(cpu, ref ins, left: true);

    private static void Rcr(Vcpu cpu, ref Instruction ins) => RotateThroughCarry(cpu, ref ins, left: false);

    /// <summary>RCL/RCR: rotate the (n+1)-bit value CF:dest.</summary>
    private static void RotateThroughCarry(Vcpu cpu, ref Instruction ins, bool left)
    {
        CpuState s = cpu.State;
        if (!BeginShift(cpu, ref ins, 1, out ulong a, out ulong address, out int size, out int c)) return;
        int n = size * 8;
        int rc = size <= 2 ? c % (n + 1) : c;
        ulong cfIn = Flags.GetCF(s) ? 1UL : 0UL;
        UInt128 wide = ((UInt128)cfIn << n) | a;
        UInt128 wmask = (UInt128.One << (n + 1)) - 1;
        UInt128 rotated = rc == 0 ? wide
            : left ? ((wide << rc) | (wide >> (n + 1 - rc))) & wmask
            : ((wide >> rc) | (wide << (n + 1 - rc))) & wmask;
        ulong r = (ulong)rotated & Operands.SizeMask(size);
        ulong cf = (ulong)(rotated >> n) & 1;
        WriteDest(cpu, ref ins, address, size, r);
        // OF (defined for count 1): RCL — new top bit xor CF; RCR — old top bit xor the incoming CF.
        ulong of = left ? ((r >> (n - 1)) & 1) ^ cf : ((a >> (n - 1)) & 1) ^ cfIn;
        Flags.Update(s, CF | OF, cf | (of << 11));
    }

    private static void Shld(Vcpu cpu, ref Instruction ins) => DoubleShift(cpu, ref ins, left: true);

    private static void Shrd(Vcpu cpu, ref Instruction ins) => DoubleShift(cpu, ref ins, left: false);

    /// <summary>SHLD/SHRD: shift the destination, filling from the source register.</summary>
    private static void DoubleShift(Vcpu cpu, ref Instruction ins, bool left)
    {
        CpuState s = cpu.State;
        if (!BeginShift(cpu, ref ins, 2, out ulong a, out ulong address, out int size, out int c)) return;
        int n = size * 8;
        ulong src = Operands.ReadGpr(s, ins.Op1Register);
        ulong m = Operands.SizeMask(size);
        ulong r, cf;
        if (c <= n)
        {
            r = left
                ? ((a << c) | (c == n ? src : src >> (n - c))) & m
                : ((a >> c) | (c == n ? src : src << (n - c))) & m;
            cf = left ? (a >> (n - c)) & 1 : (a >> (c - 1)) & 1;
        }
        else
        {
            // Only 16-bit operands get here (count 17..31): the result is architecturally undefined.
            r = left
                ? ((src << (c - n)) | (a >> (2 * n - c))) & m
                : ((src >> (c - n)) | (a << (2 * n - c))) & m;
            cf = left ? (src >> (2 * n - c)) & 1 : (src >> (c - n - 1)) & 1;
        }
        WriteDest(cpu, ref ins, address, size, r);
        ulong of = ((r ^ a) >> (n - 1)) & 1;
        Flags.SetStatus(s, cf | (of << 11) | SzpFlags(r, size));
    }
}
