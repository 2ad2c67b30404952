using Hv.Core.Diagnostics;
using Hv.Core.Memory;
using Microsoft.Extensions.Logging;

namespace Hv.Core.Decoding;

/// <summary>
/// Decoded blocks by guest address, plus the frames they came from. Frames holding decoded code are
/// write-protected in the MMU; a store into one invalidates the blocks decoded from that frame.
/// (Page granularity for now; byte-precise invalidation is the SMC subsystem's job.)
/// </summary>
internal sealed class CodeCache : ICodeWriteObserver
{
    private readonly Dictionary<ulong, DecodedBlock> blocks = [];
    private readonly AddressSpace space;
    private readonly HvStats stats;
    private readonly ILogger logger;

    public CodeCache(AddressSpace space, HvStats stats, ILogger logger)
    {
        this.space = space;
        this.stats = stats;
        this.logger = logger;
        space.CodeWriteObserver = this;
    }

    public int Count => blocks.Count;

    /// <summary>Called for every block that gets invalidated (the translation cache drops units made from it).</summary>
    public Action<DecodedBlock>? BlockInvalidated { get; set; }

    /// <summary>The vCPU's simulated I-cache: a code write drops the lines it changes (until the SMC engine calls it).</summary>
    public Smc.InstructionCacheModel? InstructionCache { get; set; }

    public bool TryGet(ulong address, out DecodedBlock? block)
    {
        stats.BlockCacheLookups++;
        return blocks.TryGetValue(address, out block);
    }

    public void Add(DecodedBlock block)
    {
        blocks[block.Start] = block;
        foreach (PhysicalPage page in block.Pages)
        {
            var list = page.CodeTracking as List<DecodedBlock>;
            if (list is null) page.CodeTracking = list = [];
            list.Add(block);
            if ((page.EngineFlags & EnginePageFlags.CodeWriteProtected) == 0)
            {
                page.EngineFlags |= EnginePageFlags.CodeWriteProtected;
                space.RevokeFastWrites(page);
            }
        }
    }

    /// <inheritdoc />
    public void OnCodeWrite(PhysicalPage page, int offset, ReadOnlySpan<byte> newBytes, ulong guestAddress)
    {
        if (newBytes.SequenceEqual(page.Data.AsSpan(offset, newBytes.Length))) return; // nothing changes
        InstructionCache?.InvalidateCodeWrite(page, offset, newBytes.Length);
        DropBlocksOf(page, guestAddress);
    }

    /// <inheritdoc />
    public void OnCodeUnmapped(PhysicalPage page, ulong guestAddress)
    {
        InstructionCache?.Forget(guestAddress, PhysicalPage.Size); // writes there are no longer watched
        DropBlocksOf(page, guestAddress);
    }

    private void DropBlocksOf(PhysicalPage page, ulong guestAddress)
    {
        if (page.CodeTracking is not List<DecodedBlock> list) return;
        int count = list.Count;
        foreach (DecodedBlock block in list.ToArray()) Invalidate(block);
        page.EngineFlags &= ~EnginePageFlags.CodeWriteProtected;
        EngineLog.CodeInvalidated(logger, guestAddress, count);
    }

    private void Invalidate(DecodedBlock block)
    {
        if (block.Invalidated) return;
        block.Invalidated = true;
        stats.BlocksInvalidated++;
        if (blocks.TryGetValue(block.Start, out DecodedBlock? current) && ReferenceEquals(current, block)) blocks.Remove(block.Start);
        foreach (PhysicalPage p in block.Pages) (p.CodeTracking as List<DecodedBlock>)?.Remove(block);
        BlockInvalidated?.Invoke(block);
    }

    /// <summary>Drops everything (e.g. after munmap of code); frames lose their protection lazily.</summary>
    public void Clear()
    {
        foreach (DecodedBlock b in blocks.Values)
        {
            b.Invalidated = true;
            BlockInvalidated?.Invoke(b);
        }
        blocks.Clear();
    }
}
