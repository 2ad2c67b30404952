using Hv.Reporting.Tests.Support;
using static Hv.Reporting.Tests.Support.Fixture;

namespace Hv.Reporting.Tests;

public sealed class SmcDotTests
{
    private static DotGraph Render(SmcReport report)
    {
        var w = new StringWriter();
        SmcDot.Write(w, report);
        return DotParser.Parse(w.ToString());
    }

    private static SmcReport Report(params Hv.Core.Smc.SmcEvent[] events) => Fixture.Report(events);

    [Fact]
    public void Write_FixtureReport_OneNodePerWriterAndRangeOneEdgePerPair()
    {
        DotGraph g = Render(Report(Events()));
        Assert.Equal("smc", g.Name);
        Assert.Equal(6, g.Nodes.Count); // three writers, three ranges
        var labels = g.Nodes.Values.Select(a => a["label"]).ToHashSet();
        Assert.Contains("0x401000\nmov dword ptr [rdi],eax", labels);
        Assert.Contains("0x402000\nsyscall read", labels);
        Assert.Contains("0x500000-0x500004", labels);
        var edges = g.Edges.Select(e => (g.Nodes[e.From]["label"].Split('\n')[0], g.Nodes[e.To]["label"], e.Attributes["label"], e.Attributes["weight"])).ToList();
        Assert.Equal(
        [
            ("0x401000", "0x500000-0x500004", "3", "3"),
            ("0x401100", "0x500000-0x500004", "1", "1"),
            ("0x401100", "0x600000-0x600010", "1", "1"),
            ("0x401100", "0x700000-0x700001", "1", "1"),
            ("0x402000", "0x600000-0x600010", "1", "1"),
        ], edges);
    }

    [Fact]
    public void Write_WriterWithQuotesAndBackslashes_LabelsEscaped()
    {
        const string writer = "gdb \"M\" packet \\ x";
        DotGraph g = Render(Report(Event(1, 0, 0x1000, writer, 0x2000, 1, 5)));
        Assert.Contains(g.Nodes.Values, a => a["label"] == "0x1000\n" + writer);
        Assert.Single(g.Edges);
    }

    [Fact]
    public void Write_Top_OnlyEdgesAmongTopWritersAndRanges()
    {
        var w = new StringWriter();
        SmcDot.Write(w, Report(Events()), top: 2);
        DotGraph g = DotParser.Parse(w.ToString());
        // Top writers 0x401000 and 0x401100, top ranges 0x500000 and 0x600000: the syscall writer and 0x700000 go.
        Assert.Equal(4, g.Nodes.Count);
        Assert.Equal(3, g.Edges.Count);
        Assert.Contains("// 2 of 5 edges left out", w.ToString());
    }

    [Fact]
    public void Write_EmptyReport_EmptyGraph()
    {
        DotGraph g = Render(Report());
        Assert.Empty(g.Nodes);
        Assert.Empty(g.Edges);
    }

    [Fact]
    public void Escape_SpecialCharacters_DotEscapes()
    {
        Assert.Equal("a\\\"b\\\\c\\nd", SmcDot.Escape("a\"b\\c\r\nd"));
    }
}
