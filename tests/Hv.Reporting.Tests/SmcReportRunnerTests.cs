using Hv.Core.Smc;
using Hv.Reporting.Tests.Support;

namespace Hv.Reporting.Tests;

public sealed class SmcReportRunnerTests : TempDirTest
{
    private (int Status, string Stdout, string Stderr) Run(SmcReportOptions options)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int status = SmcReportRunner.Run(options, stdout, stderr);
        return (status, stdout.ToString(), stderr.ToString());
    }

    private string WriteLog(string text)
    {
        string path = PathOf("smc.log");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Run_FixtureLog_PrintsTotalsWritersAndRanges()
    {
        string log = WriteLog(Fixture.Log(Fixture.Events()));
        var (status, stdout, stderr) = Run(new SmcReportOptions(log, Top: 2));
        Assert.Equal(SmcReportRunner.StatusOk, status);
        Assert.Equal("", stderr);
        string[] lines = stdout.Split('\n');
        Assert.Equal($"SMC report: {log}", lines[0]);
        Assert.Contains("  events               7", lines);
        Assert.Contains("  bytes written        31", lines);
        Assert.Contains("  units invalidated    5", lines);
        Assert.Contains("  blocks invalidated   3", lines);
        Assert.Contains("  blocks patched       1", lines);
        Assert.Contains("  other invalidations  1", lines);
        Assert.Contains("  handling time        14.5 us total, 2.1 us mean", lines);
        Assert.Contains("  time span            5.00 ms (from 100.0 us to 5.10 ms)", lines);
        Assert.Contains("Hottest writers (top 2 of 3)", lines);
        Assert.Contains(lines, l => l.StartsWith("  0x401000 ", StringComparison.Ordinal) && l.EndsWith("  mov dword ptr [rdi],eax", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.EndsWith("syscall read", StringComparison.Ordinal)); // third writer, beyond --top 2
        Assert.Contains("Most rewritten code ranges (top 2 of 3)", lines);
        Assert.Contains(lines, l => l.StartsWith("  0x500000-0x500004 ", StringComparison.Ordinal) && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..8].SequenceEqual(["4", "13", "2", "3", "1", "0", "5.0"]));
        Assert.Contains("      last change (#4) before: 0x500000 add eax,4", lines);
        Assert.Contains("                       after:  0x500000 nop", lines);
    }

    [Fact]
    public void Run_EmptyLog_ReportOfZeroEvents()
    {
        var (status, stdout, stderr) = Run(new SmcReportOptions(WriteLog("")));
        Assert.Equal(SmcReportRunner.StatusOk, status);
        Assert.Equal("", stderr);
        Assert.Contains("  events               0\n", stdout);
        Assert.Contains("Hottest writers (top 0 of 0)", stdout);
    }

    [Fact]
    public void Run_MissingLog_OneLineStatus2()
    {
        string path = PathOf("nope.log");
        var (status, stdout, stderr) = Run(new SmcReportOptions(path));
        Assert.Equal(SmcReportRunner.StatusUsage, status);
        Assert.Equal("", stdout);
        Assert.Equal($"hv: {path}: no such file\n", stderr.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Run_SomeLinesMalformed_ReportedSkippedStatus0()
    {
        SmcEvent[] events = Fixture.Events();
        string log = WriteLog(SmcEventJson.ToLine(events[0]) + "\nnope\n" + SmcEventJson.ToLine(events[1]) + "\n");
        var (status, stdout, stderr) = Run(new SmcReportOptions(log));
        Assert.Equal(SmcReportRunner.StatusOk, status);
        Assert.StartsWith($"hv: {log}: line 2: ", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("  events               2\n", stdout);
    }

    [Fact]
    public void Run_NoLineParsed_Status1()
    {
        var (status, stdout, stderr) = Run(new SmcReportOptions(WriteLog("a\nb\n")));
        Assert.Equal(SmcReportRunner.StatusFailed, status);
        Assert.Equal("", stdout);
        Assert.Contains(": line 1: ", stderr);
        Assert.Contains(": line 2: ", stderr);
        Assert.Contains("no well-formed SMC event (2 malformed lines)", stderr);
    }

    [Fact]
    public void Run_ManyMalformedLines_FirstHundredShownThenCount()
    {
        var (status, _, stderr) = Run(new SmcReportOptions(WriteLog(string.Concat(Enumerable.Repeat("x\n", 250)))));
        Assert.Equal(SmcReportRunner.StatusFailed, status);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(SmcReportRunner.MaxReportedLines + 2, lines.Length);
        Assert.EndsWith("250 malformed lines skipped (first 100 shown)", lines[^2]);
    }

    [Fact]
    public void Run_TopZero_Status2()
    {
        var (status, _, stderr) = Run(new SmcReportOptions(WriteLog(""), Top: 0));
        Assert.Equal(SmcReportRunner.StatusUsage, status);
        Assert.Equal("hv: --top 0: must be at least 1\n", stderr.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Run_DotAndPlotAndSweep_FilesWritten()
    {
        string log = WriteLog(Fixture.Log(Fixture.Events()));
        string csv = PathOf("sweep.csv");
        File.WriteAllText(csv, ICacheSweep.Header + "\n8,1,10,1000,8000,900,800,0.1,0.11\nbad\n");
        var (status, stdout, stderr) = Run(new SmcReportOptions(log, DotPath: PathOf("g.dot"), PlotPath: PathOf("p.png"), ICacheCsvPath: csv));
        Assert.Equal(SmcReportRunner.StatusOk, status);
        Assert.Equal($"hv: {csv}: line 3: expected 9 fields, found 1\n", stderr.ReplaceLineEndings("\n"));
        Assert.Contains("I-cache sweep (1 points, mean |measured - model| = 0.0100)", stdout);
        Assert.Equal(5, DotParser.Parse(File.ReadAllText(PathOf("g.dot"))).Edges.Count);
        Assert.True(new FileInfo(PathOf("p.png")).Length > 10_000);
    }

    [Fact]
    public void Run_BadSweepHeader_Status2()
    {
        string csv = PathOf("sweep.csv");
        File.WriteAllText(csv, "a,b\n");
        var (status, stdout, stderr) = Run(new SmcReportOptions(WriteLog(""), ICacheCsvPath: csv));
        Assert.Equal(SmcReportRunner.StatusUsage, status);
        Assert.Equal("", stdout);
        Assert.StartsWith($"hv: {csv}: line 1: expected the header", stderr);
    }

    [Fact]
    public void Run_UnwritableDot_Status1AfterReport()
    {
        string dot = PathOf("missing-dir/g.dot");
        var (status, stdout, stderr) = Run(new SmcReportOptions(WriteLog(Fixture.Log(Fixture.Events())), DotPath: dot));
        Assert.Equal(SmcReportRunner.StatusFailed, status);
        Assert.Contains("  events               7\n", stdout);
        Assert.StartsWith($"hv: cannot write the DOT graph to {dot}: ", stderr);
    }
}
