using System.Buffers.Binary;
using Hv.Reporting.Tests.Support;

namespace Hv.Reporting.Tests;

public sealed class SmcPlotTests : TempDirTest
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

    private static SmcReport FixtureReport() => Fixture.Report(Fixture.Events());

    /// <summary>Checks the signature and returns the IHDR width and height.</summary>
    private static (int Width, int Height) ReadPng(string path)
    {
        byte[] png = File.ReadAllBytes(path);
        Assert.InRange(png.Length, 10_000, 5_000_000);
        Assert.Equal(PngSignature, png[..8]);
        Assert.Equal("IHDR"u8.ToArray(), png[12..16]);
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }

    [Fact]
    public void SavePng_Timeline_TwoPanelPng()
    {
        string path = PathOf("smc.png");
        SmcPlot.SavePng(path, FixtureReport(), sweep: null);
        Assert.Equal((SmcPlot.Width, 2 * SmcPlot.PanelHeight), ReadPng(path));
    }

    [Fact]
    public void SavePng_WithSweep_ThirdPanel()
    {
        string path = PathOf("smc.png");
        ICacheSweepRow[] sweep = [new(8, 1, 10, 1000, 8000, 900, 800, 0.1, 0.11), new(16, 2, 5, 1000, 16000, 3300, 3200, 0.2, 0.18)];
        SmcPlot.SavePng(path, FixtureReport(), sweep);
        Assert.Equal((SmcPlot.Width, 3 * SmcPlot.PanelHeight), ReadPng(path));
    }

    [Fact]
    public void SavePng_SweepSpanningDecadesWithZero_Rendered()
    {
        ICacheSweepRow[] decades = [new(64, 1, 100, 100, 6400, 1, 1, 0.00017, 0.00015625), new(64, 32, 1, 1, 64, 31, 31, 0.48, 0.5)];
        SmcPlot.SavePng(PathOf("log.png"), FixtureReport(), decades);
        Assert.Equal((SmcPlot.Width, 3 * SmcPlot.PanelHeight), ReadPng(PathOf("log.png")));
        ICacheSweepRow[] withZero = [.. decades, new(64, 1, 1000, 1000, 64000, 0, 0, 0, 0.0000156)];
        SmcPlot.SavePng(PathOf("linear.png"), FixtureReport(), withZero);
        Assert.Equal((SmcPlot.Width, 3 * SmcPlot.PanelHeight), ReadPng(PathOf("linear.png")));
    }

    [Fact]
    public void SavePng_NoEvents_StillAPng()
    {
        string path = PathOf("empty.png");
        SmcPlot.SavePng(path, new SmcAnalyzer().Build(), []);
        Assert.Equal((SmcPlot.Width, 3 * SmcPlot.PanelHeight), ReadPng(path));
    }
}
