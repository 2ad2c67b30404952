using System.Globalization;
using ScottPlot;

namespace Hv.Reporting;

/// <summary>Draws SMC events over time and the I-cache sweep as PNG images (ScottPlot, rendered headless by Skia).</summary>
public static class SmcPlot
{
    /// <summary>Image width in pixels.</summary>
    public const int Width = 1000;
    /// <summary>Height of one panel in pixels.</summary>
    public const int PanelHeight = 380;

    /// <summary>
    /// Writes a PNG with a panel of events per time bucket (bars) and cumulative events (line, right axis), a
    /// panel of SMC handling time per bucket, and, when <paramref name="sweep"/> is given, a panel of the
    /// I-cache sweep's measured vs modelled SMC miss fraction.
    /// </summary>
    public static void SavePng(string path, SmcReport report, IReadOnlyList<ICacheSweepRow>? sweep)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(report);
        var multiplot = new Multiplot(); // starts with one plot
        AddEventsPanel(multiplot.GetPlot(0), report.Timeline);
        AddHandlingPanel(multiplot.AddPlot(), report.Timeline);
        if (sweep is not null) AddSweepPanel(multiplot.AddPlot(), sweep);
        // Same margins in every panel so the time axes line up (only the first has a right axis).
        foreach (Plot plot in multiplot.GetPlots()) plot.Layout.Fixed(new PixelPadding(90, 90, 50, 60));
        multiplot.SavePng(path, Width, PanelHeight * multiplot.Count());
    }

    private static void AddEventsPanel(Plot plot, IReadOnlyList<TimeBucket> timeline)
    {
        var bars = AddBuckets(plot, timeline, static b => b.Events, out double[] ends);
        bars.LegendText = $"events per {SmcReportText.Duration(BucketWidthMs(timeline) * 1e6)}";
        if (timeline.Count > 0)
        {
            double[] cumulative = new double[timeline.Count];
            long sum = 0;
            for (int i = 0; i < timeline.Count; i++) cumulative[i] = sum += timeline[i].Events;
            var line = plot.Add.Scatter(ends, cumulative);
            line.Axes.YAxis = plot.Axes.Right;
            line.MarkerSize = 0;
            line.LegendText = "cumulative events";
        }
        plot.Title("SMC events over time");
        plot.YLabel("events per bucket");
        plot.Axes.Right.Label.Text = "cumulative events";
        plot.ShowLegend(Alignment.UpperLeft);
    }

    private static void AddHandlingPanel(Plot plot, IReadOnlyList<TimeBucket> timeline)
    {
        AddBuckets(plot, timeline, static b => b.HandlingNanoseconds / 1000.0, out _);
        plot.Title("Host time spent handling SMC");
        plot.YLabel("handling time per bucket (us)");
    }

    /// <summary>One bar per time bucket, as wide as the bucket; <paramref name="ends"/> gets each bucket's end (ms).</summary>
    private static ScottPlot.Plottables.BarPlot AddBuckets(Plot plot, IReadOnlyList<TimeBucket> timeline, Func<TimeBucket, double> value, out double[] ends)
    {
        double widthMs = BucketWidthMs(timeline);
        double[] centres = new double[timeline.Count], values = new double[timeline.Count];
        ends = new double[timeline.Count];
        for (int i = 0; i < timeline.Count; i++)
        {
            double start = timeline[i].StartMicroseconds / 1000.0;
            (centres[i], ends[i], values[i]) = (start + widthMs / 2, start + widthMs, value(timeline[i]));
        }
        var bars = plot.Add.Bars(centres, values);
        foreach (Bar bar in bars.Bars) (bar.Size, bar.LineWidth) = (widthMs, 0);
        plot.XLabel("time since start (ms)");
        return bars;
    }

    private static double BucketWidthMs(IReadOnlyList<TimeBucket> timeline) => timeline.Count == 0 ? 1 : timeline[0].WidthMicroseconds / 1000.0;

    private static void AddSweepPanel(Plot plot, IReadOnlyList<ICacheSweepRow> sweep)
    {
        double[] model = new double[sweep.Count], measured = new double[sweep.Count];
        double min = double.MaxValue, max = 0;
        for (int i = 0; i < sweep.Count; i++)
        {
            model[i] = sweep[i].ModelSmcMissFraction;
            measured[i] = sweep[i].MeasuredSmcMissFraction;
            min = Math.Min(min, Math.Min(model[i], measured[i]));
            max = Math.Max(max, Math.Max(model[i], measured[i]));
        }
        // Sweeps usually span decades (U/(R*M)): log axes then, unless a zero fraction has no logarithm.
        bool log = sweep.Count > 0 && min > 0 && max / min > 100;
        double lo = log ? Math.Floor(Math.Log10(min)) : 0, hi = log ? Math.Ceiling(Math.Log10(max)) : Math.Max(max * 1.1, 1e-3);
        if (log)
        {
            for (int i = 0; i < sweep.Count; i++) (model[i], measured[i]) = (Math.Log10(model[i]), Math.Log10(measured[i]));
            var ticks = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = v => Math.Pow(10, v).ToString("G3", CultureInfo.InvariantCulture) };
            plot.Axes.Bottom.TickGenerator = ticks;
            plot.Axes.Left.TickGenerator = ticks;
        }
        var diagonal = plot.Add.Line(lo, lo, hi, hi);
        diagonal.LinePattern = LinePattern.Dashed;
        diagonal.LegendText = "measured = model";
        var points = plot.Add.ScatterPoints(model, measured);
        points.LegendText = "sweep points";
        plot.Title("I-cache sweep: SMC miss fraction, measured vs model" + (log ? " (log scales)" : ""));
        plot.XLabel("model SMC miss fraction");
        plot.YLabel("measured SMC miss fraction");
        plot.Axes.SetLimits(lo, hi, lo, hi);
        plot.ShowLegend(Alignment.UpperLeft);
    }
}
