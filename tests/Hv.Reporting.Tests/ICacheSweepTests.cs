namespace Hv.Reporting.Tests;

public sealed class ICacheSweepTests
{
    [Fact]
    public void Read_GoodAndBadRows_GoodKeptBadReportedByLine()
    {
        string csv = ICacheSweep.Header + "\n" +
            "8,1,10,1000,8000,900,800,0.1,0.11\n" +
            "8,1,10\n" +                              // line 3: too few fields
            "\n" +
            "x,1,10,1000,8000,900,800,0.1,0.11\n" +  // line 5: not a number
            "8,1,10,1000,8000,900,800,1.5,0.11\n" +  // line 6: not a fraction
            "8,-1,10,1000,8000,900,800,0.1,0.11\n" + // line 7: negative
            " 16, 2, 5, 1000, 16000, 3300, 3200, 2e-1, 0.18 \n";
        var bad = new List<(long Line, string Reason)>();
        List<ICacheSweepRow>? rows = ICacheSweep.Read(new StringReader(csv), (l, r) => bad.Add((l, r)), out string? error);
        Assert.Null(error);
        Assert.Equal(
        [
            new ICacheSweepRow(8, 1, 10, 1000, 8000, 900, 800, 0.1, 0.11),
            new ICacheSweepRow(16, 2, 5, 1000, 16000, 3300, 3200, 0.2, 0.18),
        ], rows);
        Assert.Equal(
        [
            (3L, "expected 9 fields, found 3"),
            (5L, "m_lines: 'x' is not a non-negative integer"),
            (6L, "measured_smc_miss_fraction: '1.5' is not a fraction in [0, 1]"),
            (7L, "u_writes: '-1' is not a non-negative integer"),
        ], bad);
    }

    [Theory]
    [InlineData("")]
    [InlineData("m_lines,u_writes\n1,2\n")]
    public void Read_WrongHeader_NullWithError(string csv)
    {
        Assert.Null(ICacheSweep.Read(new StringReader(csv), (_, _) => { }, out string? error));
        Assert.StartsWith("line 1: expected the header", error);
    }

    [Fact]
    public void Read_HeaderOnly_NoRows()
    {
        Assert.Empty(ICacheSweep.Read(new StringReader(ICacheSweep.Header + "\n"), (_, _) => { }, out _)!);
    }
}
