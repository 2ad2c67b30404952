using Hv.Core.Smc;

namespace Hv.Reporting;

/// <summary>
/// Accumulates SMC events one at a time (a log is streamed through it, never held whole) and produces an
/// <see cref="SmcReport"/>. Memory grows with the number of distinct writers and written ranges, not events.
/// </summary>
public sealed class SmcAnalyzer
{
    private readonly Dictionary<WriterKey, int> writerIds = [];
    private readonly List<WriterAccumulator> writers = [];
    private readonly Dictionary<AddressRange, RangeAccumulator> ranges = [];
    private readonly TimeHistogram timeline;
    private long events, bytes, handlingNs;
    private Invalidations invalidated;
    private long firstUs = long.MaxValue, lastUs = long.MinValue;

    /// <summary>An empty analysis; <paramref name="timeBuckets"/> bounds the timeline's resolution.</summary>
    public SmcAnalyzer(int timeBuckets = 512) => timeline = new TimeHistogram(timeBuckets);

    /// <summary>Events added so far.</summary>
    public long Events => events;

    /// <summary>Adds one event.</summary>
    public void Add(SmcEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        long length = e.NewBytes.Length;
        Invalidations eventInvalidated = Invalidations.Of(e.Invalidated);
        events++;
        bytes += length;
        invalidated += eventInvalidated;
        handlingNs += e.HandlingNanoseconds;
        firstUs = Math.Min(firstUs, e.TimeMicroseconds);
        lastUs = Math.Max(lastUs, e.TimeMicroseconds);
        timeline.Add(e.TimeMicroseconds, e.HandlingNanoseconds);

        var key = new WriterKey(e.WriterRip, e.Writer);
        if (!writerIds.TryGetValue(key, out int writerId))
        {
            writerId = writers.Count;
            writerIds.Add(key, writerId);
            writers.Add(new WriterAccumulator(key));
        }
        writers[writerId].Counts.Add(length, eventInvalidated, e.HandlingNanoseconds);

        // A zero-length write still names a code site: give it one byte so it has a place among the ranges.
        ulong end = e.Address + (ulong)Math.Max(length, 1);
        if (end < e.Address) end = ulong.MaxValue;
        var range = new AddressRange(e.Address, end);
        if (!ranges.TryGetValue(range, out RangeAccumulator? acc))
        {
            acc = new RangeAccumulator();
            ranges.Add(range, acc);
        }
        acc.Counts.Add(length, eventInvalidated, e.HandlingNanoseconds);
        if (acc.Last is null || e.Sequence >= acc.Last.Sequence) acc.Last = new RangeChange(e.Sequence, e.Before, e.After);
        acc.ByWriter[writerId] = acc.ByWriter.GetValueOrDefault(writerId) + 1;
    }

    /// <summary>The report over everything added so far.</summary>
    public SmcReport Build()
    {
        var writerStats = new List<WriterStats>(writers.Count);
        foreach (WriterAccumulator w in writers)
        {
            Counts c = w.Counts;
            writerStats.Add(new WriterStats(w.Key.Rip, w.Key.Writer, c.Events, c.Bytes, c.Invalidated, c.Nanoseconds));
        }
        writerStats.Sort(static (a, b) => b.Events != a.Events ? b.Events.CompareTo(a.Events)
            : a.Rip != b.Rip ? a.Rip.CompareTo(b.Rip) : string.CompareOrdinal(a.Writer, b.Writer));

        List<AddressRange> merged = AddressRange.Merge(ranges.Keys);
        var mergedCounts = new Counts[merged.Count];
        var mergedWriters = new Dictionary<int, long>[merged.Count];
        var lastChanges = new Dictionary<ulong, RangeChange>(merged.Count);
        for (int i = 0; i < merged.Count; i++) mergedWriters[i] = [];
        foreach ((AddressRange exact, RangeAccumulator acc) in ranges)
        {
            int i = IndexOfContaining(merged, exact.Start);
            mergedCounts[i].Add(acc.Counts);
            if (acc.Last is { } change && (!lastChanges.TryGetValue(merged[i].Start, out RangeChange? seen) || change.Sequence > seen.Sequence))
                lastChanges[merged[i].Start] = change;
            foreach ((int writerId, long count) in acc.ByWriter)
                mergedWriters[i][writerId] = mergedWriters[i].GetValueOrDefault(writerId) + count;
        }

        var rangeStats = new List<RangeStats>(merged.Count);
        var edges = new List<WriterRangeEdge>();
        for (int i = 0; i < merged.Count; i++)
        {
            Counts c = mergedCounts[i];
            AddressRange r = merged[i];
            rangeStats.Add(new RangeStats(r.Start, r.End, c.Events, c.Bytes, mergedWriters[i].Count, c.Invalidated, c.Nanoseconds));
            foreach ((int writerId, long count) in mergedWriters[i])
            {
                WriterKey w = writers[writerId].Key;
                edges.Add(new WriterRangeEdge(w.Rip, w.Writer, r.Start, r.End, count));
            }
        }
        rangeStats.Sort(static (a, b) => b.Events != a.Events ? b.Events.CompareTo(a.Events) : a.Start.CompareTo(b.Start));
        edges.Sort(static (a, b) => b.Events != a.Events ? b.Events.CompareTo(a.Events)
            : a.WriterRip != b.WriterRip ? a.WriterRip.CompareTo(b.WriterRip)
            : a.RangeStart != b.RangeStart ? a.RangeStart.CompareTo(b.RangeStart) : string.CompareOrdinal(a.Writer, b.Writer));

        return new SmcReport
        {
            Totals = new SmcTotals(events, bytes, invalidated, handlingNs,
                events == 0 ? 0 : firstUs, events == 0 ? 0 : lastUs),
            Writers = writerStats,
            Ranges = rangeStats,
            Edges = edges,
            LastChanges = lastChanges,
            Timeline = timeline.Buckets(),
        };
    }

    /// <summary>Index of the merged range holding <paramref name="address"/> (binary search; it always exists).</summary>
    private static int IndexOfContaining(List<AddressRange> merged, ulong address)
    {
        int lo = 0, hi = merged.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (merged[mid].Start <= address) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    private readonly record struct WriterKey(ulong Rip, string Writer);

    private struct Counts
    {
        public long Events, Bytes, Nanoseconds;
        public Invalidations Invalidated;

        public void Add(long bytes, Invalidations invalidated, long nanoseconds)
        {
            Events++;
            Bytes += bytes;
            Invalidated += invalidated;
            Nanoseconds += nanoseconds;
        }

        public void Add(in Counts other)
        {
            Events += other.Events;
            Bytes += other.Bytes;
            Invalidated += other.Invalidated;
            Nanoseconds += other.Nanoseconds;
        }
    }

    private sealed class WriterAccumulator(WriterKey key)
    {
        public readonly WriterKey Key = key;
        public Counts Counts;
    }

    private sealed class RangeAccumulator
    {
        public Counts Counts;
        public RangeChange? Last;
        public readonly Dictionary<int, long> ByWriter = [];
    }
}
