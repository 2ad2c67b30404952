using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Hv.Core.Translation;

/// <summary>
/// Scalar lanes of an XMM register held in a unit's <see cref="Vector128{T}"/> local: what MOVSS/MOVSD/MOVD/MOVQ
/// and scalar arithmetic read and write. Called from generated IL; each inlines to one or two host instructions.
/// </summary>
internal static class XmmLanes
{
#pragma warning disable CS1591 // Named after the lane they read or write; called from generated IL only.
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double LowDouble(Vector128<byte> v) => v.AsDouble().ToScalar();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float LowSingle(Vector128<byte> v) => v.AsSingle().ToScalar();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Low64(Vector128<byte> v) => v.AsUInt64().ToScalar();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Low32(Vector128<byte> v) => v.AsUInt32().ToScalar();

    // Writes of the low lane that keep the rest of the register (legacy SSE scalar semantics).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> WithLowDouble(Vector128<byte> v, double d) => Sse2.MoveScalar(v.AsDouble(), Vector128.CreateScalarUnsafe(d)).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> WithLowSingle(Vector128<byte> v, float f) => Sse.MoveScalar(v.AsSingle(), Vector128.CreateScalarUnsafe(f)).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> WithLow64(Vector128<byte> v, ulong x) => Sse2.MoveScalar(v.AsDouble(), Vector128.CreateScalarUnsafe(x).AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> WithLow32(Vector128<byte> v, ulong x) => Sse.MoveScalar(v.AsSingle(), Vector128.CreateScalarUnsafe((uint)x).AsSingle()).AsByte();

    /// <summary>The zero-extending form (MOVQ/MOVD, and scalar moves from memory): the value, the rest zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<byte> Scalar(ulong x) => Vector128.CreateScalar(x).AsByte();
#pragma warning restore CS1591

    /// <summary>The lane helper named <paramref name="name"/>, for generated IL.</summary>
    internal static MethodInfo Method(string name) => typeof(XmmLanes).GetMethod(name)!;
}

/// <summary>
/// Bit casts between the byte vector a unit keeps an XMM register in and the typed vectors host intrinsics take
/// (<see cref="Vector128.As{TFrom, TTo}"/>: no code).
/// </summary>
internal static class VectorCast
{
    private static readonly MethodInfo As = typeof(Vector128).GetMethod(nameof(Vector128.As))!;
    private static readonly Dictionary<Type, (MethodInfo From, MethodInfo To)> Casts = Build();

    /// <summary>Vector128&lt;byte&gt; → <paramref name="vector"/>.</summary>
    public static MethodInfo From(Type vector) => Casts[vector].From;

    /// <summary><paramref name="vector"/> → Vector128&lt;byte&gt;.</summary>
    public static MethodInfo To(Type vector) => Casts[vector].To;

    private static Dictionary<Type, (MethodInfo, MethodInfo)> Build()
    {
        var d = new Dictionary<Type, (MethodInfo, MethodInfo)>();
        foreach (Type e in new[] { typeof(sbyte), typeof(short), typeof(ushort), typeof(int), typeof(uint), typeof(long), typeof(ulong), typeof(float), typeof(double) })
            d[typeof(Vector128<>).MakeGenericType(e)] = (As.MakeGenericMethod(typeof(byte), e), As.MakeGenericMethod(e, typeof(byte)));
        return d;
    }
}
