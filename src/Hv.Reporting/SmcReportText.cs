using System.Globalization;

namespace Hv.Reporting;

/// <summary>Formats an <see cref="SmcReport"/> as the text <c>hv smc-report</c> prints.</summary>
public static class SmcReportText
{
    /// <summary>Writes totals, the <paramref name="top"/> hottest writers and the most rewritten ranges.</summary>
    public static void Write(TextWriter w, SmcReport report, int top, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(report);
        ArgumentOutOfRangeException.ThrowIfNegative(top);
        SmcTotals t = report.Totals;
        w.WriteLine(title is null ? "SMC report" : $"SMC report: {title}");
        w.WriteLine($"  events               {N(t.Events)}");
        w.WriteLine($"  bytes written        {N(t.BytesWritten)}");
        w.WriteLine($"  units invalidated    {N(t.Invalidated.Units)}");
        w.WriteLine($"  blocks invalidated   {N(t.Invalidated.Blocks)}");
        w.WriteLine($"  blocks patched       {N(t.Invalidated.Patched)}");
        if (t.Invalidated.Other != 0) w.WriteLine($"  other invalidations  {N(t.Invalidated.Other)}");
        w.WriteLine($"  handling time        {Duration(t.HandlingNanoseconds)} total, {Duration(t.MeanHandlingNanoseconds)} mean");
        w.WriteLine($"  time span            {Duration(t.SpanMicroseconds * 1000.0)} (from {Duration(t.FirstMicroseconds * 1000.0)} to {Duration(t.LastMicroseconds * 1000.0)})");
        w.WriteLine($"  writers, ranges      {N(report.Writers.Count)} writer instructions, {N(report.Ranges.Count)} rewritten ranges");

        w.WriteLine();
        w.WriteLine($"Hottest writers (top {N(Math.Min(top, report.Writers.Count))} of {N(report.Writers.Count)})");
        w.WriteLine($"  {"writer_rip",-18} {"events",10} {"bytes",10} {"units",8} {"blocks",8} {"patched",8} {"handling",12}  writer");
        for (int i = 0; i < report.Writers.Count && i < top; i++)
        {
            WriterStats s = report.Writers[i];
            w.WriteLine($"  {Hex(s.Rip),-18} {N(s.Events),10} {N(s.Bytes),10} {Columns(s.Invalidated)} {Duration(s.HandlingNanoseconds),12}  {s.Writer}");
        }

        w.WriteLine();
        w.WriteLine($"Most rewritten code ranges (top {N(Math.Min(top, report.Ranges.Count))} of {N(report.Ranges.Count)})");
        w.WriteLine($"  {"range",-33} {"events",10} {"bytes",10} {"writers",8} {"units",8} {"blocks",8} {"patched",8} {"handling",12}");
        for (int i = 0; i < report.Ranges.Count && i < top; i++)
        {
            RangeStats s = report.Ranges[i];
            w.WriteLine($"  {AddressRange.Format(s.Start, s.End),-33} {N(s.Events),10} {N(s.Bytes),10} {N(s.DistinctWriters),8} {Columns(s.Invalidated)} {Duration(s.HandlingNanoseconds),12}");
            if (report.LastChanges.TryGetValue(s.Start, out RangeChange? change))
            {
                string label = $"      last change (#{N(change.Sequence)}) ";
                w.WriteLine($"{label}before: {Instructions(change.Before)}");
                w.WriteLine($"{new string(' ', label.Length)}after:  {Instructions(change.After)}");
            }
        }
    }

    /// <summary>Writes a short summary of the I-cache sweep: measured vs model per point and the mean error.</summary>
    public static void WriteICacheSweep(TextWriter w, IReadOnlyList<ICacheSweepRow> rows, int top)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(rows);
        double error = 0;
        foreach (ICacheSweepRow r in rows) error += Math.Abs(r.MeasuredSmcMissFraction - r.ModelSmcMissFraction);
        w.WriteLine();
        w.WriteLine($"I-cache sweep ({N(rows.Count)} points, mean |measured - model| = {(rows.Count == 0 ? 0 : error / rows.Count).ToString("0.0000", CultureInfo.InvariantCulture)})");
        w.WriteLine($"  {"m_lines",8} {"u_writes",8} {"r_period",8} {"measured",9} {"model",9}");
        for (int i = 0; i < rows.Count && i < top; i++)
        {
            ICacheSweepRow r = rows[i];
            w.WriteLine($"  {N(r.Lines),8} {N(r.Writes),8} {N(r.Period),8} {F(r.MeasuredSmcMissFraction),9} {F(r.ModelSmcMissFraction),9}");
        }
    }

    /// <summary>A duration in nanoseconds with a readable unit (ns, us, ms, s).</summary>
    public static string Duration(double ns) => ns switch
    {
        < 1e3 => ns.ToString("0", CultureInfo.InvariantCulture) + " ns",
        < 1e6 => (ns / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " us",
        < 1e9 => (ns / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + " ms",
        _ => (ns / 1e9).ToString("0.000", CultureInfo.InvariantCulture) + " s",
    };

    /// <summary>At most a few instructions on one line, "; "-separated.</summary>
    private static string Instructions(IReadOnlyList<string> lines)
    {
        const int Shown = 4;
        if (lines.Count == 0) return "(none)";
        string joined = string.Join("; ", lines.Take(Shown));
        return lines.Count > Shown ? $"{joined}; ... ({N(lines.Count - Shown)} more)" : joined;
    }

    private static string Columns(Invalidations i) => $"{N(i.Units),8} {N(i.Blocks),8} {N(i.Patched),8}";

    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);

    private static string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);
}
