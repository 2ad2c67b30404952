using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hv.Core;

/// <summary>How guest code is executed.</summary>
public enum ExecutionMode
{
    /// <summary>Every guest instruction runs in the interpreter.</summary>
    Interpret,
    /// <summary>Every guest block is translated on first use.</summary>
    Translate,
    /// <summary>Blocks are interpreted until they reach <see cref="HvOptions.HotThreshold"/>, then translated.</summary>
    Tiered,
}

/// <summary>
/// The one immutable bag of engine settings. A <see cref="Execution.Machine"/> takes it at creation and never
/// reads process-wide state, so several machines with different options can run side by side.
/// </summary>
public sealed record HvOptions
{
    /// <summary>Default options: tiered execution, no logging.</summary>
    public static HvOptions Default { get; } = new();

    /// <summary>The execution mode.</summary>
    public ExecutionMode Mode { get; init; } = ExecutionMode.Tiered;

    /// <summary>
    /// Executions of a block after which tiered mode translates it. Compiling a region costs ~0.2 ms plus
    /// ~0.4 µs per IL byte of .NET JIT time: at 256, code run only a few hundred times stays interpreted
    /// (measured against 64-1024 with side-by-side workloads: least total CPU, same or better wall time).
    /// </summary>
    public int HotThreshold { get; init; } = 256;

    /// <summary>
    /// Hot code is compiled on a worker thread while the vCPU goes on: in tiered mode hot regions (interpreted
    /// meanwhile), in translate mode the full form of hot baseline units (the baseline unit running meanwhile;
    /// translate mode's first compile of every block is always synchronous). Finished units are installed at the
    /// next dispatch. Guest-visible results are the same either way; only when the faster code takes over varies.
    /// </summary>
    public bool BackgroundTranslation { get; init; } = true;

    /// <summary>Where log messages go. Nothing is logged per guest instruction unless <see cref="TraceInstructions"/> is set.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Logs every executed guest instruction at Trace level (slow; for debugging only).</summary>
    public bool TraceInstructions { get; init; }

    /// <summary>Maximum number of guest instructions in one decoded block.</summary>
    public int MaxBlockInstructions { get; init; } = 64;

    /// <summary>
    /// Geometry of the simulated instruction cache fed by guest fetches (see <see cref="Smc.InstructionCacheModel"/>),
    /// or null to run without it. Default: 32 KiB, 64-byte lines, 8-way.
    /// </summary>
    public Smc.InstructionCacheGeometry? InstructionCache { get; init; } = Smc.InstructionCacheGeometry.Default;

    /// <summary>Checks the options and returns an error message, or null when they are valid.</summary>
    public string? Validate()
    {
        if (HotThreshold < 1) return "hot threshold must be at least 1";
        if (MaxBlockInstructions is < 1 or > 4096) return "max block instructions must be between 1 and 4096";
        if (InstructionCache?.Validate() is { } icache) return "instruction cache: " + icache;
        return null;
    }
}
