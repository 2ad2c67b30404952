using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Hv.Core.Cpu;

namespace Hv.Core.Translation;

/// <summary>
/// The fast path of inline SSE floating-point arithmetic in translated code. Each method computes the result on
/// the host (which runs round-to-nearest with every exception masked) and returns true only when that result is
/// exactly what the guest's instruction gives <em>and</em> the instruction raises no MXCSR flag other than PE:
/// operands are zero or normal (no NaN, infinity or denormal: no IE, DE, DAZ effect), and the result is zero
/// only when exactly zero and otherwise strictly above the smallest normal (no UE/FTZ effect) and finite (no OE,
/// ZE). The emitted code additionally requires the guest MXCSR to say round-to-nearest, PE masked and PE already
/// set (sticky), so an inexact result changes nothing; everything else goes to the interpreter's host thunk.
/// </summary>
internal static class FloatOps
{
    private const ulong DoubleMagnitude = 0x7FFF_FFFF_FFFF_FFFFUL, DoubleMinNormal = 0x0010_0000_0000_0000UL, DoubleInfinity = 0x7FF0_0000_0000_0000UL;
    private const uint SingleMagnitude = 0x7FFF_FFFF, SingleMinNormal = 0x0080_0000, SingleInfinity = 0x7F80_0000;

    /// <summary>MXCSR bits the fast path depends on (reserved high bits, RC, PM, PE) and the value they must have.</summary>
    public const uint MxcsrMask = 0xFFFF_7020, MxcsrFast = 0x1020;

    /// <summary>Zero or a finite normal number (not NaN, infinity or denormal).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool In(double x)
    {
        ulong m = BitConverter.DoubleToUInt64Bits(x) & DoubleMagnitude;
        return m - DoubleMinNormal < DoubleInfinity - DoubleMinNormal || m == 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool In(float x)
    {
        uint m = BitConverter.SingleToUInt32Bits(x) & SingleMagnitude;
        return m - SingleMinNormal < SingleInfinity - SingleMinNormal || m == 0;
    }

    /// <summary>Finite and strictly above the smallest normal in magnitude (so no underflow after any rounding).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Out(double r) => (BitConverter.DoubleToUInt64Bits(r) & DoubleMagnitude) - (DoubleMinNormal + 1) < DoubleInfinity - (DoubleMinNormal + 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Out(float r) => (BitConverter.SingleToUInt32Bits(r) & SingleMagnitude) - (SingleMinNormal + 1) < SingleInfinity - (SingleMinNormal + 1);

    // A zero sum or difference of finite numbers is exact; a product is zero without underflow only when a factor
    // is zero; a quotient only when the dividend is.
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static bool AddOk(double a, double b, double r) => In(a) && In(b) && (Out(r) || r == 0);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static bool MulOk(double a, double b, double r) => In(a) && In(b) && (Out(r) || a == 0 || b == 0);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static bool DivOk(double a, double b, double r) => In(a) && In(b) && b != 0 && (Out(r) || a == 0);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static bool AddOk(float a, float b, float r) => In(a) && In(b) && (Out(r) || r == 0);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static bool MulOk(float a, float b, float r) => In(a) && In(b) && (Out(r) || a == 0 || b == 0);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] private static bool DivOk(float a, float b, float r) => In(a) && In(b) && b != 0 && (Out(r) || a == 0);

#pragma warning disable CS1591 // One entry point per guest instruction, called from generated IL; the name says which.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Addsd(double a, double b, out double r) { r = a + b; return AddOk(a, b, r); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Subsd(double a, double b, out double r) { r = a - b; return AddOk(a, b, r); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Mulsd(double a, double b, out double r) { r = a * b; return MulOk(a, b, r); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Divsd(double a, double b, out double r) { r = a / b; return DivOk(a, b, r); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Sqrtsd(double b, out double r) { r = Math.Sqrt(b); return In(b) && b >= 0; }
    // MINSD/MAXSD return the second operand unless the first is strictly smaller (larger); no rounding at all.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Minsd(double a, double b, out double r) { r = a < b ? a : b; return In(a) && In(b); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Maxsd(double a, double b, out double r) { r = a > b ? a : b; return In(a) && In(b); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Addss(float a, float b, out float r) { r = a + b; return AddOk(a, b, r); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Subss(float a, float b, out float r) { r = a - b; return AddOk(a, b, r); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Mulss(float a, float b, out float r) { r = a * b; return MulOk(a, b, r); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Divss(float a, float b, out float r) { r = a / b; return DivOk(a, b, r); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Sqrtss(float b, out float r) { r = MathF.Sqrt(b); return In(b) && b >= 0; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Minss(float a, float b, out float r) { r = a < b ? a : b; return In(a) && In(b); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Maxss(float a, float b, out float r) { r = a > b ? a : b; return In(a) && In(b); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Addpd(Vector128<double> a, Vector128<double> b, out Vector128<double> r)
    {
        r = Sse2.Add(a, b);
        return AddOk(a.ToScalar(), b.ToScalar(), r.ToScalar()) && AddOk(a.GetElement(1), b.GetElement(1), r.GetElement(1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Subpd(Vector128<double> a, Vector128<double> b, out Vector128<double> r)
    {
        r = Sse2.Subtract(a, b);
        return AddOk(a.ToScalar(), b.ToScalar(), r.ToScalar()) && AddOk(a.GetElement(1), b.GetElement(1), r.GetElement(1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Mulpd(Vector128<double> a, Vector128<double> b, out Vector128<double> r)
    {
        r = Sse2.Multiply(a, b);
        return MulOk(a.ToScalar(), b.ToScalar(), r.ToScalar()) && MulOk(a.GetElement(1), b.GetElement(1), r.GetElement(1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Divpd(Vector128<double> a, Vector128<double> b, out Vector128<double> r)
    {
        r = Sse2.Divide(a, b);
        return DivOk(a.ToScalar(), b.ToScalar(), r.ToScalar()) && DivOk(a.GetElement(1), b.GetElement(1), r.GetElement(1));
    }

    /// <summary>CVTSS2SD: widening a zero or normal single is exact.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Cvtss2sd(float b, out double r) { r = b; return In(b); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Cvtsd2ss(double b, out float r) { r = (float)b; return In(b) && (Out(r) || b == 0); }

    /// <summary>CVTSI2SD/CVTSI2SS: any integer converts to a normal number or zero; rounding raises PE only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Cvtsi2sd(long b, out double r) { r = b; return true; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Cvtsi2ss(long b, out float r) { r = b; return true; }

    /// <summary>CVTTSD2SI r32: truncation of an in-range value (out of range gives the integer indefinite: slow path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Cvttsd2si32(double b, out long r) { r = (int)b; return In(b) && b > -2147483649.0 && b < 2147483648.0; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Cvttsd2si64(double b, out long r) { r = (long)b; return In(b) && b >= -9223372036854775808.0 && b < 9223372036854775808.0; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Cvttss2si32(float b, out long r) { r = (int)b; return In(b) && b >= -2147483648.0f && b < 2147483648.0f; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Cvttss2si64(float b, out long r) { r = (long)b; return In(b) && b >= -9223372036854775808.0f && b < 9223372036854775808.0f; }

    /// <summary>UCOMISD/COMISD of zero-or-normal operands: ZF, CF (PF only for unordered, which goes slow).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Comisd(double a, double b, out ulong flags)
    {
        flags = (a == b ? (ulong)RFlags.ZF : 0) | (a < b ? (ulong)RFlags.CF : 0);
        return In(a) && In(b);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Comiss(float a, float b, out ulong flags)
    {
        flags = (a == b ? (ulong)RFlags.ZF : 0) | (a < b ? (ulong)RFlags.CF : 0);
        return In(a) && In(b);
    }
#pragma warning restore CS1591
}
