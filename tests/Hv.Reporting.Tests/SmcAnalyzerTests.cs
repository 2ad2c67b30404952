using Hv.Core.Smc;
using Hv.Reporting.Tests.Support;
using static Hv.Reporting.Tests.Support.Fixture;

namespace Hv.Reporting.Tests;

public sealed class SmcAnalyzerTests
{
    private static SmcReport Analyze(string log, List<(long Line, string Reason)>? bad = null)
    {
        var analyzer = new SmcAnalyzer();
        SmcLogReader.Read(new StringReader(log), analyzer, (line, reason) => bad?.Add((line, reason)));
        return analyzer.Build();
    }

    [Fact]
    public void Build_FixtureLog_Totals()
    {
        SmcTotals t = Analyze(Log(Events())).Totals;
        Assert.Equal(new SmcTotals(Events: 7, BytesWritten: 31, new Invalidations(Units: 5, Blocks: 3, Patched: 1, Other: 1),
            HandlingNanoseconds: 14500, FirstMicroseconds: 100, LastMicroseconds: 5100), t);
        Assert.Equal(5000, t.SpanMicroseconds);
        Assert.Equal(14500.0 / 7, t.MeanHandlingNanoseconds, 9);
    }

    [Fact]
    public void Build_FixtureLog_WritersHottestFirst()
    {
        SmcReport r = Analyze(Log(Events()));
        Assert.Equal(
        [
            new WriterStats(PatchRip, "mov dword ptr [rdi],eax", 3, 12, new(3, 1, 0, 0), 4500),
            new WriterStats(LoopRip, "mov byte ptr [rsi+rcx],dl", 3, 3, new(0, 1, 0, 1), 1000),
            new WriterStats(SyscallRip, "syscall read", 1, 16, new(2, 1, 1, 0), 9000),
        ], r.Writers);
    }

    [Fact]
    public void Build_FixtureLog_OverlappingWritesMergedIntoRanges()
    {
        SmcReport r = Analyze(Log(Events()));
        Assert.Equal(
        [
            new RangeStats(0x500000, 0x500004, Events: 4, Bytes: 13, DistinctWriters: 2, new Invalidations(3, 1, 0, 0), HandlingNanoseconds: 5000),
            new RangeStats(0x600000, 0x600010, Events: 2, Bytes: 17, DistinctWriters: 2, new Invalidations(2, 2, 1, 0), HandlingNanoseconds: 9300),
            new RangeStats(0x700000, 0x700001, Events: 1, Bytes: 1, DistinctWriters: 1, new Invalidations(0, 0, 0, 1), HandlingNanoseconds: 200),
        ], r.Ranges);
    }

    [Fact]
    public void Build_FixtureLog_EdgesHeaviestFirst()
    {
        SmcReport r = Analyze(Log(Events()));
        Assert.Equal(
        [
            new WriterRangeEdge(PatchRip, "mov dword ptr [rdi],eax", 0x500000, 0x500004, 3),
            new WriterRangeEdge(LoopRip, "mov byte ptr [rsi+rcx],dl", 0x500000, 0x500004, 1),
            new WriterRangeEdge(LoopRip, "mov byte ptr [rsi+rcx],dl", 0x600000, 0x600010, 1),
            new WriterRangeEdge(LoopRip, "mov byte ptr [rsi+rcx],dl", 0x700000, 0x700001, 1),
            new WriterRangeEdge(SyscallRip, "syscall read", 0x600000, 0x600010, 1),
        ], r.Edges);
    }

    [Fact]
    public void Build_FixtureLog_LatestChangePerRange()
    {
        SmcReport r = Analyze(Log(Events()));
        Assert.Equal([0x500000UL, 0x600000UL, 0x700000UL], r.LastChanges.Keys.Order());
        RangeChange change = r.LastChanges[0x500000];
        Assert.Equal(4, change.Sequence); // event 3 (at 0x500002) is older than event 4
        Assert.Equal(["0x500000 add eax,4"], change.Before);
        Assert.Equal(["0x500000 nop"], change.After);
        Assert.Equal(6, r.LastChanges[0x600000].Sequence);
    }

    [Fact]
    public void Build_FixtureLog_TimelineHoldsEveryEvent()
    {
        SmcReport r = Analyze(Log(Events()));
        Assert.Equal(7, r.Timeline.Sum(b => b.Events));
        Assert.Equal(14500, r.Timeline.Sum(b => b.HandlingNanoseconds));
        // 5100 us in at most 512 buckets of a power-of-two width: 16 us, 319 buckets up to the last event.
        Assert.Equal(16, r.Timeline[0].WidthMicroseconds);
        Assert.Equal(319, r.Timeline.Count);
        Assert.Equal([6, 12, 18, 25, 62, 312, 318], r.Timeline.Select((b, i) => (b, i)).Where(x => x.b.Events > 0).Select(x => x.i));
        Assert.Equal(318 * 16, r.Timeline[318].StartMicroseconds);
    }

    [Fact]
    public void Build_NoEvents_ZeroTotalsAndEmptyTables()
    {
        SmcReport r = Analyze("");
        Assert.Equal(default, r.Totals);
        Assert.Equal(0, r.Totals.MeanHandlingNanoseconds);
        Assert.Empty(r.Writers);
        Assert.Empty(r.Ranges);
        Assert.Empty(r.Edges);
        Assert.Empty(r.LastChanges);
        Assert.Empty(r.Timeline);
    }

    [Fact]
    public void Read_MalformedLines_ReportedWithLineNumbersAndSkipped()
    {
        SmcEvent[] events = Events();
        string log = SmcEventJson.ToLine(events[0]) + "\n{not json\n\n[1,2]\n" + SmcEventJson.ToLine(events[1]) + "\n{\"seq\":1}\n";
        var bad = new List<(long Line, string Reason)>();
        var analyzer = new SmcAnalyzer();
        LogReadResult result = SmcLogReader.Read(new StringReader(log), analyzer, (line, reason) => bad.Add((line, reason)));
        Assert.Equal(new LogReadResult(Parsed: 2, Malformed: 3), result);
        Assert.Equal([2L, 4L, 6L], bad.Select(b => b.Line));
        Assert.All(bad, b => Assert.False(string.IsNullOrWhiteSpace(b.Reason)));
        Assert.Equal(2, analyzer.Build().Totals.Events);
    }

    [Fact]
    public void Read_AddressBeyond64Bits_Malformed()
    {
        string line = SmcEventJson.ToLine(Events()[0]).Replace("\"0x401000\"", "\"0x1ffffffffffffffffff\"", StringComparison.Ordinal);
        var bad = new List<(long Line, string Reason)>();
        Assert.Equal(new LogReadResult(0, 1), SmcLogReader.Read(new StringReader(line), new SmcAnalyzer(), (l, r) => bad.Add((l, r))));
        Assert.Equal(1, Assert.Single(bad).Line);
    }

    private const string Noise = "0123456789abcdefx{}[],:\"-.e";

    [Fact]
    public void Read_RandomlyCorruptedLines_NeverThrow()
    {
        // Deterministic fuzz: flip, drop or duplicate characters of real lines; every line parses or is reported.
        var random = new Random(5);
        string[] lines = Events().Select(SmcEventJson.ToLine).ToArray();
        var corrupted = new System.Text.StringBuilder();
        const int Count = 3000;
        for (int i = 0; i < Count; i++)
        {
            char[] c = lines[random.Next(lines.Length)].ToCharArray();
            int at = random.Next(c.Length);
            c[at] = random.Next(3) switch { 0 => Noise[random.Next(Noise.Length)], 1 => 'f', _ => c[Math.Max(0, at - 1)] };
            corrupted.Append(c).Append('\n');
        }
        long reported = 0;
        LogReadResult result = SmcLogReader.Read(new StringReader(corrupted.ToString()), new SmcAnalyzer(), (_, _) => reported++);
        Assert.Equal(Count, result.Parsed + result.Malformed);
        Assert.Equal(result.Malformed, reported);
        Assert.InRange(result.Malformed, 1, Count - 1);
    }

    [Fact]
    public void Add_ZeroLengthWrite_CountsAsOneByteSite()
    {
        var analyzer = new SmcAnalyzer();
        analyzer.Add(Event(1, 0, 0x401000, "gdb", 0x500000, 0, 10));
        RangeStats range = Assert.Single(analyzer.Build().Ranges);
        Assert.Equal((0x500000UL, 0x500001UL, 0L), (range.Start, range.End, range.Bytes));
    }

    [Fact]
    public void Add_WriteAtTopOfAddressSpace_RangeEndSaturates()
    {
        var analyzer = new SmcAnalyzer();
        analyzer.Add(Event(1, 0, 0x401000, "mov", ulong.MaxValue - 1, 4, 10));
        Assert.Equal(ulong.MaxValue, Assert.Single(analyzer.Build().Ranges).End);
    }
}
