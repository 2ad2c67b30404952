namespace Hv.Core.Memory;

/// <summary>One cached translation: virtual page number → the frame's bytes.</summary>
internal struct TlbEntry
{
    public ulong Vpn;
    public byte[]? Data;
}

/// <summary>
/// A direct-mapped software TLB for one virtual CPU, with separate read, write and fetch arrays. An entry is
/// only filled when the access is allowed, so a hit needs no permission check. Frames holding code never get a
/// plain write entry: their write entries carry <see cref="CodeTag"/> in the page number, so the inline store
/// path misses and the slow path checks the frame's decoded-byte map (a store beside code is written there at
/// once; a store onto code takes the SMC path).
/// </summary>
public sealed class SoftTlb
{
    /// <summary>Entries per array: 16 MiB of 4 KiB pages (busybox sort's 32 MiB input: 1,024 slots were 2.6% slower).</summary>
    public const int Entries = 1 << IndexBits;
    internal const int IndexBits = 12;
    internal const int IndexMask = Entries - 1;

    /// <summary>
    /// The slot of virtual page <paramref name="vpn"/>: its low <see cref="IndexBits"/> bits, with all but bit 0
    /// mixed with the next bits of the page number. Plain low bits would put the stack's top page and the first
    /// mmap below the stack (both just under a round address) in one slot, thrashing it; bit 0 is kept as it is,
    /// so consecutive pages never share a slot (translated code relies on that to check "hit and inside one page"
    /// with one compare). Translated code computes the same function in IL (UnitCompiler.EmitTlbProbe).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal static int Index(ulong vpn) => (int)((vpn ^ ((vpn >> IndexBits) << 1)) & IndexMask);
    internal const ulong InvalidVpn = ulong.MaxValue;
    /// <summary>Marks a write entry of a code frame (never equal to a real page number).</summary>
    internal const ulong CodeTag = 1UL << 62;

    internal readonly TlbEntry[] Read = NewArray();
    internal readonly TlbEntry[] Write = NewArray();
    internal readonly TlbEntry[] Fetch = NewArray();
    /// <summary>The code tracking of the frame behind each code-tagged write entry.</summary>
    internal readonly Smc.CodeFrame?[] WriteFrames = new Smc.CodeFrame?[Entries];

    /// <summary>
    /// The last code-tagged write entry filled, kept apart from <see cref="Write"/>: a code page patched between
    /// calls often shares its slot with the stack page (top-down layouts put both just below a round address),
    /// and without this copy every patch and every push would evict the other.
    /// </summary>
    internal TlbEntry CodeWrite = Invalid;
    /// <summary>The code tracking of the frame behind <see cref="CodeWrite"/>.</summary>
    internal Smc.CodeFrame? CodeWriteFrame;

    /// <summary>Full flushes plus single-page flushes performed on this TLB.</summary>
    public long Flushes { get; private set; }

    /// <summary>Drops every entry.</summary>
    public void Flush()
    {
        Clear(Read);
        Clear(Write);
        Clear(Fetch);
        CodeWrite = Invalid;
        Flushes++;
    }

    /// <summary>Drops entries for pages in [start, end).</summary>
    public void FlushRange(ulong start, ulong end)
    {
        ulong first = start >> PhysicalPage.Shift, last = (end + PhysicalPage.OffsetMask) >> PhysicalPage.Shift;
        if (last - first >= Entries) { Flush(); return; }
        for (ulong vpn = first; vpn < last; vpn++)
        {
            int i = Index(vpn);
            if (Read[i].Vpn == vpn) Read[i] = Invalid;
            if ((Write[i].Vpn & ~CodeTag) == vpn) Write[i] = Invalid;
            if (Fetch[i].Vpn == vpn) Fetch[i] = Invalid;
        }
        ulong codeVpn = CodeWrite.Vpn & ~CodeTag;
        if (codeVpn >= first && codeVpn < last) CodeWrite = Invalid;
        Flushes++;
    }

    /// <summary>
    /// Drops write entries that point at <paramref name="page"/>, mapped at virtual page <paramref name="vpn"/>:
    /// a private frame can only sit in that page's slot; a shared one may have other aliases, so every slot is
    /// checked.
    /// </summary>
    internal void DropWritesTo(PhysicalPage page, ulong vpn)
    {
        if (page.Shared)
        {
            for (int i = 0; i < Write.Length; i++)
                if (ReferenceEquals(Write[i].Data, page.Data)) Write[i] = Invalid;
        }
        else if (ReferenceEquals(Write[Index(vpn)].Data, page.Data)) Write[Index(vpn)] = Invalid;
        if (ReferenceEquals(CodeWrite.Data, page.Data)) CodeWrite = Invalid;
    }

    private static TlbEntry Invalid => new() { Vpn = InvalidVpn };

    private static TlbEntry[] NewArray()
    {
        var a = new TlbEntry[Entries];
        Clear(a);
        return a;
    }

    private static void Clear(TlbEntry[] a) => a.AsSpan().Fill(Invalid);
}
