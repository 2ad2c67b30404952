namespace Hv.Reporting.Tests;

/// <summary>
/// Reports on logs recorded by <c>hv run --smc-log</c> from guest-images/bin (Data/: smc_patch_text 50 and
/// smc_read_into_code 50, tiered mode). Expected numbers were computed from the JSON by an independent script.
/// </summary>
public sealed class RecordedLogTests
{
    private static string DataFile(string name) => Path.Combine(AppContext.BaseDirectory, "Data", name);

    private static (SmcReport Report, LogReadResult Read) Analyze(string name)
    {
        var analyzer = new SmcAnalyzer();
        using var reader = new StreamReader(DataFile(name));
        LogReadResult read = SmcLogReader.Read(reader, analyzer, (line, reason) => Assert.Fail($"line {line}: {reason}"));
        return (analyzer.Build(), read);
    }

    /// <summary>
    /// Analyzes the log and checks what every recorded log is checked for: each line parsed as one event (none
    /// malformed), the totals, and the writers, hottest first.
    /// </summary>
    private static SmcReport AnalyzeExpecting(string name, SmcTotals totals, WriterStats[] writers)
    {
        var (r, read) = Analyze(name);
        Assert.Equal(new LogReadResult(totals.Events, 0), read);
        Assert.Equal(totals, r.Totals);
        Assert.Equal(writers, r.Writers);
        return r;
    }

    [Fact]
    public void Analyze_SmcPatchText_TwoStoresIntoOneImmediate()
    {
        SmcReport r = AnalyzeExpecting(
            "smc_patch_text.jsonl",
            new SmcTotals(99, 396, new Invalidations(Units: 3, Blocks: 0, Patched: 99, Other: 0), 83_593_800, 313_136, 407_294),
            [
                new WriterStats(0x401972, "mov dword ptr [rax],5EC0DE42h [c70042dec05e]", 50, 200, new(2, 0, 50, 0), 83_003_800),
                new WriterStats(0x401794, "mov [rax],r12d [448920]", 49, 196, new(1, 0, 49, 0), 590_000),
            ]);
        // The imm32 of target's "lea eax,[rdi+rdi*2+imm32]" at 0x479000.
        Assert.Equal([new RangeStats(0x479003, 0x479007, 99, 396, 2, new(3, 0, 99, 0), 83_593_800)], r.Ranges);
        Assert.Equal(["0x479000 lea eax,[rdi+rdi*2+5EC0DE42h]"], r.LastChanges[0x479003].After);
    }

    [Fact]
    public void Analyze_SmcReadIntoCode_SyscallWritersTwoFunctions()
    {
        SmcReport r = AnalyzeExpecting(
            "smc_read_into_code.jsonl",
            new SmcTotals(67, 566, new Invalidations(Units: 1, Blocks: 50, Patched: 17, Other: 0), 50_151_500, 274_247, 367_477),
            [
                new WriterStats(0x439c2e, "syscall [0f05]", 32, 176, new(1, 16, 16, 0), 1_040_700),
                new WriterStats(0x438f1b, "syscall [0f05]", 18, 208, new(0, 18, 0, 0), 48_577_300),
                new WriterStats(0x438bb1, "syscall [0f05]", 17, 182, new(0, 16, 1, 0), 533_500),
            ]);
        Assert.Equal(
        [
            new RangeStats(0x7fffef7fd100, 0x7fffef7fd110, 34, 416, 3, new(1, 26, 8, 0), 49_436_500),
            new RangeStats(0x7fffef7fdffa, 0x7fffef7fe000, 33, 150, 3, new(0, 24, 9, 0), 715_000),
        ], r.Ranges);
        Assert.Equal(6, r.Edges.Count);
        Assert.Equal(67, r.Edges.Sum(e => e.Events));
    }
}
