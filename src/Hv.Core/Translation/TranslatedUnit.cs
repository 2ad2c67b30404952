using Hv.Core.Decoding;
using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Translation;

/// <summary>The compiled body of a unit: runs guest code from the unit's entry until it leaves the unit.</summary>
internal delegate void UnitBody(Vcpu cpu, TranslatedUnit unit);

/// <summary>
/// A region of guest blocks compiled into one host method. Branches between its blocks are IL branches, so a
/// hot loop runs without returning to the dispatcher. It records exactly which decoded blocks (and so which
/// guest bytes and frames) it was made from, for invalidation.
/// </summary>
public sealed class TranslatedUnit : IChained<TranslatedUnit>
{
    internal TranslatedUnit(ulong start, DecodedBlock[] blocks, Instruction[] instructions)
    {
        Start = start;
        Blocks = blocks;
        Instructions = instructions;
        BlockPatches = new int[blocks.Length];
        for (int i = 0; i < blocks.Length; i++) BlockPatches[i] = blocks[i].Patches;
    }

    /// <summary>Guest address of the entry block.</summary>
    public ulong Start { get; }

    /// <summary>The decoded blocks the unit was made from (entry first).</summary>
    public IReadOnlyList<DecodedBlock> SourceBlocks => Blocks;

    /// <summary>Number of guest instructions in the unit.</summary>
    public int InstructionCount => Instructions.Length;

    /// <summary>Set when a write hit one of the unit's blocks; running code leaves the unit at the next check.</summary>
    public bool Invalidated;

    /// <summary>Times the dispatcher entered the unit.</summary>
    public long Entries;

    internal readonly DecodedBlock[] Blocks;

    /// <summary>Each block's <see cref="DecodedBlock.Patches"/> when the unit was made from it.</summary>
    internal readonly int[] BlockPatches;

    /// <summary>All instructions of all blocks, in block order (handlers take a reference into this array).</summary>
    internal readonly Instruction[] Instructions;

    internal UnitBody Body = null!;

    /// <summary>
    /// The unit entered after this one last time: a one-entry chain that skips the cache lookup. Setting it
    /// records the back link, so killing a unit unlinks every chain into it (and its delegate can be collected).
    /// </summary>
    internal TranslatedUnit? Successor
    {
        get => link.Successor;
        set => link.Set(this, value);
    }

    private readonly ChainLink<TranslatedUnit> link = new();

    ChainLink<TranslatedUnit> IChained<TranslatedUnit>.Link => link;

    /// <summary>Cuts every chain into and out of this node (it was invalidated).</summary>
    internal void Unlink() => link.Unlink(this);
    /// <summary>The I-cache lines of the unit's blocks, fetched on each entry (built on first entry).</summary>
    internal ulong[]? ICacheLines;
}
