using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Smc;

namespace Hv.Core.Debugging;

/// <summary>Why the debugged guest stopped.</summary>
public enum DebugStopKind
{
    /// <summary>Reached a software breakpoint (before executing it).</summary>
    Breakpoint,
    /// <summary>Reached a hardware breakpoint (before executing it).</summary>
    HardwareBreakpoint,
    /// <summary>A single step completed.</summary>
    Step,
    /// <summary>A watchpoint (or, with break-on-SMC, a code write) was hit; the access has completed.</summary>
    Watchpoint,
    /// <summary>The guest raised a fault that will become signal <see cref="DebugStop.Value"/> when resumed.</summary>
    Signal,
    /// <summary>The host asked the guest to stop (gdb's Ctrl-C).</summary>
    Interrupted,
    /// <summary>The guest is gone: exited, killed, or a bare machine halted (<see cref="DebugStop.Ended"/>).</summary>
    Ended,
}

/// <summary>A stop reported to the debugger.</summary>
/// <param name="Kind">Why.</param>
/// <param name="Address">The breakpoint address, or the data address of a watchpoint hit.</param>
/// <param name="Watch">For a watchpoint hit, what kind of watchpoint was hit.</param>
/// <param name="Value">The signal number for <see cref="DebugStopKind.Signal"/>.</param>
/// <param name="Ended">How the machine stopped for <see cref="DebugStopKind.Ended"/>.</param>
/// <param name="Smc">For a watchpoint stop: the SMC event that caused it (break on SMC), or null for a watchpoint hit.</param>
public readonly record struct DebugStop(DebugStopKind Kind, ulong Address = 0, WatchKind Watch = WatchKind.Write, int Value = 0,
    StopReason? Ended = null, SmcEvent? Smc = null);

/// <summary>
/// The engine side of a debugger, attached to a machine: breakpoints (checked by the dispatcher at block and
/// unit entries; blocks are split at them and translated regions leave them out), watchpoints (watched pages
/// stay out of the soft TLB and the slow path checks the ranges), single-step, continue, break on SMC, and
/// stops for guest faults before the kernel turns them into signals. Not thread-safe: call it while the vCPU
/// is stopped, from the thread that resumes it.
/// </summary>
public sealed class DebugController
{
    /// <summary>Guest instructions run between checks for an interrupt request.</summary>
    public const long PollInterval = 2_000_000;

    private readonly Machine machine;
    private readonly Vcpu cpu;
    private readonly DebugMemoryHooks hooks = new();
    private readonly Func<long, StopReason> run;
    private readonly HashSet<ulong> softwareBreakpoints = [];
    private readonly HashSet<ulong> hardwareBreakpoints = [];
    private readonly HashSet<ulong> active = [];
    private readonly HashSet<ulong> applied = [];
    private bool breakpointsChanged;
    private DebugStop? pending;
    private GuestFault? pendingFault;
    private ulong pendingFaultRip;
    private SmcEvent? smcHit;
    private bool running;
    private bool detached;

    /// <summary>Attaches to <paramref name="machine"/>.</summary>
    /// <param name="machine">The machine to debug (its vCPU must be stopped).</param>
    /// <param name="run">
    /// Runs the guest for at most the given number of instructions (default: <see cref="Machine.Run"/>; an OS
    /// personality passes its own loop, e.g. one that time-slices threads).
    /// </param>
    public DebugController(Machine machine, Func<long, StopReason>? run = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        this.machine = machine;
        cpu = machine.Cpu;
        this.run = run ?? machine.Run;
        machine.AddressSpace.DebugHooks = hooks;
        machine.SmcEventRaised += OnSmcEvent;
        cpu.AttachDebugger(this);
    }

    /// <summary>The debugged machine.</summary>
    public Machine Machine => machine;

    /// <summary>Polled between instruction slices while the guest runs; true stops it (<see cref="DebugStopKind.Interrupted"/>).</summary>
    public Func<bool>? InterruptRequested { get; set; }

    /// <summary>Every SMC event stops the guest as a write watchpoint hit on the written address, after the writing instruction.</summary>
    public bool BreakOnSmc
    {
        get => hooks.TrapCodeWrites;
        set
        {
            hooks.TrapCodeWrites = value;
            // Code frames may hold tagged write entries that go straight to the SMC path: make stores re-resolve.
            machine.AddressSpace.FlushTlbs(0, AddressSpace.Limit);
        }
    }

    /// <summary>The last SMC event seen, or null.</summary>
    public SmcEvent? LastSmcEvent { get; private set; }

    /// <summary>SMC events seen since attaching.</summary>
    public long SmcEvents { get; private set; }

    /// <summary>The watchpoints set.</summary>
    public IReadOnlyList<Watchpoint> Watchpoints => hooks.Watches;

    /// <summary>Adds a software (<paramref name="hardware"/> false) or hardware breakpoint; false if it was already set.</summary>
    public bool AddBreakpoint(ulong address, bool hardware = false)
    {
        bool added = (hardware ? hardwareBreakpoints : softwareBreakpoints).Add(address);
        breakpointsChanged |= added;
        return added;
    }

    /// <summary>Removes a breakpoint; false if it was not set.</summary>
    public bool RemoveBreakpoint(ulong address, bool hardware = false)
    {
        bool removed = (hardware ? hardwareBreakpoints : softwareBreakpoints).Remove(address);
        breakpointsChanged |= removed;
        return removed;
    }

    /// <summary>Longest watched range: x86 debug registers watch 1, 2, 4 or 8 bytes; Hv takes up to a page.</summary>
    public const int MaxWatchLength = PhysicalPage.Size;

    /// <summary>Adds a watchpoint of 1 to <see cref="MaxWatchLength"/> bytes; false for a bad length or a range past the address space.</summary>
    public bool AddWatchpoint(ulong address, int length, WatchKind kind)
    {
        if (length is < 1 or > MaxWatchLength || address >= AddressSpace.Limit || address + (ulong)length > AddressSpace.Limit) return false;
        hooks.Add(new Watchpoint(address, length, kind));
        machine.AddressSpace.FlushTlbs(address & ~PhysicalPage.OffsetMask, address + (ulong)length);
        return true;
    }

    /// <summary>Removes a watchpoint; false if it was not set.</summary>
    public bool RemoveWatchpoint(ulong address, int length, WatchKind kind)
    {
        bool removed = hooks.Remove(new Watchpoint(address, length, kind));
        if (removed) machine.AddressSpace.FlushTlbs(address & ~PhysicalPage.OffsetMask, address + (ulong)length);
        return removed;
    }

    /// <summary>Reads guest memory for the debugger (ignoring guest permissions); returns the bytes read before the first unmapped one.</summary>
    public int ReadMemory(ulong address, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            ulong a = address + (ulong)done;
            int n = Math.Min(destination.Length - done, PhysicalPage.Size - (int)(a & PhysicalPage.OffsetMask));
            if (a < address || !machine.AddressSpace.TryRead(a, destination.Slice(done, n), checkPermissions: false)) break;
            done += n;
        }
        return done;
    }

    /// <summary>
    /// Writes guest memory for the debugger (ignoring guest permissions). A write into code goes through the
    /// SMC path like a guest store, so stale decoded and translated code is dropped. False if a byte is unmapped.
    /// </summary>
    public bool WriteMemory(ulong address, ReadOnlySpan<byte> source) =>
        address + (ulong)source.Length >= address && machine.WriteMemoryAsDebugger(address, source, "gdb");

    /// <summary>
    /// Removes every breakpoint and watchpoint and turns break-on-SMC off; guest faults go straight to the
    /// kernel again. <see cref="Resume"/> then runs the guest to its end.
    /// </summary>
    public void Detach()
    {
        softwareBreakpoints.Clear();
        hardwareBreakpoints.Clear();
        breakpointsChanged = true;
        foreach (Watchpoint w in hooks.Watches.ToArray()) RemoveWatchpoint(w.Address, w.Length, w.Kind);
        BreakOnSmc = false;
        detached = true;
    }

    /// <summary>Runs one instruction (<paramref name="step"/>) or until something stops the guest.</summary>
    /// <param name="step">Single-step instead of continuing.</param>
    /// <param name="signal">
    /// For a guest stopped at <see cref="DebugStopKind.Signal"/>: nonzero delivers the fault to the guest (its
    /// handler runs, or it dies), zero discards it (the faulting instruction runs again).
    /// </param>
    public DebugStop Resume(bool step, int signal = 0)
    {
        ApplyBreakpoints();
        running = true;
        pending = null;
        cpu.ClearStop();
        try
        {
            if (pendingFault is { } fault)
            {
                // Discarded (signal 0): a fault re-runs its instruction, a trap (INT3) goes on after it — RIP is
                // already where the guest stopped. Delivered: the kernel wants RIP on the trapping instruction.
                pendingFault = null;
                if (signal != 0 && machine.Kernel is { } kernel)
                {
                    if (IsTrap(fault.Kind) && cpu.State.Rip == fault.Address) cpu.State.Rip = pendingFaultRip;
                    kernel.Fault(cpu, fault);
                    if (cpu.StopReason is { } died) return new DebugStop(DebugStopKind.Ended, Ended: died);
                }
            }
            if (step)
            {
                StepOnce();
                return pending ?? (cpu.StopReason is { } ended ? Ended(ended) : new DebugStop(DebugStopKind.Step, cpu.State.Rip));
            }
            while (true)
            {
                StopReason reason = run(PollInterval);
                if (pending is { } stop) return stop;
                if (reason.Kind != StopKind.InstructionLimit) return Ended(reason);
                if (InterruptRequested?.Invoke() == true) return new DebugStop(DebugStopKind.Interrupted, cpu.State.Rip);
            }
        }
        finally
        {
            running = false;
        }
    }

    private static DebugStop Ended(StopReason reason) => new(DebugStopKind.Ended, Ended: reason);

    /// <summary>Gives the vCPU the current breakpoint set; code decoded before a new breakpoint existed is dropped.</summary>
    private void ApplyBreakpoints()
    {
        if (!breakpointsChanged) return;
        breakpointsChanged = false;
        active.Clear();
        active.UnionWith(softwareBreakpoints);
        active.UnionWith(hardwareBreakpoints);
        bool added = !applied.IsSupersetOf(active);
        applied.Clear();
        applied.UnionWith(active);
        cpu.SetBreakpoints(active.Count == 0 ? null : active);
        // Blocks may run through a new breakpoint and regions may contain it: decode and translate afresh.
        if (added) cpu.InvalidateCode();
    }

    /// <summary>One instruction with watch traps turned into recorded hits.</summary>
    private void StepOnce()
    {
        hooks.Recording = true;
        hooks.Hit = null;
        smcHit = null;
        try
        {
            cpu.StepInstruction();
        }
        finally
        {
            hooks.Recording = false;
        }
        if (hooks.Hit is { } hit) pending ??= new DebugStop(DebugStopKind.Watchpoint, hit.Address, hit.Kind);
        else if (smcHit is { } written) pending ??= SmcStop(written);
    }

    /// <summary>The dispatcher reached a breakpoint: stop before it runs.</summary>
    internal bool OnBreakpoint(Vcpu vcpu, ulong rip)
    {
        pending = new DebugStop(softwareBreakpoints.Contains(rip) ? DebugStopKind.Breakpoint : DebugStopKind.HardwareBreakpoint, rip);
        vcpu.Stop(new StopReason(StopKind.Interrupted));
        return true;
    }

    /// <summary>
    /// A fault reached the vCPU loop. A watch trap re-runs the instruction and stops after it if something was
    /// hit; a guest fault stops for the debugger before the kernel sees it (like ptrace). True when handled here.
    /// </summary>
    internal bool OnFault(Vcpu vcpu, in GuestFault fault)
    {
        if (fault.Kind == FaultKind.DebuggerWatch)
        {
            StepOnce();
            if (pending is not null) vcpu.Stop(new StopReason(StopKind.Interrupted));
            return true;
        }
        if (!running || detached || machine.Kernel is null) return false;
        pendingFault = fault;
        pendingFaultRip = vcpu.State.Rip;
        if (IsTrap(fault.Kind)) vcpu.State.Rip = fault.Address; // traps report the next instruction
        pending = new DebugStop(DebugStopKind.Signal, vcpu.State.Rip, Value: SignalOf(fault.Kind));
        vcpu.Stop(new StopReason(StopKind.Interrupted));
        return true;
    }

    private static bool IsTrap(FaultKind kind) => kind is FaultKind.Breakpoint or FaultKind.DebugTrap;

    /// <summary>The signal a fault becomes (Linux numbers, which are also gdb's for these).</summary>
    public static int SignalOf(FaultKind kind) => kind switch
    {
        FaultKind.InvalidOpcode => 4,
        FaultKind.Breakpoint or FaultKind.DebugTrap => 5,
        FaultKind.DivideError or FaultKind.FloatingPoint => 8,
        FaultKind.BusError => 7,
        _ => 11,
    };

    private void OnSmcEvent(Vcpu vcpu, SmcEvent e)
    {
        LastSmcEvent = e;
        SmcEvents++;
        if (!running || !BreakOnSmc) return;
        if (hooks.Recording)
        {
            smcHit ??= e;
            return;
        }
        // A write that was not trapped (e.g. a syscall writing into code): stop once control is back in the dispatcher.
        pending ??= SmcStop(e);
        vcpu.Stop(new StopReason(StopKind.Interrupted));
    }

    private static DebugStop SmcStop(SmcEvent e) => new(DebugStopKind.Watchpoint, e.Address, WatchKind.Write, Smc: e);
}
