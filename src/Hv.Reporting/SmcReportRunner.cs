namespace Hv.Reporting;

/// <summary>What <c>hv smc-report</c> was asked for.</summary>
/// <param name="LogPath">The <c>--smc-log</c> file.</param>
/// <param name="Top">Rows per table.</param>
/// <param name="DotPath">Where to write the DOT graph, or null.</param>
/// <param name="PlotPath">Where to write the PNG, or null.</param>
/// <param name="ICacheCsvPath">The I-cache sweep CSV, or null.</param>
public readonly record struct SmcReportOptions(string LogPath, int Top = 10, string? DotPath = null, string? PlotPath = null,
    string? ICacheCsvPath = null);

/// <summary>Runs <c>hv smc-report</c>: reads the log, prints the report, writes the DOT graph and the plot.</summary>
public static class SmcReportRunner
{
    /// <summary>Success.</summary>
    public const int StatusOk = 0;
    /// <summary>The log had lines but none was an event, or an output file could not be written.</summary>
    public const int StatusFailed = 1;
    /// <summary>Bad options or a missing/unreadable input file.</summary>
    public const int StatusUsage = 2;
    /// <summary>Malformed lines reported one by one on stderr; past this many only the count is given.</summary>
    public const int MaxReportedLines = 100;

    /// <summary>Runs the report; messages on <paramref name="stderr"/> start with "hv: ". Returns the exit status.</summary>
    public static int Run(SmcReportOptions o, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (o.Top < 1)
        {
            stderr.WriteLine($"hv: --top {o.Top}: must be at least 1");
            return StatusUsage;
        }
        List<ICacheSweepRow>? sweep = null;
        if (o.ICacheCsvPath is not null && !TryReadSweep(o.ICacheCsvPath, stderr, out sweep)) return StatusUsage;

        var analyzer = new SmcAnalyzer();
        LogReadResult read;
        try
        {
            using var reader = new StreamReader(o.LogPath, new FileStreamOptions { BufferSize = 1 << 16 });
            read = SmcLogReader.Read(reader, analyzer, new LineReporter(stderr, o.LogPath).Report);
        }
        catch (Exception e) when (IsFileError(e))
        {
            stderr.WriteLine($"hv: {o.LogPath}: {FileErrorMessage(e)}");
            return StatusUsage;
        }
        if (read.Malformed > MaxReportedLines)
            stderr.WriteLine($"hv: {o.LogPath}: {read.Malformed} malformed lines skipped (first {MaxReportedLines} shown)");
        if (read.Parsed == 0 && read.Malformed > 0)
        {
            stderr.WriteLine($"hv: {o.LogPath}: no well-formed SMC event ({read.Malformed} malformed lines)");
            return StatusFailed;
        }

        SmcReport report = analyzer.Build();
        SmcReportText.Write(stdout, report, o.Top, o.LogPath);
        if (sweep is not null) SmcReportText.WriteICacheSweep(stdout, sweep, o.Top);
        int status = StatusOk;
        if (o.DotPath is not null && !TryWrite(o.DotPath, "DOT graph", stderr, path =>
            {
                using var w = new StreamWriter(path);
                SmcDot.Write(w, report, o.Top);
            }))
            status = StatusFailed;
        if (o.PlotPath is not null && !TryWrite(o.PlotPath, "plot", stderr, path => SmcPlot.SavePng(path, report, sweep)))
            status = StatusFailed;
        return status;
    }

    private static bool TryReadSweep(string path, TextWriter stderr, out List<ICacheSweepRow>? rows)
    {
        rows = null;
        try
        {
            using var reader = new StreamReader(path);
            rows = ICacheSweep.Read(reader, new LineReporter(stderr, path).Report, out string? error);
            if (rows is null) stderr.WriteLine($"hv: {path}: {error}");
            return rows is not null;
        }
        catch (Exception e) when (IsFileError(e))
        {
            stderr.WriteLine($"hv: {path}: {FileErrorMessage(e)}");
            return false;
        }
    }

    /// <summary>"hv: FILE: line N: reason" for the first <see cref="MaxReportedLines"/> bad lines of one file.</summary>
    private sealed class LineReporter(TextWriter stderr, string path)
    {
        private int reported;

        public void Report(long line, string reason)
        {
            if (++reported <= MaxReportedLines) stderr.WriteLine($"hv: {path}: line {line}: {reason}");
        }
    }

    private static bool TryWrite(string path, string what, TextWriter stderr, Action<string> write)
    {
        try
        {
            write(path);
            return true;
        }
        catch (Exception e) when (IsFileError(e) || e is DllNotFoundException or TypeInitializationException)
        {
            stderr.WriteLine($"hv: cannot write the {what} to {path}: {e.Message}");
            return false;
        }
    }

    private static bool IsFileError(Exception e) =>
        e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException;

    private static string FileErrorMessage(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => "no such file",
        _ => e.Message,
    };
}
