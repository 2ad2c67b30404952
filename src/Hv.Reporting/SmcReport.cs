using Hv.Core.Smc;

namespace Hv.Reporting;

/// <summary>What SMC events did to decoded and translated code, by <see cref="InvalidatedRange.Kind"/>.</summary>
/// <param name="Units">Translated units thrown away ("unit").</param>
/// <param name="Blocks">Decoded blocks thrown away ("block").</param>
/// <param name="Patched">Decoded blocks patched in place instead ("patched").</param>
/// <param name="Other">Ranges of any other kind.</param>
public readonly record struct Invalidations(long Units, long Blocks, long Patched, long Other)
{
    /// <summary>Counts the ranges of one event by kind.</summary>
    public static Invalidations Of(IReadOnlyList<InvalidatedRange> ranges)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        long units = 0, blocks = 0, patched = 0, other = 0;
        foreach (InvalidatedRange r in ranges)
        {
            switch (r.Kind)
            {
                case "unit": units++; break;
                case "block": blocks++; break;
                case "patched": patched++; break;
                default: other++; break;
            }
        }
        return new Invalidations(units, blocks, patched, other);
    }

    /// <summary>Sum of two counts.</summary>
    public static Invalidations operator +(Invalidations a, Invalidations b) =>
        new(a.Units + b.Units, a.Blocks + b.Blocks, a.Patched + b.Patched, a.Other + b.Other);
}

/// <summary>Totals over a whole <c>--smc-log</c>.</summary>
/// <param name="Events">SMC events read.</param>
/// <param name="BytesWritten">Sum of the written byte counts.</param>
/// <param name="Invalidated">Units and blocks thrown away or patched (summed over events).</param>
/// <param name="HandlingNanoseconds">Host time spent handling all events.</param>
/// <param name="FirstMicroseconds">Time of the earliest event (0 without events).</param>
/// <param name="LastMicroseconds">Time of the latest event (0 without events).</param>
public readonly record struct SmcTotals(long Events, long BytesWritten, Invalidations Invalidated, long HandlingNanoseconds, long FirstMicroseconds, long LastMicroseconds)
{
    /// <summary>Mean handling time per event in nanoseconds (0 without events).</summary>
    public double MeanHandlingNanoseconds => Events == 0 ? 0 : (double)HandlingNanoseconds / Events;

    /// <summary>Time between the first and the last event.</summary>
    public long SpanMicroseconds => LastMicroseconds - FirstMicroseconds;
}

/// <summary>What one writer instruction did over the whole log.</summary>
/// <param name="Rip">Address of the writing instruction.</param>
/// <param name="Writer">Its disassembly as logged (e.g. "mov byte ptr [rax],0x90", "syscall read").</param>
/// <param name="Events">Writes it made that hit code.</param>
/// <param name="Bytes">Bytes those writes changed.</param>
/// <param name="Invalidated">Units and blocks they threw away or patched.</param>
/// <param name="HandlingNanoseconds">Host time spent handling them.</param>
public readonly record struct WriterStats(ulong Rip, string Writer, long Events, long Bytes, Invalidations Invalidated,
    long HandlingNanoseconds);

/// <summary>A code range rewritten over the log: the union of overlapping written ranges.</summary>
/// <param name="Start">First written address.</param>
/// <param name="End">Address just past the last written byte.</param>
/// <param name="Events">Writes into the range.</param>
/// <param name="Bytes">Bytes those writes changed.</param>
/// <param name="DistinctWriters">How many different writer instructions wrote into it.</param>
/// <param name="Invalidated">Units and blocks its writes threw away or patched.</param>
/// <param name="HandlingNanoseconds">Host time spent handling its writes.</param>
public readonly record struct RangeStats(ulong Start, ulong End, long Events, long Bytes, int DistinctWriters,
    Invalidations Invalidated, long HandlingNanoseconds);

/// <summary>Writer → rewritten range, with how often that writer wrote into that range.</summary>
/// <param name="WriterRip">Address of the writing instruction.</param>
/// <param name="Writer">Its disassembly.</param>
/// <param name="RangeStart">Start of the merged range.</param>
/// <param name="RangeEnd">End of the merged range.</param>
/// <param name="Events">Writes along this edge.</param>
public readonly record struct WriterRangeEdge(ulong WriterRip, string Writer, ulong RangeStart, ulong RangeEnd, long Events);

/// <summary>The latest write into a rewritten range: what the code was and became.</summary>
/// <param name="Sequence">The event's sequence number.</param>
/// <param name="Before">Disassembly of the affected instructions before the write.</param>
/// <param name="After">Disassembly of the same bytes after it.</param>
public sealed record RangeChange(long Sequence, IReadOnlyList<string> Before, IReadOnlyList<string> After);

/// <summary>Events and handling time in one time bucket.</summary>
/// <param name="StartMicroseconds">Start of the bucket (time since the machine started).</param>
/// <param name="WidthMicroseconds">Bucket width.</param>
/// <param name="Events">Events in the bucket.</param>
/// <param name="HandlingNanoseconds">Handling time of those events.</param>
public readonly record struct TimeBucket(long StartMicroseconds, long WidthMicroseconds, long Events, long HandlingNanoseconds);

/// <summary>The analysis of one <c>--smc-log</c>, produced by <see cref="SmcAnalyzer"/>.</summary>
public sealed record SmcReport
{
    /// <summary>Totals over all events.</summary>
    public required SmcTotals Totals { get; init; }
    /// <summary>Writers, hottest (most events) first; ties by address.</summary>
    public required IReadOnlyList<WriterStats> Writers { get; init; }
    /// <summary>Merged rewritten ranges, most rewritten first; ties by address.</summary>
    public required IReadOnlyList<RangeStats> Ranges { get; init; }
    /// <summary>Writer → range edges, heaviest first.</summary>
    public required IReadOnlyList<WriterRangeEdge> Edges { get; init; }
    /// <summary>The latest change of each merged range, by the range's start address.</summary>
    public required IReadOnlyDictionary<ulong, RangeChange> LastChanges { get; init; }
    /// <summary>Events over time, in consecutive buckets from time 0.</summary>
    public required IReadOnlyList<TimeBucket> Timeline { get; init; }
}
