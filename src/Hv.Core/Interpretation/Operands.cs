using System.Runtime.CompilerServices;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>
/// Operand access shared by every instruction group: general registers at every width (incl. AH..BH),
/// effective addresses with FS/GS bases, memory through the MMU, and immediates.
/// </summary>
internal static class Operands
{
    /// <summary>Per Iced register: GPR index, width in bytes and whether it is a high-byte register.</summary>
    private static readonly (byte Index, byte Size, bool High)[] GprInfo = BuildGprInfo();

    private static (byte, byte, bool)[] BuildGprInfo()
    {
        var t = new (byte, byte, bool)[Enum.GetValues<Register>().Length];
        for (int i = 0; i < 16; i++)
        {
            t[(int)Register.RAX + i] = ((byte)i, 8, false);
            t[(int)Register.EAX + i] = ((byte)i, 4, false);
            t[(int)Register.AX + i] = ((byte)i, 2, false);
        }
        // Iced order: AL CL DL BL AH CH DH BH SPL BPL SIL DIL R8L..R15L
        for (int i = 0; i < 4; i++)
        {
            t[(int)Register.AL + i] = ((byte)i, 1, false);
            t[(int)Register.AH + i] = ((byte)i, 1, true);
        }
        for (int i = 4; i < 16; i++) t[(int)Register.SPL + (i - 4)] = ((byte)i, 1, false);
        return t;
    }

    /// <summary>GPR index of a general register of any width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int GprIndex(Register r) => GprInfo[(int)r].Index;

    /// <summary>Width in bytes of a general register.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int GprSize(Register r) => GprInfo[(int)r].Size;

    /// <summary>Reads a general register, zero-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReadGpr(CpuState s, Register r)
    {
        var (index, size, high) = GprInfo[(int)r];
        ulong v = s.Gpr[index];
        return size switch
        {
            8 => v,
            4 => (uint)v,
            2 => (ushort)v,
            _ => high ? (byte)(v >> 8) : (byte)v,
        };
    }

    /// <summary>Writes a general register with x86-64 rules: 32-bit writes zero the upper half, 8/16-bit writes merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteGpr(CpuState s, Register r, ulong value)
    {
        var (index, size, high) = GprInfo[(int)r];
        ref ulong reg = ref s.Gpr[index];
        switch (size)
        {
            case 8: reg = value; break;
            case 4: reg = (uint)value; break;
            case 2: reg = (reg & ~0xFFFFUL) | (ushort)value; break;
            default:
                if (high) reg = (reg & ~0xFF00UL) | ((ulong)(byte)value << 8);
                else reg = (reg & ~0xFFUL) | (byte)value;
                break;
        }
    }

    /// <summary>The effective address of the instruction's memory operand, including an FS/GS base.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EffectiveAddress(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong address = ins.MemoryDisplacement64; // absolute target for RIP-relative operands
        Register b = ins.MemoryBase;
        if (b != Register.None && b != Register.RIP) address += ReadGpr(s, b);
        Register x = ins.MemoryIndex;
        if (x != Register.None) address += ReadGpr(s, x) << (ins.MemoryIndexScale switch { 1 => 0, 2 => 1, 4 => 2, _ => 3 });
        Register seg = ins.SegmentPrefix;
        if (seg == Register.FS) address += s.FsBase;
        else if (seg == Register.GS) address += s.GsBase;
        if (ins.AddressSize32()) address = (uint)address;
        return address;
    }

    /// <summary>True for instructions with a 0x67 address-size prefix (32-bit addressing).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AddressSize32(this ref Instruction ins) =>
        ins.MemoryBase is >= Register.EAX and <= Register.R15D || ins.MemoryIndex is >= Register.EAX and <= Register.R15D;

    /// <summary>Operand width in bytes of operand <paramref name="op"/> (register or memory).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Size(ref Instruction ins, int op) =>
        ins.GetOpKind(op) == OpKind.Register ? GprSize(ins.GetOpRegister(op)) : ins.MemorySize.GetSize();

    /// <summary>Reads integer operand <paramref name="op"/> (register, memory or immediate), zero-extended.</summary>
    public static ulong Read(Vcpu cpu, ref Instruction ins, int op, int size)
    {
        switch (ins.GetOpKind(op))
        {
            case OpKind.Register:
                return ReadGpr(cpu.State, ins.GetOpRegister(op));
            case OpKind.Memory:
                return ReadMemory(cpu, EffectiveAddress(cpu, ref ins), size);
            default:
                return ins.GetImmediate(op) & SizeMask(size);
        }
    }

    /// <summary>Writes integer operand <paramref name="op"/> (register or memory).</summary>
    public static void Write(Vcpu cpu, ref Instruction ins, int op, int size, ulong value)
    {
        if (ins.GetOpKind(op) == OpKind.Register) WriteGpr(cpu.State, ins.GetOpRegister(op), value);
        else WriteMemory(cpu, EffectiveAddress(cpu, ref ins), size, value);
    }

    /// <summary>Loads 1, 2, 4 or 8 bytes, zero-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReadMemory(Vcpu cpu, ulong address, int size) => size switch
    {
        8 => cpu.Memory.Read64(address),
        4 => cpu.Memory.Read32(address),
        2 => cpu.Memory.Read16(address),
        _ => cpu.Memory.Read8(address),
    };

    /// <summary>Stores the low 1, 2, 4 or 8 bytes of <paramref name="value"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteMemory(Vcpu cpu, ulong address, int size, ulong value)
    {
        switch (size)
        {
            case 8: cpu.Memory.Write64(address, value); break;
            case 4: cpu.Memory.Write32(address, (uint)value); break;
            case 2: cpu.Memory.Write16(address, (ushort)value); break;
            default: cpu.Memory.Write8(address, (byte)value); break;
        }
    }

    /// <summary>All-ones mask of <paramref name="size"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SizeMask(int size) => size >= 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    /// <summary>Sign-extends the low <paramref name="size"/> bytes of <paramref name="value"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SignExtend(ulong value, int size) => size switch
    {
        1 => (ulong)(long)(sbyte)value,
        2 => (ulong)(long)(short)value,
        4 => (ulong)(long)(int)value,
        _ => value,
    };

    /// <summary>Pushes a 64-bit value (the store happens before RSP changes, so a fault leaves RSP intact).</summary>
    public static void Push64(Vcpu cpu, ulong value)
    {
        ulong rsp = cpu.State.Gpr[(int)Gpr.Rsp] - 8;
        cpu.Memory.Write64(rsp, value);
        cpu.State.Gpr[(int)Gpr.Rsp] = rsp;
    }

    /// <summary>Pops a 64-bit value.</summary>
    public static ulong Pop64(Vcpu cpu)
    {
        ulong rsp = cpu.State.Gpr[(int)Gpr.Rsp];
        ulong value = cpu.Memory.Read64(rsp);
        cpu.State.Gpr[(int)Gpr.Rsp] = rsp + 8;
        return value;
    }
}
