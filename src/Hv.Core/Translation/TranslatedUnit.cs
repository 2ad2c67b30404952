using Hv.Core.Decoding;
using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Translation;

/// <summary>The compiled body of a unit: runs guest code from the unit's entry until it leaves the unit.</summary>
internal delegate void UnitBody(Vcpu cpu);

/// <summary>
/// A region of guest blocks compiled into one host method. Branches between its blocks are IL branches, so a
/// hot loop runs without returning to the dispatcher. It records exactly which decoded blocks (and so which
/// guest bytes and frames) it was made from, for invalidation.
/// </summary>
public sealed class TranslatedUnit : IChained<TranslatedUnit>
{
    internal TranslatedUnit(ulong start, DecodedBlock[] blocks, Instruction[] instructions, bool baseline = false)
    {
        Start = start;
        Baseline = baseline;
        ForwardSlot = ForwardSlotOf(instructions);
        if (ForwardSlot != 0) CallTargets = new TranslatedUnit?[1]; // the unit it forwarded to last (no call sites of its own)
        Blocks = blocks;
        Instructions = instructions;
        blockOffsets = new int[blocks.Length];
        sourceRevisions = new int[blocks.Length];
        for (int k = 0, at = 0; k < blocks.Length; at += blocks[k].Count, k++)
        {
            blockOffsets[k] = at;
            sourceRevisions[k] = blocks[k].Revision;
            if (blocks[k].IndirectCallTargets is { } seen && instructions[at + blocks[k].Count - 1].Mnemonic == Mnemonic.Call)
            {
                ulong[] inUnit = Array.FindAll(seen, target => target != 0 && IndexOfBlock(target) >= 0);
                if (inUnit.Length > 0) (inlineCallTargets ??= new ulong[blocks.Length][])[k] = inUnit;
            }
        }
    }

    /// <summary>
    /// Per block (null: none): the targets of the indirect CALL closing it that the unit enters in line, each as
    /// a branch behind a compare, because region growth took those callees in (see
    /// <see cref="DecodedBlock.IndirectCallTargets"/>). Copied here, on the vCPU thread, so that a compile on
    /// another thread sees the same choice as the region's.
    /// </summary>
    private readonly ulong[][]? inlineCallTargets;

    /// <summary>The targets block <paramref name="k"/>'s indirect CALL enters in line (none for other blocks).</summary>
    internal ReadOnlySpan<ulong> InlineCallTargets(int k) => inlineCallTargets?[k];

    /// <summary>The index of the block of the unit that starts at <paramref name="start"/>, or -1.</summary>
    internal int IndexOfBlock(ulong start)
    {
        for (int i = 0; i < Blocks.Length; i++) if (Blocks[i].Start == start) return i;
        return -1;
    }

    private readonly int[] blockOffsets;
    private readonly int[] sourceRevisions;

    /// <summary>
    /// The unit's own copy of block <paramref name="k"/>'s instructions. Compilation reads only this copy (it may
    /// run on another thread while the SMC engine re-decodes a patched operand inside the block).
    /// </summary>
    internal ReadOnlySpan<Instruction> BlockCode(int k) => Instructions.AsSpan(blockOffsets[k], Blocks[k].Count);

    /// <summary>
    /// True when a source block died or had an operand re-decoded in place since the unit copied it (a unit
    /// compiled in the background must then be thrown away, not installed).
    /// </summary>
    internal bool IsStale
    {
        get
        {
            for (int k = 0; k < Blocks.Length; k++)
                if (Blocks[k].Invalidated || Blocks[k].Revision != sourceRevisions[k]) return true;
            return false;
        }
    }

    /// <summary>Number given by the translation cache when the unit was added (1, 2, …; unique per cache).</summary>
    internal long Id;

    /// <summary>Guest address of the entry block.</summary>
    public ulong Start { get; }

    /// <summary>
    /// For a unit that is only <c>jmp qword ptr [slot]</c> — a PLT stub, through which static glibc calls its
    /// ifunc-selected string and memory functions — the guest address of the slot, else 0. A translated call into
    /// such a unit takes the jump itself and goes on into the unit at the slot's target (see
    /// <see cref="Execution.Vcpu.CallTranslated"/>), so that the callee's RET comes back into the caller. The unit
    /// at the slot's target is kept in <see cref="CallTargets"/>[0], so that the next call needs no lookup.
    /// </summary>
    internal ulong ForwardSlot { get; }

    /// <summary>The <see cref="ForwardSlot"/> of code that is only <paramref name="code"/>: the slot's address, or 0.</summary>
    internal static ulong ForwardSlotOf(ReadOnlySpan<Instruction> code) =>
        code is [{ Mnemonic: Mnemonic.Jmp, Op0Kind: OpKind.Memory, MemoryIndex: Register.None } jump]
            && jump.MemorySize.GetSize() == 8 && jump.SegmentPrefix == Register.None
            && jump.MemoryBase is Register.RIP or Register.None ? jump.MemoryDisplacement64 : 0;

    /// <summary>
    /// Compiled for its first run (translate mode compiles every block, alone, the first time it runs): outside
    /// the unit's own loops, memory accesses call the soft-TLB lookup out of line instead of inlining it, and SSE
    /// arithmetic calls its handler instead of inlining a checked fast path, which gives the .NET JIT far fewer
    /// basic blocks to compile. A baseline unit that gets hot is compiled again in full, over the region around
    /// it (regrowing).
    /// </summary>
    public bool Baseline { get; }

    /// <summary>The decoded blocks the unit was made from (entry first).</summary>
    public IReadOnlyList<DecodedBlock> SourceBlocks => Blocks;

    /// <summary>Number of guest instructions in the unit.</summary>
    public int InstructionCount => Instructions.Length;

    /// <summary>Set when a write hit one of the unit's blocks; running code leaves the unit at the next check.</summary>
    public bool Invalidated;

    /// <summary>Times the dispatcher entered the unit.</summary>
    public long Entries;

    /// <summary>
    /// Translated calls this unit made (host calls into other units). A unit that loops around its calls is
    /// entered once but calls often: it is regrown after as many calls as entries (see
    /// <see cref="Execution.Vcpu.RetranslateEntries"/>), so that its warm callees can join its region.
    /// </summary>
    internal long CallsMade;

    /// <summary>
    /// The count of <see cref="Entries"/> or <see cref="CallsMade"/> at which the unit is regrown:
    /// <see cref="Execution.Vcpu.RetranslateEntries"/>; for a baseline unit, pushed back while its entry is being
    /// compiled into another region in the background.
    /// </summary>
    internal long RegrowAt = Execution.Vcpu.RetranslateEntries;

    internal readonly DecodedBlock[] Blocks;

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

    /// <summary>
    /// Cuts every chain into and out of this node (it was invalidated): the dispatcher's successor links and
    /// the call sites of other units that call it directly, and its own call sites.
    /// </summary>
    internal void Unlink()
    {
        link.Unlink(this);
        if (callers is not null)
        {
            foreach (TranslatedUnit caller in callers) caller.ForgetCallee(this);
            callers = null;
        }
        if (CallTargets is { } targets)
            for (int i = 0; i < targets.Length; i++)
            {
                targets[i]?.callers?.Remove(this);
                targets[i] = null;
            }
    }

    /// <summary>
    /// Where the unit's fault stubs and invalidation exits leave from, by stub number (see
    /// <see cref="UnitCompiler"/>): read only when one is taken.
    /// </summary>
    internal UnitExitSite[]? ExitSites;

    /// <summary>
    /// The unit each call site of this unit entered last time (indexed by the site numbers the compiler gave
    /// them; null until the first call, or when the callee died). Translated code calls the unit here when its
    /// entry is the call's target, without a trip through the dispatcher.
    /// </summary>
    internal TranslatedUnit?[]? CallTargets;

    /// <summary>
    /// By call site number: the block an indirect call site closes (null for direct calls), on which
    /// <see cref="Execution.Vcpu.CallIndirect"/> notes the target that fills each of the site's slots.
    /// </summary>
    internal DecodedBlock?[]? CallSiteBlocks;

    /// <summary>Units whose <see cref="CallTargets"/> name this one: back links, so that its death clears them.</summary>
    private List<TranslatedUnit>? callers;

    /// <summary>The units whose call sites enter this one directly (for tests and diagnostics).</summary>
    internal IReadOnlyList<TranslatedUnit> Callers => callers ?? (IReadOnlyList<TranslatedUnit>)[];

    /// <summary>Points call site <paramref name="site"/> at <paramref name="callee"/> (recording the back link).</summary>
    internal void SetCallTarget(int site, TranslatedUnit callee)
    {
        TranslatedUnit?[] targets = CallTargets!;
        TranslatedUnit? old = targets[site];
        if (ReferenceEquals(old, callee)) return;
        targets[site] = callee;
        if (old is not null && Array.IndexOf(targets, old) < 0) old.callers?.Remove(this);
        if (!(callee.callers ??= []).Contains(this)) callee.callers.Add(this);
    }

    private void ForgetCallee(TranslatedUnit callee)
    {
        TranslatedUnit?[] targets = CallTargets!;
        for (int i = 0; i < targets.Length; i++) if (ReferenceEquals(targets[i], callee)) targets[i] = null;
    }
    /// <summary>The I-cache lines of the unit's blocks, fetched on each entry (built on first entry).</summary>
    internal Smc.InstructionCacheFootprint? ICacheFootprint;
}

/// <summary>A place a unit leaves from mid-block: the guest address it publishes and the instructions completed before.</summary>
/// <param name="Ip">A fault: the faulting instruction's address. An invalidation exit: RIP after the store (0: already set).</param>
/// <param name="Completed">Instructions of the unit completed since the count was last published.</param>
internal readonly record struct UnitExitSite(ulong Ip, long Completed);
