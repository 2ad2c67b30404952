using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Decoding;

/// <summary>
/// A straight-line run of decoded guest instructions ending at a control transfer, a syscall, an undecodable
/// instruction, a page boundary or the size limit. Each instruction carries its interpreter handler, resolved
/// once at decode time, so executing it is one indirect call.
/// </summary>
public sealed unsafe class DecodedBlock : IChained<DecodedBlock>
{
    internal DecodedBlock(ulong start, Instruction[] instructions, delegate*<Vcpu, ref Instruction, void>[] handlers, PhysicalPage[] pages)
    {
        Start = start;
        Instructions = instructions;
        Handlers = handlers;
        Pages = pages;
        ref Instruction last = ref instructions[^1];
        End = last.NextIP;
    }

    /// <summary>Guest address of the first instruction.</summary>
    public ulong Start { get; }

    /// <summary>Guest address just past the last instruction's last byte.</summary>
    public ulong End { get; }

    /// <summary>Number of guest instructions.</summary>
    public int Count => Instructions.Length;

    /// <summary>The frames the block's bytes came from (one, or two when it straddles a page).</summary>
    public PhysicalPage[] Pages { get; }

    /// <summary>Set when a write hit the block's bytes; the block must not run again.</summary>
    public bool Invalidated { get; internal set; }

    /// <summary>Bumped whenever an instruction of the block is re-decoded in place (a patched operand).</summary>
    internal int Revision;

    /// <summary>
    /// Bit i set: instruction i's immediate was patched in place, so translated code reads it from the frame each
    /// time the instruction runs (a later store that changes only those bytes needs no retranslation). Only set,
    /// never cleared, and set before <see cref="Revision"/> is bumped, so a unit that copied the block before the
    /// bit was set is stale.
    /// </summary>
    internal ulong VolatileImmediates;

    /// <summary>How many times the block was entered (drives tiering).</summary>
    public int Executions;

    /// <summary>
    /// For a block ending in an indirect CALL: the targets translated code saw it enter, by the call site's slot
    /// they filled first (see <see cref="Vcpu.CallIndirect"/>; null or 0: none yet). A regrown region takes those
    /// callees in, each behind a compare, as it does a direct call's (a comparator passed to qsort, a table of
    /// operations).
    /// </summary>
    internal ulong[]? IndirectCallTargets;

    /// <summary>Notes that the call closing the block entered <paramref name="target"/> through slot <paramref name="way"/> (the first such target stays).</summary>
    internal void NoteIndirectCallTarget(int way, ulong target)
    {
        ulong[] targets = IndirectCallTargets ??= new ulong[Vcpu.IndirectCallWays];
        if (targets[way] == 0) targets[way] = target;
    }

    internal readonly Instruction[] Instructions;
    internal readonly delegate*<Vcpu, ref Instruction, void>[] Handlers;

    /// <summary>
    /// The block that ran after this one last time: a one-entry chain that skips the cache lookup. Setting it
    /// records the back link, so invalidating a block can unlink every chain into it.
    /// </summary>
    internal DecodedBlock? Successor
    {
        get => link.Successor;
        set => link.Set(this, value);
    }

    private readonly ChainLink<DecodedBlock> link = new();

    ChainLink<DecodedBlock> IChained<DecodedBlock>.Link => link;

    /// <summary>Set while the SMC policy keeps the block interpreted (its code is rewritten again and again).</summary>
    internal bool Demoted;

    /// <summary>Cuts every chain into and out of this node (it was invalidated).</summary>
    internal void Unlink() => link.Unlink(this);

    /// <summary>Number of virtual pages the block's bytes lie on (1, or 2 when it straddles a page boundary).</summary>
    internal int PartCount => ((End - 1) >> PhysicalPage.Shift) != (Start >> PhysicalPage.Shift) ? 2 : 1;

    /// <summary>The frame holding part <paramref name="part"/> (0 = the page of <see cref="Start"/>, 1 = the next one).</summary>
    internal PhysicalPage PageOf(int part) => part == 0 ? Pages[0] : Pages[^1];

    /// <summary>Guest address of the first byte of part <paramref name="part"/>'s virtual page.</summary>
    internal ulong PartBase(int part) => (Start & ~PhysicalPage.OffsetMask) + ((ulong)part << PhysicalPage.Shift);

    /// <summary>The block's bytes on part <paramref name="part"/>'s frame, as frame offsets [start, end).</summary>
    internal void RangeOn(int part, out int start, out int end)
    {
        ulong pageBase = PartBase(part);
        start = (int)(Math.Max(Start, pageBase) - pageBase);
        end = (int)(Math.Min(End, pageBase + PhysicalPage.Size) - pageBase);
    }

    /// <summary>The decoded instructions.</summary>
    public ReadOnlySpan<Instruction> Code => Instructions;
}
