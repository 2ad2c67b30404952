using BenchmarkDotNet.Running;
using Hv.Core;
using Hv.Core.Smc;

namespace Hv.Benchmarks;

/// <summary>
/// Runs the BenchmarkDotNet suites: `dotnet run -c Release --project benchmarks/Hv.Benchmarks -- --filter '*'`,
/// or the I-cache analytical-model sweep: `... -- icache-sweep [OUT.csv] [interpret|translate|tiered]`.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "icache-sweep") return IcacheSweep(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }

    /// <summary>
    /// The sweep's grid: loop sizes M (lines), writes per period U and period lengths R. M = 1024 is twice the
    /// default cache's 512 lines: there the formula's assumption fails (cyclic LRU misses every fetch, and an
    /// SMC-emptied way is refilled by another line before its own line returns), which the CSV shows.
    /// </summary>
    public static IEnumerable<InstructionCacheSweepPoint> SweepPoints()
    {
        foreach (int m in (int[])[16, 32, 64, 128, 256, 1024])
            foreach (int u in (int[])[1, 2, 4, 8])
                foreach (int r in (int[])[1, 2, 4, 8, 16, 32, 64])
                    yield return new InstructionCacheSweepPoint(m, u, r);
    }

    private static int IcacheSweep(string[] args)
    {
        var mode = ExecutionMode.Interpret;
        if (args.Length > 1 && !Enum.TryParse(args[1], ignoreCase: true, out mode))
        {
            Console.Error.WriteLine($"icache-sweep: bad mode '{args[1]}' (interpret, translate or tiered)");
            return 2;
        }
        const int periods = 20;
        if (args.Length == 0)
        {
            InstructionCacheSweep.WriteCsv(Console.Out, SweepPoints(), periods, mode);
            return 0;
        }
        using (var file = new StreamWriter(args[0]))
            InstructionCacheSweep.WriteCsv(file, SweepPoints(), periods, mode);
        Console.Error.WriteLine($"icache-sweep: wrote {args[0]} ({mode}, {periods} measured periods per point)");
        return 0;
    }
}
