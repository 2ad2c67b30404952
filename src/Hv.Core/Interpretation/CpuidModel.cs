using System.Runtime.Intrinsics.X86;

namespace Hv.Core.Interpretation;

/// <summary>One CPUID answer.</summary>
/// <param name="Eax">EAX.</param>
/// <param name="Ebx">EBX.</param>
/// <param name="Ecx">ECX.</param>
/// <param name="Edx">EDX.</param>
internal readonly record struct CpuidResult(uint Eax, uint Ebx, uint Ecx, uint Edx);

/// <summary>
/// The CPU Hv claims to be: a Nehalem-class "GenuineIntel" part (family 6, model 0x1A) with x87, MMX, SSE to
/// SSE4.2, POPCNT, CX16, LZCNT, SYSCALL, NX and long mode, and nothing newer — no AVX, OSXSAVE, XSAVE, BMI, AES,
/// RDRAND or ERMS, so guests choose code paths the interpreter implements. SSE3..SSE4.2 and POPCNT are only
/// claimed when the host has them, because SSE instructions execute on the host. Cache geometry is reported
/// through leaf 4 (leaf 2 says so with descriptor 0xFF) and 0x80000006: 32 KiB L1d/L1i, 256 KiB L2, 8 MiB L3.
/// Leaves above the maximum answer like the highest basic leaf, as Intel parts do.
/// </summary>
internal static class CpuidModel
{
    /// <summary>Highest basic leaf (leaf 0xB topology and 0xD XSAVE state are deliberately absent).</summary>
    public const uint MaxBasicLeaf = 7;

    /// <summary>Highest extended leaf.</summary>
    public const uint MaxExtendedLeaf = 0x8000_0008;

    /// <summary>The brand string (leaves 0x80000002..4).</summary>
    public const string Brand = "Hv virtual CPU";

    // Leaf 1 EDX bits.
    private const uint FpuBit = 1u << 0, TscBit = 1u << 4, Cx8Bit = 1u << 8, CmovBit = 1u << 15, ClfshBit = 1u << 19,
        MmxBit = 1u << 23, FxsrBit = 1u << 24, SseBit = 1u << 25, Sse2Bit = 1u << 26;

    // Leaf 1 ECX bits.
    private const uint Sse3Bit = 1u << 0, Ssse3Bit = 1u << 9, Cx16Bit = 1u << 13, Sse41Bit = 1u << 19,
        Sse42Bit = 1u << 20, PopcntBit = 1u << 23;

    /// <summary>Leaf 1 EDX: the features every x86-64 host has and Hv implements.</summary>
    public const uint Leaf1Edx = FpuBit | TscBit | Cx8Bit | CmovBit | ClfshBit | MmxBit | FxsrBit | SseBit | Sse2Bit;

    /// <summary>Leaf 1 ECX: SSE3..SSE4.2 and POPCNT as far as the host supports them, and CMPXCHG16B.</summary>
    public static readonly uint Leaf1Ecx =
        (Sse3.IsSupported ? Sse3Bit : 0) | (Ssse3.IsSupported ? Ssse3Bit : 0) | Cx16Bit
        | (Sse41.IsSupported ? Sse41Bit : 0) | (Sse42.IsSupported ? Sse42Bit : 0) | (Popcnt.IsSupported ? PopcntBit : 0);

    /// <summary>Signature: stepping 5, model 0xA, family 6, extended model 1 (Nehalem).</summary>
    private const uint Signature = 0x0001_06A5;

    /// <summary>CLFLUSH line size 8×8 = 64 bytes, one logical processor, APIC id 0.</summary>
    private const uint Leaf1Ebx = (8u << 8) | (1u << 16);

    private static readonly CpuidResult[] Basic = BuildBasic();
    private static readonly CpuidResult[] Extended = BuildExtended();

    /// <summary>Answers CPUID for <paramref name="leaf"/> (EAX) and <paramref name="subleaf"/> (ECX).</summary>
    public static CpuidResult Query(uint leaf, uint subleaf)
    {
        if (leaf >= 0x8000_0000)
        {
            if (leaf <= MaxExtendedLeaf) return Extended[leaf - 0x8000_0000];
            return Basic[MaxBasicLeaf];
        }
        if (leaf > MaxBasicLeaf) return Basic[MaxBasicLeaf];
        if (leaf == 4) return CacheParameters(subleaf);
        return Basic[leaf];
    }

    /// <summary>Leaf 4: deterministic cache parameters, one subleaf per cache, then a null entry.</summary>
    private static CpuidResult CacheParameters(uint subleaf) => subleaf switch
    {
        0 => Cache(type: 1, level: 1, ways: 8, sets: 64, inclusive: false),    // L1d 32 KiB
        1 => Cache(type: 2, level: 1, ways: 8, sets: 64, inclusive: false),    // L1i 32 KiB
        2 => Cache(type: 3, level: 2, ways: 8, sets: 512, inclusive: false),   // L2 256 KiB
        3 => Cache(type: 3, level: 3, ways: 16, sets: 8192, inclusive: true),  // L3 8 MiB
        _ => default,
    };

    private static CpuidResult Cache(uint type, uint level, uint ways, uint sets, bool inclusive)
    {
        const uint lineSize = 64;
        // EAX: type, level, self-initializing; 1 thread per cache and 1 core per package (fields hold n-1 = 0).
        uint eax = type | (level << 5) | (1u << 8);
        uint ebx = (ways - 1) << 22 | (lineSize - 1);
        uint ecx = sets - 1;
        uint edx = inclusive ? 2u : 0u;
        return new CpuidResult(eax, ebx, ecx, edx);
    }

    private static CpuidResult[] BuildBasic()
    {
        var t = new CpuidResult[MaxBasicLeaf + 1];
        // "GenuineIntel" is EBX, EDX, ECX.
        t[0] = new CpuidResult(MaxBasicLeaf, Ascii("Genu"), Ascii("ntel"), Ascii("ineI"));
        t[1] = new CpuidResult(Signature, Leaf1Ebx, Leaf1Ecx, Leaf1Edx);
        // Leaf 2: one iteration; descriptor 0xFF means "see leaf 4".
        t[2] = new CpuidResult(0x0000_FF01, 0, 0, 0);
        // Leaves 3, 5 (MONITOR), 6 (power) and 7 (extended features: none) are zero.
        return t;
    }

    private static CpuidResult[] BuildExtended()
    {
        var t = new CpuidResult[MaxExtendedLeaf - 0x8000_0000 + 1];
        t[0] = new CpuidResult(MaxExtendedLeaf, 0, 0, 0);
        const uint lahfSahf = 1u << 0, abm = 1u << 5;
        const uint syscall = 1u << 11, nx = 1u << 20, longMode = 1u << 29;
        t[1] = new CpuidResult(0, 0, lahfSahf | abm, syscall | nx | longMode);
        Span<byte> brand = stackalloc byte[48];
        for (int i = 0; i < Brand.Length; i++) brand[i] = (byte)Brand[i];
        for (int leaf = 0; leaf < 3; leaf++)
        {
            Span<byte> b = brand.Slice(leaf * 16, 16);
            t[2 + leaf] = new CpuidResult(Word(b, 0), Word(b, 4), Word(b, 8), Word(b, 12));
        }
        // 0x80000006: L2 256 KiB, 8-way (encoding 6), 64-byte lines.
        t[6] = new CpuidResult(0, 0, (256u << 16) | (6u << 12) | 64, 0);
        // 0x80000008: 39 physical, 48 linear address bits.
        t[8] = new CpuidResult((48u << 8) | 39, 0, 0, 0);
        return t;
    }

    private static uint Ascii(string four) =>
        (uint)four[0] | (uint)four[1] << 8 | (uint)four[2] << 16 | (uint)four[3] << 24;

    private static uint Word(ReadOnlySpan<byte> b, int at) =>
        (uint)b[at] | (uint)b[at + 1] << 8 | (uint)b[at + 2] << 16 | (uint)b[at + 3] << 24;
}
