using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Decoding;

/// <summary>
/// A straight-line run of decoded guest instructions ending at a control transfer, a syscall, an undecodable
/// instruction, a page boundary or the size limit. Each instruction carries its interpreter handler, resolved
/// once at decode time, so executing it is one indirect call.
/// </summary>
public sealed unsafe class DecodedBlock
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

    /// <summary>How many times the block was entered (drives tiering).</summary>
    public int Executions;

    internal readonly Instruction[] Instructions;
    internal readonly delegate*<Vcpu, ref Instruction, void>[] Handlers;

    /// <summary>The block that ran after this one last time: a one-entry chain that skips the cache lookup.</summary>
    internal DecodedBlock? Successor;

    /// <summary>The decoded instructions.</summary>
    public ReadOnlySpan<Instruction> Code => Instructions;
}
