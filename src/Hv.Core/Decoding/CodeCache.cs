using Hv.Core.Diagnostics;
using Hv.Core.Memory;
using Hv.Core.Smc;

namespace Hv.Core.Decoding;

/// <summary>
/// Decoded blocks by guest address, plus, per frame, exactly which bytes they came from (<see cref="CodeFrame"/>).
/// Frames holding decoded code are write-protected in the MMU (<see cref="EnginePageFlags.CodeWriteProtected"/>)
/// until their last block dies. A pure data structure: what to do on a write is <see cref="SmcEngine"/>'s call.
/// </summary>
internal sealed class CodeCache
{
    private readonly Dictionary<ulong, DecodedBlock> blocks = [];
    private readonly AddressSpace space;
    private readonly HvStats stats;

    public CodeCache(AddressSpace space, HvStats stats)
    {
        this.space = space;
        this.stats = stats;
    }

    public int Count => blocks.Count;

    /// <summary>Called for every block that gets invalidated (the translation cache drops units made from it).</summary>
    public Action<DecodedBlock>? BlockInvalidated { get; set; }

    /// <summary>Called for every block added (the SMC policy may keep it interpreted).</summary>
    public Action<DecodedBlock>? BlockAdded { get; set; }

    public bool TryGet(ulong address, out DecodedBlock? block)
    {
        stats.BlockCacheLookups++;
        return blocks.TryGetValue(address, out block);
    }

    public void Add(DecodedBlock block)
    {
        if (blocks.TryGetValue(block.Start, out DecodedBlock? old)) Invalidate(old);
        blocks[block.Start] = block;
        for (int part = 0; part < block.PartCount; part++)
        {
            PhysicalPage page = block.PageOf(part);
            block.RangeOn(part, out int start, out int end);
            CodeFrame.Of(page).Add(block, start, end);
            if ((page.EngineFlags & EnginePageFlags.CodeWriteProtected) == 0)
            {
                page.EngineFlags |= EnginePageFlags.CodeWriteProtected;
                space.RevokeFastWrites(page, block.PartBase(part));
            }
        }
        BlockAdded?.Invoke(block);
    }

    /// <summary>
    /// The overlap query: adds to <paramref name="into"/> every live block with a byte in frame offsets
    /// [<paramref name="start"/>, <paramref name="end"/>) of <paramref name="frame"/>, through any virtual alias
    /// (their units are <see cref="Translation.TranslationCache.KillUnitsOf"/>'s business).
    /// </summary>
    public static void CollectOverlapping(CodeFrame frame, int start, int end, List<DecodedBlock> into) =>
        frame.CollectOverlapping(start, end, into);

    /// <summary>
    /// Adds to <paramref name="into"/> the live blocks of <paramref name="frame"/> decoded through the virtual
    /// page at <paramref name="pageAddress"/> (that mapping is going away; other aliases keep their code).
    /// </summary>
    public static void CollectMappedAt(CodeFrame frame, ulong pageAddress, List<DecodedBlock> into)
    {
        foreach (DecodedBlock b in frame.Blocks)
            for (int part = 0; part < b.PartCount; part++)
                if (ReferenceEquals(b.PageOf(part), frame.Page) && b.PartBase(part) == pageAddress)
                {
                    if (into.Count == 0 || !ReferenceEquals(into[^1], b)) into.Add(b);
                    break;
                }
    }

    /// <summary>
    /// Kills a block: out of the lookup, chains into it cut, its frames forget it (and drop their write
    /// protection when it was their last block), its units die.
    /// </summary>
    public void Invalidate(DecodedBlock block)
    {
        if (block.Invalidated) return;
        block.Invalidated = true;
        stats.BlocksInvalidated++;
        if (blocks.TryGetValue(block.Start, out DecodedBlock? current) && ReferenceEquals(current, block)) blocks.Remove(block.Start);
        for (int part = 0; part < block.PartCount; part++)
        {
            PhysicalPage page = block.PageOf(part);
            if (page.CodeTracking is not CodeFrame frame) continue;
            frame.Remove(block);
            if (frame.Blocks.Count == 0) page.EngineFlags &= ~EnginePageFlags.CodeWriteProtected;
        }
        block.Unlink();
        BlockInvalidated?.Invoke(block);
    }

    /// <summary>Drops everything (e.g. new code loaded over old by a test harness).</summary>
    public void Clear()
    {
        if (blocks.Count == 0) return;
        DecodedBlock[] all = [.. blocks.Values];
        foreach (DecodedBlock b in all) Invalidate(b);
    }
}
