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
        double[] ms = BucketStartsMs(timeline);
        double[] perBucket = new double[timeline.Count], cumulative = new double[timeline.Count];
        long sum = 0;
        for (int i = 0; i < timeline.Count; i++)
        {
            perBucket[i] = timeline[i].Events;
            sum += timeline[i].Events;
            cumulative[i] = sum;
        }
        double widthMs = timeline.Count == 0 ? 1 : timeline[0].WidthMicroseconds / 1000.0;
        var bars = plot.Add.Bars(Centres(ms, widthMs), perBucket);
        foreach (Bar bar in bars.Bars) (bar.Size, bar.LineWidth) = (widthMs, 0);
        bars.LegendText = $"events per {SmcReportText.Duration(widthMs * 1e6)}";
        if (timeline.Count > 0)
        {
            var line = plot.Add.Scatter(Ends(ms, widthMs), cumulative);
            line.Axes.YAxis = plot.Axes.Right;
            line.MarkerSize = 0;
            line.LegendText = "cumulative events";
        }
        plot.Title("SMC events over time");
        plot.XLabel("time since start (ms)");
        plot.YLabel("events per bucket");
        plot.Axes.Right.Label.Text = "cumulative events";
        plot.ShowLegend(Alignment.UpperLeft);
    }

    private static void AddHandlingPanel(Plot plot, IReadOnlyList<TimeBucket> timeline)
    {
        double[] ms = BucketStartsMs(timeline);
        double[] micros = new double[timeline.Count];
        for (int i = 0; i < timeline.Count; i++) micros[i] = timeline[i].HandlingNanoseconds / 1000.0;
        double widthMs = timeline.Count == 0 ? 1 : timeline[0].WidthMicroseconds / 1000.0;
        var bars = plot.Add.Bars(Centres(ms, widthMs), micros);
        foreach (Bar bar in bars.Bars) (bar.Size, bar.LineWidth) = (widthMs, 0);
        plot.Title("Host time spent handling SMC");
        plot.XLabel("time since start (ms)");
        plot.YLabel("handling time per bucket (us)");
    }

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

    private static double[] BucketStartsMs(IReadOnlyList<TimeBucket> timeline)
    {
        var ms = new double[timeline.Count];
        for (int i = 0; i < ms.Length; i++) ms[i] = timeline[i].StartMicroseconds / 1000.0;
        return ms;
    }

    private static double[] Centres(double[] starts, double width) => Shift(starts, width / 2);

    private static double[] Ends(double[] starts, double width) => Shift(starts, width);

    private static double[] Shift(double[] values, double by)
    {
        var shifted = new double[values.Length];
        for (int i = 0; i < values.Length; i++) shifted[i] = values[i] + by;
        return shifted;
    }
}
