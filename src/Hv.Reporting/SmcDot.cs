using System.Globalization;
using System.Text;

namespace Hv.Reporting;

/// <summary>Writes the writer → rewritten-range edges of a report as a Graphviz DOT digraph.</summary>
public static class SmcDot
{
    /// <summary>
    /// One box node per writer ("RIP\nDISASSEMBLY"), one ellipse per rewritten range ("0xSTART-0xEND"), one edge
    /// per (writer, range) pair whose label and weight are the number of writes along it. With
    /// <paramref name="top"/>, only edges between the <paramref name="top"/> hottest writers and the
    /// <paramref name="top"/> most rewritten ranges are drawn (a big log's full graph is too large to lay out).
    /// </summary>
    public static void Write(TextWriter w, SmcReport report, int top = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(report);
        var topWriters = new HashSet<(ulong, string)>();
        for (int i = 0; i < report.Writers.Count && i < top; i++) topWriters.Add((report.Writers[i].Rip, report.Writers[i].Writer));
        var topRanges = new HashSet<(ulong, ulong)>();
        for (int i = 0; i < report.Ranges.Count && i < top; i++) topRanges.Add((report.Ranges[i].Start, report.Ranges[i].End));
        var edges = new List<WriterRangeEdge>(report.Edges.Count);
        foreach (WriterRangeEdge e in report.Edges)
            if (topWriters.Contains((e.WriterRip, e.Writer)) && topRanges.Contains((e.RangeStart, e.RangeEnd))) edges.Add(e);

        var writerNodes = new Dictionary<(ulong, string), string>();
        var rangeNodes = new Dictionary<(ulong, ulong), string>();
        long heaviest = 1;
        foreach (WriterRangeEdge e in edges) heaviest = Math.Max(heaviest, e.Events);

        w.WriteLine("digraph smc {");
        w.WriteLine("  rankdir=LR;");
        w.WriteLine("  node [fontname=\"monospace\"];");
        if (edges.Count < report.Edges.Count)
            w.WriteLine($"  // {report.Edges.Count - edges.Count} of {report.Edges.Count} edges left out: outside the top {top} writers and ranges");
        foreach (WriterRangeEdge e in edges)
        {
            if (!writerNodes.TryGetValue((e.WriterRip, e.Writer), out string? from))
            {
                from = "w" + writerNodes.Count.ToString(CultureInfo.InvariantCulture);
                writerNodes.Add((e.WriterRip, e.Writer), from);
                w.WriteLine($"  \"{from}\" [shape=box, label=\"{Escape($"0x{e.WriterRip:x}")}\\n{Escape(e.Writer)}\"];");
            }
            if (!rangeNodes.TryGetValue((e.RangeStart, e.RangeEnd), out string? to))
            {
                to = "r" + rangeNodes.Count.ToString(CultureInfo.InvariantCulture);
                rangeNodes.Add((e.RangeStart, e.RangeEnd), to);
                w.WriteLine($"  \"{to}\" [shape=ellipse, label=\"{Escape(AddressRange.Format(e.RangeStart, e.RangeEnd))}\"];");
            }
            string pen = (1 + 4.0 * e.Events / heaviest).ToString("0.##", CultureInfo.InvariantCulture);
            w.WriteLine($"  \"{from}\" -> \"{to}\" [label=\"{e.Events.ToString(CultureInfo.InvariantCulture)}\", weight={e.Events.ToString(CultureInfo.InvariantCulture)}, penwidth={pen}];");
        }
        w.WriteLine("}");
    }

    /// <summary>Escapes text for a double-quoted DOT string (backslash, quote, line breaks).</summary>
    public static string Escape(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var sb = new StringBuilder(s.Length);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append(@"\n"); break;
                case '\r': break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }
}
