using Hv.Core.Cpu;
using Hv.Core.Decoding;
using Hv.Core.Diagnostics;
using Hv.Core.Memory;
using Hv.Core.Translation;
using Iced.Intel;
using Microsoft.Extensions.Logging;

namespace Hv.Core.Execution;

/// <summary>
/// One virtual CPU: architectural state, its view of memory (with its own soft TLB) and the execution loop.
/// The loop runs decoded blocks; each instruction is one indirect call to its handler.
/// </summary>
public sealed unsafe partial class Vcpu
{
    private readonly BlockDecoder decoder;
    private readonly CodeCache codeCache;
    private readonly ILogger logger;
    private readonly bool trace;
    private readonly TranslationCache? translationCache;
    private readonly Translator? translator;
    private readonly BackgroundTranslator? background;
    /// <summary>Blocks inside regions being compiled in the background: they do not start regions of their own.</summary>
    private readonly HashSet<DecodedBlock> inFlight = new(ReferenceEqualityComparer.Instance);
    private readonly int hotThreshold;
    /// <summary>Translate mode: first compiles are baseline units (code that runs once should cost little to compile).</summary>
    private readonly bool baselineFirst;
    private StopReason? stop;
    private Interpretation.Simd.SimdUnit? simd;
    private long budgetEnd;
    private readonly Smc.InstructionCacheModel? icache;

    /// <summary>Address of the instruction being executed; written by the interpreter loop and translated code.</summary>
    internal ulong instructionStart;

    internal Vcpu(Machine machine, CodeCache codeCache, ILogger logger)
    {
        Machine = machine;
        this.codeCache = codeCache;
        this.logger = logger;
        stats = machine.Stats;
        memory = new GuestMemory(machine.AddressSpace);
        readTlb = memory.Tlb.Read;
        writeTlb = memory.Tlb.Write;
        decoder = new BlockDecoder(Memory, machine.Options.MaxBlockInstructions);
        trace = machine.Options.TraceInstructions && logger.IsEnabled(LogLevel.Trace);
        if (machine.Options.InstructionCache is { } geometry)
        {
            icache = Smc.InstructionCacheModel.Create(geometry);
            machine.Stats.InstructionCache = icache;
        }
        if (machine.Options.Mode != ExecutionMode.Interpret)
        {
            translationCache = new TranslationCache(machine.Stats);
            translator = new Translator(machine.Stats, logger, TryGetBlock);
            codeCache.BlockInvalidated = translationCache.OnBlockInvalidated;
            hotThreshold = machine.Options.Mode == ExecutionMode.Translate ? 1 : machine.Options.HotThreshold;
            baselineFirst = machine.Options.Mode == ExecutionMode.Translate;
            // Tiered mode compiles hot regions in the background. Translate mode compiles every block synchronously
            // the first time it runs, and only regrows hot units in the background (the baseline unit runs meanwhile).
            if (machine.Options.BackgroundTranslation) background = new BackgroundTranslator();
        }
    }

    /// <summary>The machine this vCPU belongs to.</summary>
    public Machine Machine { get; }

    /// <summary>Registers and flags.</summary>
    public CpuState State => state;

    /// <summary>Guest memory as this vCPU sees it.</summary>
    public GuestMemory Memory => memory;

    /// <summary>Counters.</summary>
    public HvStats Stats => stats;

    // Fields rather than auto-properties: every translated unit's prologue loads them, and a field load is less
    // work for the JIT than a getter call it has to inline (unit compiles are mostly JIT time).
    internal readonly CpuState state = new();
    internal readonly GuestMemory memory;

    /// <summary>
    /// <see cref="Memory"/>'s TLB arrays (they never change), one load away for translated code: every unit's
    /// prologue loads them (rather than through the memory and TLB objects).
    /// </summary>
    internal readonly TlbEntry[] readTlb, writeTlb;

    internal readonly HvStats stats;

    /// <summary>
    /// The simulated instruction cache, or null when <see cref="HvOptions.InstructionCache"/> is off. The
    /// interpreter fetches the lines of each block it runs; translated code fetches, on each unit entry, every
    /// distinct line of the unit's blocks once (loops inside a unit are not re-counted).
    /// The SMC path calls <see cref="Smc.InstructionCacheModel.InvalidateWrite"/> for writes that change code.
    /// </summary>
    public Smc.InstructionCacheModel? InstructionCache => icache;

    /// <summary>Host thunks for SIMD/x87 instructions, created on first use.</summary>
    internal Interpretation.Simd.SimdUnit Simd => simd ??= new Interpretation.Simd.SimdUnit();

    /// <summary>The OS personality, or null for a bare machine.</summary>
    public IGuestKernel? Kernel => Machine.Kernel;

    /// <summary>Address of the instruction being executed (the precise RIP if it faults).</summary>
    public ulong InstructionStart => instructionStart;

    /// <summary>Why the vCPU stopped, once it has.</summary>
    public StopReason? StopReason => stop;

    /// <summary>Stops the vCPU after the current instruction.</summary>
    public void Stop(StopReason reason) => stop ??= reason;

    /// <summary>Runs until the guest exits, is killed, or <paramref name="instructionLimit"/> instructions ran.</summary>
    public StopReason Run(long instructionLimit = long.MaxValue)
    {
        stop = null;
        budgetEnd = instructionLimit == long.MaxValue ? long.MaxValue : Stats.GuestInstructions + instructionLimit;
        while (stop is null)
        {
            try
            {
                RunBlocks();
            }
            catch (GuestFaultException e)
            {
                RunningUnitId = 0;
                callDepth = 0; // the fault unwound every nested unit
                State.Rip = InstructionStart;
                HandleFault(e.Fault);
            }
        }
        EngineLog.VcpuStopped(logger, stop.Value.ToString(), Stats.GuestInstructions);
        return stop.Value;
    }

    private void RunBlocks()
    {
        CpuState state = State;
        DecodedBlock? previous = null;
        TranslatedUnit? previousUnit = null;
        while (stop is null)
        {
            if (stats.GuestInstructions >= budgetEnd)
            {
                Stop(new StopReason(StopKind.InstructionLimit));
                return;
            }
            // Finished units are installed here, between two blocks or units: never while code runs.
            if (background is not null && background.HasCompleted)
            {
                InstallCompleted();
                previous = null;
                previousUnit = null;
            }
            ulong rip = state.Rip;
            // Null unless a debugger set breakpoints (see Vcpu.Debug.cs): blocks are split at them and never translated.
            if (breakpoints is not null && breakpoints.Contains(rip) && StopAtBreakpoint(rip)) return;
            if (translationCache is not null)
            {
                TranslatedUnit? unit = previousUnit?.Successor;
                if (unit is not null && unit.Start == rip && !unit.Invalidated)
                {
                    stats.ChainedExits++;
                }
                else if (translationCache.TryGet(rip, out unit))
                {
                    Chain(previousUnit, unit!);
                }
                if (unit is not null)
                {
                    previous = null;
                    previousUnit = EnterUnit(unit);
                    continue;
                }
            }

            DecodedBlock? block = previous?.Successor;
            if (block is null || block.Start != rip || block.Invalidated)
            {
                // A fetch fault while decoding belongs to the branch target, not the branch (as Linux reports it).
                instructionStart = rip;
                block = Lookup(rip);
                if (previous is not null) previous.Successor = block;
            }
            if (background is not null && !baselineFirst)
            {
                if (++block.Executions == hotThreshold && !inFlight.Contains(block)) RequestTranslation(block);
            }
            else if (++block.Executions >= hotThreshold && translator is not null)
            {
                TranslatedUnit unit = translator.Translate(block, baselineFirst);
                translationCache!.Add(unit);
                Chain(previousUnit, unit);
                previous = null;
                previousUnit = EnterUnit(unit);
                continue;
            }
            previous = block;
            previousUnit = null;
            Interpret(block, state, stats);
        }
    }

    /// <summary>
    /// Remembers <paramref name="next"/> as what follows <paramref name="from"/>. The first successor sticks
    /// until it dies: exits whose target varies (returns, indirect jumps) would otherwise relink on every pass,
    /// and the cache lookup serves them well.
    /// </summary>
    private static void Chain(TranslatedUnit? from, TranslatedUnit next)
    {
        if (from is not null && !from.Invalidated && from.Successor is null or { Invalidated: true }) from.Successor = next;
    }

    private void RequestTranslation(DecodedBlock block) => RequestTranslation(translator!.SelectRegion(block));

    private void RequestTranslation(DecodedBlock[] region)
    {
        foreach (DecodedBlock b in region) inFlight.Add(b);
        background!.Request(Translator.CreateUnit(region));
    }

    /// <summary>Entries of a unit after which it is regrown (deterministic: a count, not a clock).</summary>
    internal const long RetranslateEntries = 256;

    /// <summary>
    /// A region is chosen when its entry gets hot, before all of its paths have run: translate mode compiles
    /// each block the first time it runs, when its successors are not even decoded, and in tiered mode the
    /// paths a function takes after its calls return warm up later than its entry. A unit that turns out hot
    /// is compiled once more from the same entry over every block warm by now, in full even if no block was
    /// added when it was a baseline unit (see <see cref="TranslatedUnit.Baseline"/>), in the background (the old
    /// unit running meanwhile) unless translation is synchronous; the new unit replaces the old one.
    /// </summary>
    private TranslatedUnit Regrow(TranslatedUnit unit)
    {
        DecodedBlock entry = unit.Blocks[0];
        if (entry.Invalidated) return unit;
        if (background is not null && inFlight.Contains(entry))
        {
            // Its entry is being compiled into another region right now. A baseline unit tries again later
            // (entries or calls come back to the threshold, pushed back by as many), else a hot block could run
            // baseline code for good; a full unit stays as it is (retrying those too only added compiles: tiered
            // strings_sort regrew 148 units instead of 85 and ran 10% longer).
            if (unit.Baseline) unit.RegrowAt += RetranslateEntries;
            return unit;
        }
        DecodedBlock[] region = translator!.SelectRegion(entry, overCalls: true);
        // Nothing new: compiling it again would be wasted (unless only a baseline unit exists yet).
        if (region.Length <= unit.Blocks.Length && !unit.Baseline) return unit;
        stats.UnitsRegrown++;
        if (background is not null)
        {
            RequestTranslation(region);
            return unit;
        }
        TranslatedUnit grown = Translator.CreateUnit(region);
        Translator.Compile(grown, out long ticks);
        translator.Account(grown, ticks);
        translationCache!.Add(grown);
        return grown;
    }

    /// <summary>
    /// Installs every unit the background translator finished. A unit made from a block that was invalidated
    /// meanwhile is discarded, and its entry block (if still valid) may become hot and be requested again.
    /// </summary>
    private void InstallCompleted()
    {
        while (background!.TryTake(out CompletedTranslation done))
        {
            done.Error?.Throw(); // a translator bug must not be hidden by running interpreted forever
            // Blocks that got hot while they were in flight may start a region of their own if the dispatcher
            // still reaches them (not only through this unit): back to warm, so they count up again.
            for (int i = 0; i < done.Region.Length; i++)
            {
                DecodedBlock b = done.Region[i];
                inFlight.Remove(b);
                if (i > 0 && b.Executions >= hotThreshold) b.Executions = Math.Max(1, hotThreshold / 4);
            }
            // Stale: a source block died, or an operand in it was re-decoded in place, while it compiled.
            if (done.Unit is null || done.Unit.IsStale)
            {
                Stats.UnitsDiscarded++;
                DecodedBlock entry = done.Region[0];
                if (!entry.Invalidated) entry.Executions = 0;
                continue;
            }
            translator!.Account(done.Unit!, done.Ticks);
            if (!translationCache!.Add(done.Unit!)) Stats.UnitsDiscarded++; // patched in place while compiling
        }
    }

    /// <summary>Waits until the background translator has compiled everything requested (tests, benchmarks).</summary>
    internal void WaitForBackgroundTranslations() => background?.WaitForAll();

    /// <summary>Tests: the background translator (null without background translation), to hold its compiles.</summary>
    internal BackgroundTranslator? BackgroundTranslator => background;

    private void Interpret(DecodedBlock block, CpuState state, HvStats stats)
    {
        icache?.Fetch(block.Start, (int)(block.End - block.Start));
        Instruction[] instructions = block.Instructions;
        delegate*<Vcpu, ref Instruction, void>[] handlers = block.Handlers;
        for (int i = 0; i < instructions.Length; i++)
        {
            ref Instruction ins = ref instructions[i];
            instructionStart = ins.IP;
            state.Rip = ins.NextIP;
            if (trace) EngineLog.InstructionTrace(logger, ins.IP, ins.ToString());
            handlers[i](this, ref ins);
            stats.InterpretedInstructions++;
            // A store into this very block: leave right after the storing instruction and decode afresh.
            if (block.Invalidated)
            {
                if (i + 1 < instructions.Length) stats.PreciseSmcExits++;
                break;
            }
        }
    }

    /// <summary>
    /// Translated code returns to the dispatcher at a back edge once <see cref="HvStats.TranslatedInstructions"/>
    /// reaches this (the instruction budget of <see cref="Run"/>).
    /// </summary>
    internal long translatedLimit;

    /// <summary>Runs a unit from the dispatcher; returns the unit that ran (a regrown one may replace it).</summary>
    private TranslatedUnit EnterUnit(TranslatedUnit unit)
    {
        long remaining = budgetEnd - stats.GuestInstructions;
        translatedLimit = remaining >= long.MaxValue - stats.TranslatedInstructions ? long.MaxValue : stats.TranslatedInstructions + remaining;
        unit = PrepareEntry(unit);
        RunningUnitId = unit.Id;
        syscallsAtDispatch = stats.Syscalls;
        unit.Body(this);
        RunningUnitId = 0;
        return unit;
    }

    /// <summary>Bookkeeping of every unit entry (from the dispatcher or a translated call); returns the unit to run.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private TranslatedUnit PrepareEntry(TranslatedUnit unit)
    {
        if (unit.Entries == unit.RegrowAt) unit = Regrow(unit);
        CountEntry(unit);
        return unit;
    }

    /// <summary>An entry into <paramref name="unit"/>: counted, and its code fetched through the simulated I-cache.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private void CountEntry(TranslatedUnit unit)
    {
        unit.Entries++;
        if (icache is not null) FetchUnit(icache, unit);
    }

    /// <summary>Most translated calls nested on the host stack; deeper guest calls go through the dispatcher.</summary>
    internal const int MaxCallDepth = 64;

    /// <summary>Translated calls currently nested on the host stack.</summary>
    private int callDepth;

    /// <summary>
    /// A CALL in translated code (the return address is pushed, RIP is <paramref name="target"/>, registers are
    /// in the state): runs the callee's unit as a nested host call, so that its RET comes straight back into
    /// <paramref name="caller"/>, which continues at the return address if that is where the guest went (it
    /// checks, and else asks <see cref="FollowToReturn"/>). Returns false, having run nothing, when the
    /// dispatcher must take over: no unit at the target yet, nesting too deep, the instruction budget spent, a
    /// stop or a debugger pending, or finished background translations to install.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal bool CallTranslated(TranslatedUnit caller, int site, ulong target)
    {
        if (!MayNest()) return false;
        // A direct call: its slot only ever holds the unit at its one target (indirect calls use CallIndirect).
        TranslatedUnit? callee = caller.CallTargets![site];
        if (callee is null || callee.Invalidated)
        {
            if (!translationCache!.TryGet(target, out callee)) return false;
            caller.SetCallTarget(site, callee!);
        }
        else stats.ChainedExits++;
        System.Diagnostics.Debug.Assert(callee!.Start == target);
        EnterCallee(caller, callee!);
        return true;
    }

    /// <summary>Call-site slots of an indirect call: its first this many targets stick; more are looked up.</summary>
    internal const int IndirectCallWays = 4;

    /// <summary>
    /// <see cref="CallTranslated"/> for an indirect call, whose site has <see cref="IndirectCallWays"/> slots from
    /// <paramref name="site"/> on: a comparator passed to qsort, a virtual method, a table of operations. A target
    /// in none of them fills a free one (a slot never replaces a live unit, so a site with many targets costs a
    /// lookup per call, not a relink).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal bool CallIndirect(TranslatedUnit caller, int site, ulong target)
    {
        if (!MayNest()) return false;
        TranslatedUnit?[] slots = caller.CallTargets!;
        int free = -1;
        for (int i = site; i < site + IndirectCallWays; i++)
        {
            TranslatedUnit? slot = slots[i];
            if (slot is null || slot.Invalidated)
            {
                if (free < 0) free = i;
            }
            else if (slot.Start == target)
            {
                stats.ChainedExits++;
                EnterCallee(caller, slot);
                return true;
            }
        }
        if (!translationCache!.TryGet(target, out TranslatedUnit? callee)) return false;
        if (free >= 0)
        {
            caller.SetCallTarget(free, callee!);
            caller.CallSiteBlocks![site]!.NoteIndirectCallTarget(free - site, target); // a regrown region takes it in
        }
        EnterCallee(caller, callee!);
        return true;
    }

    /// <summary>
    /// Runs the callee of a translated call as a nested host call (see <see cref="CallTranslated"/>). Then counts
    /// the call: a caller that loops around its calls is regrown like a unit entered often (in sync mode the new
    /// unit replaces it at once, and the running one leaves as it comes back from this call).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private void EnterCallee(TranslatedUnit caller, TranslatedUnit callee)
    {
        stats.TranslatedCalls++;
        if (callee.ForwardSlot == 0 || TryForward(ref callee))
        {
            callee = PrepareEntry(callee);
            long outer = RunningUnitId;
            callDepth++;
            RunningUnitId = callee.Id;
            callee.Body(this);
            RunningUnitId = outer;
            callDepth--;
        }
        if (++caller.CallsMade == caller.RegrowAt && !caller.Invalidated) Regrow(caller);
    }

    /// <summary>
    /// The syscall count when the dispatcher last entered a unit. A syscall inside translated code ends its unit,
    /// and the callers on the host stack then leave too (the guest is not at their return addresses), so while
    /// the count is unchanged no syscall has run since any of the nested calls began.
    /// </summary>
    private long syscallsAtDispatch;

    /// <summary>
    /// A translated call came back to <paramref name="caller"/> with the guest somewhere other than
    /// <paramref name="returnAddress"/>: the callee left its unit (a jump table, a jump out of its region, a tail
    /// call). Runs the units it goes through, nested under the caller as the callee was, and returns true once the
    /// guest is at the return address; false (the caller leaves for the dispatcher) when a syscall has run since
    /// the dispatcher entered the outermost unit (the OS may have switched threads or delivered a signal), the
    /// dispatcher has work (<see cref="MayNest"/>), or there is no unit yet where the guest went.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    internal bool FollowToReturn(TranslatedUnit caller, ulong returnAddress)
    {
        callDepth++;
        while (stats.Syscalls == syscallsAtDispatch && MayNest() && translationCache!.TryGet(State.Rip, out TranslatedUnit? next))
        {
            next = PrepareEntry(next!);
            RunningUnitId = next.Id;
            next.Body(this);
            if (State.Rip == returnAddress) break;
        }
        callDepth--;
        RunningUnitId = caller.Id;
        return State.Rip == returnAddress;
    }

    /// <summary>
    /// The callee of a translated call is a PLT stub (<see cref="TranslatedUnit.ForwardSlot"/>): takes its jump
    /// here — the stub counted as run and fetched, RIP at the slot's target — and makes the unit there the
    /// callee, so the final function's RET comes back into the caller instead of through the dispatcher twice.
    /// False when no unit exists at the target yet: the state is then exactly as after the jump, and the caller
    /// sees RIP is not its return address and leaves for the dispatcher. A slot that cannot be read or holds a
    /// non-canonical address leaves the stub as the callee, whose own code raises the fault precisely.
    /// </summary>
    private bool TryForward(ref TranslatedUnit callee)
    {
        if (!memory.TryRead64(callee.ForwardSlot, out ulong target) || !Interpretation.ControlInstructions.IsCanonical(target)) return true;
        CountEntry(callee);
        stats.TranslatedInstructions++;
        state.Rip = target;
        TranslatedUnit? final = callee.CallTargets![0];
        if (final is null || final.Invalidated || final.Start != target)
        {
            if (!translationCache!.TryGet(target, out final)) return false;
            callee.SetCallTarget(0, final!);
        }
        else stats.ChainedExits++;
        callee = final!;
        return true;
    }

    /// <summary>
    /// Can a translated call nest one more host call? Not too deep, and nothing the dispatcher must see first:
    /// a stop, breakpoints, the instruction budget spent, finished background translations to install.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private bool MayNest() => callDepth != MaxCallDepth && stop is null && breakpoints is null
        && stats.TranslatedInstructions < translatedLimit && background?.HasCompleted != true;

    /// <summary>
    /// <see cref="TranslatedUnit.Id"/> of the unit executing right now, 0 while interpreting (the SMC engine counts
    /// precise exits from it). An id, not a reference: it changes on every unit entry and exit, and a plain
    /// store costs no GC write barrier.
    /// </summary>
    internal long RunningUnitId { get; private set; }

    /// <summary>This vCPU's translated units (null in interpret mode).</summary>
    internal TranslationCache? TranslationCache => translationCache;

    /// <summary>Feeds the unit's lines to the I-cache model (its footprint is made on its first entry).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void FetchUnit(Smc.InstructionCacheModel icache, TranslatedUnit unit) =>
        icache.FetchLines(unit.ICacheFootprint ?? NewFootprint(icache, unit));

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static Smc.InstructionCacheFootprint NewFootprint(Smc.InstructionCacheModel icache, TranslatedUnit unit) =>
        unit.ICacheFootprint = new Smc.InstructionCacheFootprint(icache.LinesOf(unit.Blocks));

    /// <summary>
    /// A block worth adding to a region: already decoded and warm (run at least a quarter of the hot threshold
    /// times). Cold paths stay out of regions: they would only add JIT time (and paths that warm up later join
    /// when the unit is regrown).
    /// </summary>
    private DecodedBlock? TryGetBlock(ulong address) =>
        codeCache.TryGet(address, out DecodedBlock? block) && IsWarm(block!) && breakpoints?.Contains(address) != true ? block : null;

    /// <summary>
    /// Has the block run often enough to join a region? Tiered mode counts a block's runs until it is
    /// translated. Translate mode translates every block on its first run, so there it counts the entries of the
    /// unit at the block (its baseline unit, or a region grown from it): a region grown over every block that
    /// ever ran would fill up with start-up and error paths before it reached its hot callees.
    /// </summary>
    private bool IsWarm(DecodedBlock block) => baselineFirst
        ? translationCache!.TryPeek(block.Start, out TranslatedUnit? unit) && unit!.Entries >= RetranslateEntries / 4
        : block.Executions >= Math.Max(1, hotThreshold / 4);

    private DecodedBlock Lookup(ulong rip)
    {
        if (codeCache.TryGet(rip, out DecodedBlock? block)) return block!;
        block = decoder.Decode(rip);
        Stats.BlocksDecoded++;
        codeCache.Add(block);
        EngineLog.BlockDecoded(logger, block.Start, block.End, block.Count);
        return block;
    }

    private void HandleFault(in GuestFault fault)
    {
        if (debugger is not null && debugger.OnFault(this, fault)) return;
        if (fault.Kind is FaultKind.PageNotMapped or FaultKind.PageProtection) Stats.PageFaults++;
        EngineLog.GuestFault(logger, fault.Kind, State.Rip, fault.Address, fault.Access);
        if (Kernel is { } kernel) kernel.Fault(this, fault);
        else Stop(new StopReason(StopKind.Faulted, Fault: fault, Message: Describe(fault)));
    }

    /// <summary>A one-line description of a fault at the current RIP, with the disassembled instruction.</summary>
    public string Describe(in GuestFault fault)
    {
        string where = $"rip 0x{State.Rip:x}";
        string instruction = DisassembleAt(State.Rip) ?? "<unreadable>";
        return fault.Kind switch
        {
            FaultKind.BusError => $"{fault.Access.ToString().ToLowerInvariant()} access past the end of the mapped file at 0x{fault.Address:x}, {where}: {instruction}",
            FaultKind.PageNotMapped or FaultKind.PageProtection =>
                $"{(fault.Kind == FaultKind.PageNotMapped ? "unmapped" : "protected")} {fault.Access.ToString().ToLowerInvariant()} access at 0x{fault.Address:x}, {where}: {instruction}",
            _ => $"{fault.Detail ?? fault.Kind.ToString()}, {where}: {instruction}",
        };
    }

    /// <summary>Disassembles the instruction at <paramref name="address"/> with its bytes, or null if unreadable.</summary>
    public string? DisassembleAt(ulong address)
    {
        Span<byte> bytes = stackalloc byte[15];
        int n = 0;
        while (n < 15 && Memory.Space.TryRead(address + (ulong)n, bytes.Slice(n, 1), checkPermissions: false)) n++;
        if (n == 0) return null;
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes[..n].ToArray()), address);
        decoder.Decode(out Instruction ins);
        string hex = Convert.ToHexString(bytes[..Math.Max(1, Math.Min(n, ins.Length == 0 ? n : ins.Length))]).ToLowerInvariant();
        return ins.Code == Code.INVALID ? $"(bad) [{hex}]" : $"{ins} [{hex}]";
    }

    /// <summary>Forgets cached decoded code for a range that was unmapped or remapped.</summary>
    public void InvalidateCode()
    {
        codeCache.Clear();
        icache?.Flush();
    }
}
