using System.Numerics;
using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Hv.Core.Cpu;

/// <summary>
/// Lazy status-flag evaluation. Instructions record what they computed with the Set* methods; readers ask for
/// one flag or a condition, and only that is computed. Instructions whose flags are awkward to describe lazily
/// (shifts, rotates, multiplies, BT…) compute them eagerly and call <see cref="SetStatus"/>.
/// </summary>
internal static class Flags
{
    private const ulong StatusMask = (ulong)RFlags.Status;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetAdd(CpuState s, ulong a, ulong b, ulong result, int size) => Set(s, FlagOp.Add, a, b, result, size);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetSub(CpuState s, ulong a, ulong b, ulong result, int size) => Set(s, FlagOp.Sub, a, b, result, size);

    /// <summary>ADC: <paramref name="result"/> includes the carry-in.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetAdc(CpuState s, ulong a, ulong b, ulong result, int size) => Set(s, FlagOp.Adc, a, b, result, size);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetSbb(CpuState s, ulong a, ulong b, ulong result, int size) => Set(s, FlagOp.Sbb, a, b, result, size);

    /// <summary>AND/OR/XOR/TEST: CF=OF=AF=0, ZF/SF/PF from the result.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetLogic(CpuState s, ulong result, int size) => Set(s, FlagOp.Logic, 0, 0, result, size);

    /// <summary>INC/DEC: keep CF, everything else from the result.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetIncDec(CpuState s, bool isDec, ulong a, ulong result, int size)
    {
        // CF is already in FlagsBase after eager flags and INC/DEC, and 0 after logic: no call for those.
        ulong cf = s.FlagOp switch
        {
            FlagOp.None or FlagOp.Inc or FlagOp.Dec => s.FlagsBase & (ulong)RFlags.CF,
            FlagOp.Logic => 0,
            _ => GetCF(s) ? 1UL : 0UL,
        };
        s.FlagsBase = (s.FlagsBase & ~(ulong)RFlags.CF) | cf;
        Set(s, isDec ? FlagOp.Dec : FlagOp.Inc, a, 1, result, size);
    }

    /// <summary>INC/DEC when the incoming CF is already known (translated code derives it from the previous compare).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetIncDecWithCarry(CpuState s, bool isDec, ulong a, ulong result, int size, bool carry)
    {
        s.FlagsBase = (s.FlagsBase & ~(ulong)RFlags.CF) | (carry ? 1UL : 0UL);
        Set(s, isDec ? FlagOp.Dec : FlagOp.Inc, a, 1, result, size);
    }

    /// <summary>Sets the six status flags to exactly <paramref name="statusBits"/> (other bits ignored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetStatus(CpuState s, ulong statusBits)
    {
        s.FlagsBase = (s.FlagsBase & ~StatusMask) | (statusBits & StatusMask);
        s.FlagOp = FlagOp.None;
    }

    /// <summary>Changes only the flags in <paramref name="mask"/>, keeping the others (materializing them first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Update(CpuState s, ulong mask, ulong bits)
    {
        // Eager flags already (after another partial writer, say): no call.
        ulong current = s.FlagOp == FlagOp.None ? s.FlagsBase : Materialize(s);
        s.FlagsBase = (current & ~mask) | (bits & mask);
        s.FlagOp = FlagOp.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Set(CpuState s, FlagOp op, ulong a, ulong b, ulong result, int size)
    {
        s.FlagOp = op;
        s.FlagSrc1 = a;
        s.FlagSrc2 = b;
        s.FlagResult = result;
        s.FlagSize = (byte)size;
    }

    /// <summary>Full RFLAGS; afterwards the state holds flags eagerly.</summary>
    // Translated code calls this (and Condition) from its first run: optimize at once instead of tier 0.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ulong Materialize(CpuState s)
    {
        FlagOp op = s.FlagOp;
        if (op == FlagOp.None) return s.FlagsBase;
        // One dispatch on the operation for all six flags (the Get* methods each dispatch again).
        int sh = SignShift(s.FlagSize);
        ulong m = Mask(s.FlagSize);
        ulong a = s.FlagSrc1, b = s.FlagSrc2, r = s.FlagResult;
        ulong am = a & m, bm = b & m, rm = r & m;
        ulong f = s.FlagsBase & ~StatusMask;
        ulong cf = s.FlagsBase & (ulong)RFlags.CF, of, af = (a ^ b ^ r) & (ulong)RFlags.AF;
        ulong addOf = (((a ^ r) & (b ^ r)) >> sh) & 1, subOf = (((a ^ b) & (a ^ r)) >> sh) & 1;
        switch (op)
        {
            case FlagOp.Add: cf = rm < am ? 1UL : 0; of = addOf; break;
            case FlagOp.Adc: cf = (((rm - am - bm) & m) != 0 ? rm <= am : rm < am) ? 1UL : 0; of = addOf; break;
            case FlagOp.Sub: cf = am < bm ? 1UL : 0; of = subOf; break;
            case FlagOp.Sbb: cf = (((am - bm - rm) & m) != 0 ? am <= bm : am < bm) ? 1UL : 0; of = subOf; break;
            case FlagOp.Inc: of = addOf; break;
            case FlagOp.Dec: of = subOf; break;
            default: cf = 0; of = 0; af = 0; break; // Logic
        }
        f |= cf | af | (of << 11) | (((r >> sh) & 1) << 7) | (rm == 0 ? (ulong)RFlags.ZF : 0)
            | ((ulong)(~BitOperations.PopCount(r & 0xFF) & 1) << 2);
        s.FlagsBase = f;
        s.FlagOp = FlagOp.None;
        return f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mask(int size) => size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SignShift(int size) => size * 8 - 1;

    public static bool GetCF(CpuState s)
    {
        ulong m = Mask(s.FlagSize);
        ulong a = s.FlagSrc1 & m, b = s.FlagSrc2 & m, r = s.FlagResult & m;
        return s.FlagOp switch
        {
            FlagOp.None or FlagOp.Inc or FlagOp.Dec => (s.FlagsBase & (ulong)RFlags.CF) != 0,
            FlagOp.Add => r < a,
            // The carry-in is recoverable from the result: r = a + b + c and r = a - b - c (mod 2^n).
            FlagOp.Adc => ((r - a - b) & m) != 0 ? r <= a : r < a,
            FlagOp.Sub => a < b,
            FlagOp.Sbb => ((a - b - r) & m) != 0 ? a <= b : a < b,
            _ => false, // Logic
        };
    }

    public static bool GetZF(CpuState s) => s.FlagOp == FlagOp.None
        ? (s.FlagsBase & (ulong)RFlags.ZF) != 0
        : (s.FlagResult & Mask(s.FlagSize)) == 0;

    public static bool GetSF(CpuState s) => s.FlagOp == FlagOp.None
        ? (s.FlagsBase & (ulong)RFlags.SF) != 0
        : ((s.FlagResult >> SignShift(s.FlagSize)) & 1) != 0;

    public static bool GetPF(CpuState s) => s.FlagOp == FlagOp.None
        ? (s.FlagsBase & (ulong)RFlags.PF) != 0
        : (BitOperations.PopCount(s.FlagResult & 0xFF) & 1) == 0;

    public static bool GetAF(CpuState s) => s.FlagOp switch
    {
        FlagOp.None => (s.FlagsBase & (ulong)RFlags.AF) != 0,
        FlagOp.Logic => false,
        _ => ((s.FlagSrc1 ^ s.FlagSrc2 ^ s.FlagResult) & 0x10) != 0,
    };

    public static bool GetOF(CpuState s)
    {
        int sh = SignShift(s.FlagSize);
        ulong a = s.FlagSrc1, b = s.FlagSrc2, r = s.FlagResult;
        return s.FlagOp switch
        {
            FlagOp.None => (s.FlagsBase & (ulong)RFlags.OF) != 0,
            FlagOp.Add or FlagOp.Adc or FlagOp.Inc => ((((a ^ r) & (b ^ r)) >> sh) & 1) != 0,
            FlagOp.Sub or FlagOp.Sbb or FlagOp.Dec => ((((a ^ b) & (a ^ r)) >> sh) & 1) != 0,
            _ => false,
        };
    }

    /// <summary>Evaluates a condition code (Jcc, SETcc, CMOVcc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Condition(CpuState s, ConditionCode cc) => cc switch
    {
        ConditionCode.o => GetOF(s),
        ConditionCode.no => !GetOF(s),
        ConditionCode.b => GetCF(s),
        ConditionCode.ae => !GetCF(s),
        ConditionCode.e => GetZF(s),
        ConditionCode.ne => !GetZF(s),
        ConditionCode.be => GetCF(s) || GetZF(s),
        ConditionCode.a => !GetCF(s) && !GetZF(s),
        ConditionCode.s => GetSF(s),
        ConditionCode.ns => !GetSF(s),
        ConditionCode.p => GetPF(s),
        ConditionCode.np => !GetPF(s),
        ConditionCode.l => GetSF(s) != GetOF(s),
        ConditionCode.ge => GetSF(s) == GetOF(s),
        ConditionCode.le => GetZF(s) || GetSF(s) != GetOF(s),
        ConditionCode.g => !GetZF(s) && GetSF(s) == GetOF(s),
        _ => throw new ArgumentOutOfRangeException(nameof(cc)),
    };
}
