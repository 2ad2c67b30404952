namespace Hv.Core.Smc;

/// <summary>A range of guest code thrown away by one SMC event.</summary>
/// <param name="Start">First guest address of the unit or block.</param>
/// <param name="End">Guest address just past its last byte.</param>
/// <param name="Kind">"unit" for a translated unit, "block" for a decoded (interpreted) block, "patched" for a block
/// whose changed instruction was re-decoded in place (only an operand changed; the block lives on).</param>
public readonly record struct InvalidatedRange(ulong Start, ulong End, string Kind);

/// <summary>
/// One self-modifying-code event: a guest write that changed bytes Hv had decoded or translated.
/// Produced by the SMC subsystem, consumed by the <c>--smc-log</c> writer, the debugger (break on SMC) and
/// <c>hv smc-report</c>. Serialized as one JSON object per line; see <see cref="SmcEventJson"/>.
/// </summary>
public sealed record SmcEvent
{
    /// <summary>1-based sequence number within the run.</summary>
    public required long Sequence { get; init; }
    /// <summary>Microseconds since the machine started.</summary>
    public required long TimeMicroseconds { get; init; }
    /// <summary>Guest instruction count when the write happened.</summary>
    public required long GuestInstructions { get; init; }
    /// <summary>Address of the writing instruction (for a syscall, the SYSCALL instruction).</summary>
    public required ulong WriterRip { get; init; }
    /// <summary>The writing instruction, disassembled (or e.g. "syscall read" / "gdb").</summary>
    public required string Writer { get; init; }
    /// <summary>Guest virtual address of the first written byte.</summary>
    public required ulong Address { get; init; }
    /// <summary>The bytes before the write.</summary>
    public required byte[] OldBytes { get; init; }
    /// <summary>The bytes after the write.</summary>
    public required byte[] NewBytes { get; init; }
    /// <summary>Disassembly of the affected instructions before the write.</summary>
    public required string[] Before { get; init; }
    /// <summary>Disassembly of the same range after the write.</summary>
    public required string[] After { get; init; }
    /// <summary>Units and blocks thrown away.</summary>
    public required InvalidatedRange[] Invalidated { get; init; }
    /// <summary>Host time spent handling the event, in nanoseconds.</summary>
    public required long HandlingNanoseconds { get; init; }
}
