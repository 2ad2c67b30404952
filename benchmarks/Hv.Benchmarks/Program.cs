using BenchmarkDotNet.Running;

namespace Hv.Benchmarks;

/// <summary>Runs the BenchmarkDotNet suites: `dotnet run -c Release --project benchmarks/Hv.Benchmarks -- --filter '*'`.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
