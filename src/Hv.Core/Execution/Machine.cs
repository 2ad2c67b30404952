using Hv.Core.Decoding;
using Hv.Core.Diagnostics;
using Hv.Core.Memory;
using Microsoft.Extensions.Logging;

namespace Hv.Core.Execution;

/// <summary>
/// A guest machine: address space, one vCPU, counters and the OS personality. Everything it needs comes from
/// <see cref="HvOptions"/>; nothing is process-wide, so machines run side by side.
/// </summary>
public sealed class Machine
{
    private Machine(HvOptions options, IGuestKernel? kernel)
    {
        Options = options;
        Kernel = kernel;
        Logger = options.LoggerFactory.CreateLogger("Hv.Engine");
        AddressSpace.Stats = Stats;
        CodeCache = new CodeCache(AddressSpace, Stats);
        Cpu = new Vcpu(this, CodeCache, Logger);
        Smc = new Smc.SmcEngine(this, CodeCache, Cpu.TranslationCache);
    }

    /// <summary>Creates a machine, or throws <see cref="ArgumentException"/> for invalid options.</summary>
    public static Machine Create(HvOptions options, IGuestKernel? kernel = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } error) throw new ArgumentException(error, nameof(options));
        return new Machine(options, kernel);
    }

    /// <summary>The options the machine was created with.</summary>
    public HvOptions Options { get; }

    /// <summary>The guest address space.</summary>
    public AddressSpace AddressSpace { get; } = new();

    /// <summary>The vCPU.</summary>
    public Vcpu Cpu { get; }

    /// <summary>Counters.</summary>
    public HvStats Stats { get; } = new();

    /// <summary>The OS personality, or null for a bare machine.</summary>
    public IGuestKernel? Kernel { get; private set; }

    /// <summary>Decoded blocks (shared by the vCPUs).</summary>
    internal CodeCache CodeCache { get; }

    /// <summary>The self-modifying-code policy (sees every write into code).</summary>
    internal Smc.SmcEngine Smc { get; }

    /// <summary>
    /// Writes guest memory as a debugger does: no permission check, but through the SMC path like any guest
    /// store, so stale decoded and translated code dies and SMC events name <paramref name="writer"/>.
    /// </summary>
    /// <returns>False (after a partial write) if some byte is not mapped.</returns>
    public bool WriteMemoryAsDebugger(ulong address, ReadOnlySpan<byte> bytes, string writer = "debugger") =>
        Smc.WriteAsDebugger(address, bytes, writer);

    /// <summary>The engine's logger.</summary>
    public ILogger Logger { get; }

    /// <summary>
    /// Raised (on the vCPU thread) for every SMC event once the write has been applied and the stale code
    /// invalidated, before the guest resumes: the <c>--smc-log</c> writer and the debugger's break-on-SMC listen here.
    /// </summary>
    public event Action<Vcpu, Smc.SmcEvent>? SmcEventRaised;

    /// <summary>True when somebody listens for SMC events (building an event costs a disassembly).</summary>
    internal bool WantsSmcEvents => SmcEventRaised is not null;

    internal void RaiseSmcEvent(Vcpu cpu, Smc.SmcEvent e) => SmcEventRaised?.Invoke(cpu, e);

    /// <summary>Attaches the OS personality (it usually needs the machine to exist first).</summary>
    public void AttachKernel(IGuestKernel kernel) => Kernel = kernel;

    /// <summary>Runs the vCPU from its current state.</summary>
    public StopReason Run(long instructionLimit = long.MaxValue)
    {
        EngineLog.MachineStarted(Logger, Cpu.State.Rip, Options.Mode);
        return Cpu.Run(instructionLimit);
    }
}
