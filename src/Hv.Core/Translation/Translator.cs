using System.Diagnostics;
using Hv.Core.Decoding;
using Hv.Core.Diagnostics;
using Hv.Core.Interpretation;
using Iced.Intel;
using Microsoft.Extensions.Logging;
using FlowControl = Iced.Intel.FlowControl;

namespace Hv.Core.Translation;

/// <summary>
/// Compiles hot guest code into host delegates. <see cref="Translate"/> reads as the pipeline:
/// grow a region from the hot block → emit IL → let the .NET JIT compile it → hand back a unit that records
/// the blocks it came from.
/// </summary>
internal sealed unsafe class Translator
{
    /// <summary>Most blocks in one region.</summary>
    public const int MaxRegionBlocks = 32;
    /// <summary>Most guest instructions in one region.</summary>
    public const int MaxRegionInstructions = 256; // keeps unit IL well below the size at which RyuJIT stops optimizing

    private readonly HvStats stats;
    private readonly ILogger logger;
    private readonly Func<ulong, DecodedBlock?> blockAt;

    /// <summary>Holds the baseline units this translator compiles (translate mode's first compiles).</summary>
    private readonly BaselineAssemblies baselines = new();

    /// <param name="stats">Counters.</param>
    /// <param name="logger">The engine's logger.</param>
    /// <param name="blockAt">Returns the decoded block at an address if it is worth adding to a region, else null.</param>
    public Translator(HvStats stats, ILogger logger, Func<ulong, DecodedBlock?> blockAt)
    {
        this.stats = stats;
        this.logger = logger;
        this.blockAt = blockAt;
    }

    /// <summary>Translates the region that starts with <paramref name="entry"/>, on this thread.</summary>
    /// <param name="entry">The block about to run.</param>
    /// <param name="baseline">
    /// Compile the cheaper first-run form (see <see cref="TranslatedUnit.Baseline"/>) of the entry block alone:
    /// translate mode compiles every block the first time it runs, so the blocks a region would grow over have
    /// units already, and compiling them again is wasted until the unit proves hot and is regrown.
    /// </param>
    public TranslatedUnit Translate(DecodedBlock entry, bool baseline = false)
    {
        TranslatedUnit unit = CreateUnit(baseline ? [entry] : SelectRegion(entry), baseline);
        Compile(unit, out long ticks, baselines);
        Account(unit, ticks);
        return unit;
    }

    /// <summary>The blocks of the region that starts with <paramref name="entry"/> (entry first). vCPU thread only.</summary>
    /// <param name="entry">The hot block.</param>
    /// <param name="overCalls">
    /// Also grow over the return addresses of calls (so that a translated call comes back into this unit): for
    /// regions that proved hot (regrowing), since it makes a region about twice as large to compile.
    /// </param>
    public DecodedBlock[] SelectRegion(DecodedBlock entry, bool overCalls = false) => [.. GrowRegion(entry, overCalls)];

    /// <summary>
    /// Emits IL for <paramref name="unit"/> (from its own copy of the instructions) and has the .NET JIT compile it
    /// now. Touches no engine state, so it may run on any thread (a baseline unit, which needs
    /// <paramref name="baselines"/>, only on the vCPU's); <paramref name="ticks"/> is the time it took.
    /// </summary>
    public static void Compile(TranslatedUnit unit, out long ticks, BaselineAssemblies? baselines = null)
    {
        long t0 = Stopwatch.GetTimestamp();
        unit.Body = UnitCompiler.Compile(unit, baselines);
        ticks = Stopwatch.GetTimestamp() - t0;
    }

    /// <summary>Counts and logs a unit about to be installed. vCPU thread only.</summary>
    public void Account(TranslatedUnit unit, long ticks)
    {
        stats.BlocksTranslated += unit.Blocks.Length;
        stats.RegionsTranslated++;
        stats.TranslateTicks += ticks;
        EngineLog.RegionTranslated(logger, unit.Start, unit.Blocks.Length, unit.InstructionCount);
    }

    /// <summary>Follows direct branches and fall-throughs from the entry block, breadth first, within the limits.</summary>
    private List<DecodedBlock> GrowRegion(DecodedBlock entry, bool overCalls)
    {
        var region = new List<DecodedBlock> { entry };
        var seen = new HashSet<ulong> { entry.Start };
        int instructions = entry.Count;
        Span<ulong> successors = stackalloc ulong[1 + Execution.Vcpu.IndirectCallWays];
        for (int i = 0; i < region.Count && region.Count < MaxRegionBlocks; i++)
        {
            int n = StaticSuccessors(region[i], successors);
            ref readonly Instruction last = ref region[i].Code[^1];
            // Calls come back (translated calls return into the caller's unit): grow over the return address,
            // and then into the warm callees (a direct call's, or those an indirect call's slots entered first),
            // whose CALL becomes a branch (behind a compare if indirect) and whose RET comes back in line.
            if (overCalls && n == 0 && UnitCompiler.IsInlineCall(in last))
            {
                successors[n++] = last.NextIP;
                if (last.Op0Kind == OpKind.NearBranch64) successors[n++] = last.NearBranchTarget;
                else if (region[i].IndirectCallTargets is { } entered)
                    foreach (ulong target in entered) if (target != 0) successors[n++] = target;
                n = 1 + RemoveForwardingStubs(successors[1..n]);
            }
            // A jump to a PLT stub is a tail call: a unit with calls of its own in line calls it (see
            // UnitCompiler.EmitTailCall) so that its RET comes back in line.
            if (overCalls && n == 1 && last.Mnemonic == Mnemonic.Jmp && IsForwardingStub(successors[0])) n = 0;
            for (int s = 0; s < n; s++)
            {
                if (!seen.Add(successors[s])) continue;
                DecodedBlock? next = blockAt(successors[s]);
                if (next is null || instructions + next.Count > MaxRegionInstructions) continue;
                region.Add(next);
                instructions += next.Count;
                if (region.Count == MaxRegionBlocks) break;
            }
        }
        return region;
    }

    /// <summary>Moves the callees that are not PLT stubs (see <see cref="IsForwardingStub"/>) to the front; returns how many.</summary>
    private int RemoveForwardingStubs(Span<ulong> callees)
    {
        int kept = 0;
        foreach (ulong callee in callees) if (!IsForwardingStub(callee)) callees[kept++] = callee;
        return kept;
    }

    /// <summary>
    /// A PLT stub (<see cref="TranslatedUnit.ForwardSlot"/>): calls into it stay translated calls, which take the
    /// jump and enter the final function as the callee, so its RET comes back into the caller; inside the
    /// caller's region the jump would only leave the unit.
    /// </summary>
    private bool IsForwardingStub(ulong target) => blockAt(target) is { } b && TranslatedUnit.ForwardSlotOf(b.Code) != 0;

    /// <summary>Where control can go after a block without consulting registers or memory.</summary>
    internal static int StaticSuccessors(DecodedBlock block, Span<ulong> successors) => StaticSuccessors(in block.Code[^1], successors);

    /// <summary>Where control can go after a block ending with <paramref name="last"/>.</summary>
    internal static int StaticSuccessors(in Instruction last, Span<ulong> successors)
    {
        switch (last.FlowControl)
        {
            case FlowControl.Next:
                if (BlockDecoder.ExitsToDispatcher(in last)) return 0;
                successors[0] = last.NextIP;
                return 1;
            case FlowControl.UnconditionalBranch when last.Op0Kind is OpKind.NearBranch64:
                successors[0] = last.NearBranchTarget;
                return 1;
            case FlowControl.ConditionalBranch when last.Op0Kind is OpKind.NearBranch64:
                successors[0] = last.NearBranchTarget;
                successors[1] = last.NextIP;
                return 2;
            default:
                return 0;
        }
    }

    /// <summary>
    /// A unit holding its own copy of <paramref name="region"/>'s instructions, not yet compiled. vCPU thread
    /// only (the copy must not race with in-place operand patches).
    /// </summary>
    /// <param name="region">The blocks, entry first.</param>
    /// <param name="baseline">The unit is compiled in its first-run form (see <see cref="TranslatedUnit.Baseline"/>).</param>
    public static TranslatedUnit CreateUnit(DecodedBlock[] region, bool baseline = false)
    {
        int total = 0;
        foreach (DecodedBlock b in region) total += b.Count;
        var instructions = new Instruction[total];
        int at = 0;
        foreach (DecodedBlock b in region)
        {
            b.Code.CopyTo(instructions.AsSpan(at));
            at += b.Count;
        }
        return new TranslatedUnit(region[0].Start, region, instructions, baseline);
    }
}
