using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Iced.Intel;

namespace Hv.Core.Cpu;

/// <summary>How the arithmetic status flags are derived from the last flag-setting operation.</summary>
internal enum FlagOp : byte
{
    /// <summary>The status flags are in <see cref="CpuState.FlagsBase"/> already.</summary>
    None,
    Add,
    Adc,
    Sub,
    Sbb,
    Logic,
    /// <summary>INC: like ADD 1 but CF is kept in <see cref="CpuState.FlagsBase"/>.</summary>
    Inc,
    /// <summary>DEC: like SUB 1 but CF is kept in <see cref="CpuState.FlagsBase"/>.</summary>
    Dec,
}

/// <summary>
/// The architectural state of one x86-64 virtual CPU in user mode. Status flags are lazy: ALU instructions
/// record operands and result, and flags are computed only when something reads them.
/// </summary>
public sealed class CpuState
{
    /// <summary>General-purpose registers, indexed by <see cref="Cpu.Gpr"/>.</summary>
    public readonly ulong[] Gpr = new ulong[16];

    /// <summary>The instruction pointer.</summary>
    public ulong Rip;

    /// <summary>FS segment base (thread pointer on Linux).</summary>
    public ulong FsBase;

    /// <summary>GS segment base.</summary>
    public ulong GsBase;

    /// <summary>x87, MXCSR and XMM state in FXSAVE layout.</summary>
    public readonly FpuState Fpu = new();

    // Lazy flags. FlagsBase holds every non-status bit, and the status bits too when FlagOp is None.
    internal ulong FlagsBase = (ulong)(Cpu.RFlags.Reserved1 | Cpu.RFlags.IF);
    internal FlagOp FlagOp;
    internal byte FlagSize = 8;
    internal ulong FlagSrc1, FlagSrc2, FlagResult;

    /// <summary>Reads or writes a 64-bit register.</summary>
    public ref ulong this[Gpr register] => ref Gpr[(int)register];

    /// <summary>RFLAGS with the status flags materialized. Setting it replaces every flag.</summary>
    public ulong RFlags
    {
        get => Flags.Materialize(this);
        set
        {
            FlagsBase = (value & 0x0000_0000_003F_7FD5UL) | (ulong)Cpu.RFlags.Reserved1;
            FlagOp = FlagOp.None;
        }
    }

    /// <summary>The direction flag.</summary>
    public bool DF => (FlagsBase & (ulong)Cpu.RFlags.DF) != 0;

    /// <summary>XMM register <paramref name="index"/>.</summary>
    public ref Vector128<byte> Xmm(int index) => ref Fpu.Xmm(index);

    /// <summary>Copies every register from <paramref name="other"/> (for tests and differential checks).</summary>
    public void CopyFrom(CpuState other)
    {
        other.Gpr.CopyTo(Gpr, 0);
        Rip = other.Rip;
        FsBase = other.FsBase;
        GsBase = other.GsBase;
        RFlags = other.RFlags;
        other.Fpu.Area.CopyTo(Fpu.Area);
    }
}

/// <summary>
/// The 512-byte FXSAVE image holding x87, MXCSR and XMM registers, pinned and 64-byte aligned so host
/// FXSAVE/FXRSTOR and vector loads can use it directly. The same layout is what signal frames and gdb expect.
/// </summary>
public sealed unsafe class FpuState
{
    /// <summary>Size of the FXSAVE area.</summary>
    public const int Size = 512;
    /// <summary>Offset of the x87 control word.</summary>
    public const int FcwOffset = 0;
    /// <summary>Offset of the x87 status word.</summary>
    public const int FswOffset = 2;
    /// <summary>Offset of the abridged x87 tag word.</summary>
    public const int FtwOffset = 4;
    /// <summary>Offset of MXCSR.</summary>
    public const int MxcsrOffset = 24;
    /// <summary>Offset of MXCSR_MASK.</summary>
    public const int MxcsrMaskOffset = 28;
    /// <summary>Offset of ST0/MM0 (16 bytes per register).</summary>
    public const int StOffset = 32;
    /// <summary>Offset of XMM0 (16 bytes per register).</summary>
    public const int XmmOffset = 160;

    private readonly byte[] storage = GC.AllocateArray<byte>(Size + 64, pinned: true);
    private readonly int start;
    internal readonly byte* pointer; // the array is pinned: its address never changes (units load it directly)

    /// <summary>Creates the power-on state: FCW 0x037F, MXCSR 0x1F80, everything else zero.</summary>
    public FpuState()
    {
        fixed (byte* p = storage) start = (int)((64 - ((nint)p & 63)) & 63);
        pointer = (byte*)Unsafe.AsPointer(ref storage[start]);
        Reset();
    }

    /// <summary>The FXSAVE image.</summary>
    public Span<byte> Area => storage.AsSpan(start, Size);

    /// <summary>Address of the image (pinned, 64-byte aligned).</summary>
    public byte* Pointer => pointer;

    /// <summary>x87 control word.</summary>
    public ref ushort Fcw => ref Unsafe.As<byte, ushort>(ref storage[start + FcwOffset]);

    /// <summary>x87 status word.</summary>
    public ref ushort Fsw => ref Unsafe.As<byte, ushort>(ref storage[start + FswOffset]);

    /// <summary>MXCSR.</summary>
    public ref uint Mxcsr => ref Unsafe.As<byte, uint>(ref storage[start + MxcsrOffset]);

    /// <summary>XMM register <paramref name="index"/>.</summary>
    public ref Vector128<byte> Xmm(int index) =>
        ref Unsafe.As<byte, Vector128<byte>>(ref storage[start + XmmOffset + 16 * (index & 15)]);

    /// <summary>Resets to the state the kernel gives a new process.</summary>
    public void Reset()
    {
        Area.Clear();
        Fcw = 0x037F;
        Mxcsr = 0x1F80;
        MemoryMarshal.Write(Area[MxcsrMaskOffset..], 0x0000FFFFu);
    }
}
