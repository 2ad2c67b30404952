using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Hv.Core;
using Hv.Core.Execution;
using Hv.Linux;
using Microsoft.Win32.SafeHandles;

namespace Hv.Benchmarks;

/// <summary>
/// Runs the compute guest images in-process (stdout to /dev/null) in each execution mode. Guest instructions
/// per second = the "GuestInstructions" column (one run) divided by the mean time per operation.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class GuestImageBenchmarks
{
    private SafeFileHandle devNull = null!;
    private string imagePath = "";

    [Params("int_compute", "float_compute", "strings_sort", "sha_bench", "recursion")]
    public string Image { get; set; } = "";

    [Params(ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered)]
    public ExecutionMode Mode { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.ReadWrite);
        imagePath = Path.Combine(RepoRoot(), "guest-images", "bin", Image);
        // Report the instruction count once so instructions/s can be derived from the timings.
        long instructions = RunOnce().Stats.GuestInstructions;
        Console.WriteLine($"// GuestInstructions {Image} {Mode}: {instructions}");
    }

    [GlobalCleanup]
    public void Cleanup() => devNull.Dispose();

    [Benchmark]
    public int RunImage() => RunOnce().Result.ShellStatus;

    private (StopReason Result, Core.Diagnostics.HvStats Stats) RunOnce()
    {
        int fd = (int)devNull.DangerousGetHandle();
        if (!GuestProcess.TryCreate(HvOptions.Default with { Mode = Mode }, imagePath, [], [], new GuestStdio(fd, fd, fd),
                out GuestProcess? process, out string? error))
            throw new InvalidOperationException(error);
        StopReason r = process.Run();
        if (r.ShellStatus != 0) throw new InvalidOperationException($"{Image} exited with {r.ShellStatus}: {r.Message}");
        return (r, process.Machine.Stats);
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Hv.sln"))) return d.FullName;
        throw new InvalidOperationException("run the benchmarks from inside the repository");
    }
}
