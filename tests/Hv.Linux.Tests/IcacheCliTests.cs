using System.Text.Json;
using Hv.Cli;
using Hv.Core;
using Hv.Core.Smc;
using Hv.Linux.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Linux.Tests;

/// <summary><c>hv run --icache</c>: parsing, errors and the counters it adds to <c>--stats</c>.</summary>
public sealed class IcacheCliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("hv-icache-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>A guest that runs a short loop and exits 0; returns the --stats JSON of running it with <paramref name="icache"/>.</summary>
    private JsonElement RunWithStats(string mode, params string[] icache)
    {
        string image = Path.Combine(dir, "loop");
        File.WriteAllBytes(image, new ElfBuilder().WithCode(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 100);
            a.Label(ref top);
            a.dec(ecx);
            a.jnz(top);
            a.xor(edi, edi); a.mov(eax, 231);
            a.syscall();
        }).Build());
        string stats = Path.Combine(dir, "stats.json");
        var (status, _, stderr) = CliTests.Hv(["run", "--mode", mode, .. icache, "--stats", stats, image]);
        Assert.Equal("", stderr);
        Assert.Equal(0, status);
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(stats));
        return json.RootElement.Clone();
    }

    [Theory]
    [InlineData("interpret")]
    [InlineData("translate")]
    [InlineData("tiered")]
    public void Run_DefaultIcache_CountsFetches(string mode)
    {
        JsonElement s = RunWithStats(mode);
        // Interpreted, the loop block's line is fetched per run (100 times); translated, once per unit entry.
        Assert.True(s.GetProperty("icache_fetches").GetInt64() >= (mode == "interpret" ? 100 : 1));
        Assert.True(s.GetProperty("icache_misses").GetInt64() >= 1);
        Assert.Equal(0, s.GetProperty("icache_smc_invalidations").GetInt64());
        Assert.Equal(0, s.GetProperty("icache_smc_misses").GetInt64());
    }

    [Theory]
    [InlineData("interpret")]
    [InlineData("translate")]
    [InlineData("tiered")]
    public void Run_IcacheOff_CountersZero(string mode)
    {
        JsonElement s = RunWithStats(mode, "--icache", "off");
        Assert.Equal(0, s.GetProperty("icache_fetches").GetInt64());
        Assert.Equal(0, s.GetProperty("icache_misses").GetInt64());
    }

    [Theory]
    [InlineData("interpret")]
    [InlineData("translate")]
    [InlineData("tiered")]
    public void Run_IcacheTinyGeometry_Accepted(string mode)
    {
        JsonElement s = RunWithStats(mode, "--icache", "1KiB,32,1");
        Assert.True(s.GetProperty("icache_fetches").GetInt64() >= 1);
    }

    [Theory]
    [InlineData("32K,64")]
    [InlineData("32K,64,3")]
    [InlineData("lots,64,8")]
    public void Run_BadIcache_OneLineUsageError(string value)
    {
        var (status, _, stderr) = CliTests.Hv("run", "--icache", value, "/bin/true");
        Assert.Equal(Program.StatusUsage, status);
        Assert.StartsWith($"hv: --icache '{value}':", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void TryParseInstructionCache_Absent_KeepsDefault()
    {
        Assert.True(Program.TryParseInstructionCache(null, out InstructionCacheGeometry? g, out _));
        Assert.Equal(HvOptions.Default.InstructionCache, g);
        Assert.Equal(InstructionCacheGeometry.Default, g);
    }

    [Fact]
    public void SeparateGuestArguments_IcacheTakesValue()
    {
        Assert.Equal(["run", "--icache", "off", "--", "prog", "-x"], Program.SeparateGuestArguments(["run", "--icache", "off", "prog", "-x"]));
    }
}
