namespace Hv.Reporting;

/// <summary>A half-open guest address range [Start, End).</summary>
/// <param name="Start">First address.</param>
/// <param name="End">Address just past the last byte.</param>
public readonly record struct AddressRange(ulong Start, ulong End)
{
    /// <summary>
    /// Merges overlapping ranges (sharing at least one byte; merely touching ranges stay apart, as two separate
    /// patches next to each other are two code sites). Returns the merged ranges in address order.
    /// </summary>
    public static List<AddressRange> Merge(IEnumerable<AddressRange> ranges)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        var sorted = new List<AddressRange>(ranges);
        sorted.Sort(static (a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.End.CompareTo(b.End));
        var merged = new List<AddressRange>(sorted.Count);
        foreach (AddressRange r in sorted)
        {
            if (merged.Count > 0 && r.Start < merged[^1].End)
            {
                AddressRange last = merged[^1];
                if (r.End > last.End) merged[^1] = last with { End = r.End };
            }
            else merged.Add(r);
        }
        return merged;
    }

    /// <summary>The range as "0xSTART-0xEND".</summary>
    public override string ToString() => Format(Start, End);

    /// <summary>A range as "0xSTART-0xEND".</summary>
    public static string Format(ulong start, ulong end) => $"0x{start:x}-0x{end:x}";
}
