using Hv.Tests.Shared;
using System.Diagnostics;
using Hv.Reporting.Tests.Support;

namespace Hv.Reporting.Tests;

/// <summary>Runs the real <c>hv smc-report</c> (hv.dll next to the tests).</summary>
public sealed class CliTests : TempDirTest
{
    private static (int Status, string Stdout, string Stderr) Hv(params string[] args) => HvCommandLine.Run(args);

    [Fact]
    public void SmcReport_FixtureLogWithDotAndPlot_ReportAndFiles()
    {
        string log = PathOf("smc.log"), dot = PathOf("smc.dot"), png = PathOf("smc.png");
        File.WriteAllText(log, Fixture.Log(Fixture.Events()));
        var (status, stdout, stderr) = Hv("smc-report", log, "--top", "1", "--dot", dot, "--plot", png);
        Assert.Equal((0, ""), (status, stderr));
        Assert.Contains("  events               7\n", stdout);
        Assert.Contains("Hottest writers (top 1 of 3)", stdout);
        var edge = Assert.Single(DotParser.Parse(File.ReadAllText(dot)).Edges); // --top 1: hottest writer -> hottest range
        Assert.Equal("3", edge.Attributes["weight"]);
        Assert.Equal([0x89, 0x50, 0x4e, 0x47], File.ReadAllBytes(png)[..4]);
    }

    [Fact]
    public void SmcReport_RecordedLog_ReportDotAndPlot()
    {
        string log = Path.Combine(AppContext.BaseDirectory, "Data", "smc_read_into_code.jsonl");
        string dot = PathOf("ric.dot"), png = PathOf("ric.png");
        var (status, stdout, stderr) = Hv("smc-report", log, "--dot", dot, "--plot", png);
        Assert.Equal((0, ""), (status, stderr));
        string[] lines = stdout.Split('\n');
        Assert.Contains("  events               67", lines);
        Assert.Contains("  blocks invalidated   50", lines);
        Assert.Contains("Hottest writers (top 3 of 3)", lines);
        Assert.Contains(lines, l => l.StartsWith("  0x439c2e ", StringComparison.Ordinal) && l.EndsWith("syscall [0f05]", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  0x7fffef7fd100-0x7fffef7fd110 ", StringComparison.Ordinal));
        DotGraph g = DotParser.Parse(File.ReadAllText(dot));
        Assert.Equal((5, 6), (g.Nodes.Count, g.Edges.Count));
        Assert.Equal(67, g.Edges.Sum(e => int.Parse(e.Attributes["weight"], System.Globalization.CultureInfo.InvariantCulture)));
        Assert.True(new FileInfo(png).Length > 10_000);
    }

    [Fact]
    public void SmcReport_MissingFile_OneLineStatus2()
    {
        string log = PathOf("none.log");
        var (status, stdout, stderr) = Hv("smc-report", log);
        Assert.Equal((2, "", $"hv: {log}: no such file\n"), (status, stdout, stderr));
    }

    [Fact]
    public void SmcReport_BadOption_Status2WithHint()
    {
        var (status, _, stderr) = Hv("smc-report", PathOf("x.log"), "--top", "many");
        Assert.Equal(2, status);
        Assert.EndsWith("hv: try 'hv smc-report --help'\n", stderr);
    }

    [Fact]
    public void SmcReport_Help_StatesExitStatuses()
    {
        var (status, stdout, _) = Hv("smc-report", "--help");
        Assert.Equal(0, status);
        Assert.Contains("--dot", stdout);
        Assert.Contains("--plot", stdout);
        Assert.Contains("--icache-csv", stdout);
        Assert.Contains("none is a", stdout);
    }
}
