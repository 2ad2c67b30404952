using System.Text.Json;

namespace Hv.Core.Diagnostics;

/// <summary>
/// The engine's counters, kept separate from logging. Owned by one machine and updated by its vCPU thread
/// only, so plain fields are enough. Names are those written by <c>--stats</c>.
/// </summary>
public sealed class HvStats
{
    /// <summary>Guest instructions run by the interpreter.</summary>
    public long InterpretedInstructions;
    /// <summary>Guest instructions run by translated code.</summary>
    public long TranslatedInstructions;
    /// <summary>Syscalls handled.</summary>
    public long Syscalls;
    /// <summary>Guest page faults (accesses that raised #PF).</summary>
    public long PageFaults;
    /// <summary>Blocks decoded.</summary>
    public long BlocksDecoded;
    /// <summary>Decoded-block lookups that missed the one-entry chain.</summary>
    public long BlockCacheLookups;
    /// <summary>Decoded blocks dropped because their bytes were written.</summary>
    public long BlocksInvalidated;
    /// <summary>Signals delivered to guest handlers.</summary>
    public long SignalsDelivered;
    /// <summary>Decoded blocks compiled into translated units.</summary>
    public long BlocksTranslated;
    /// <summary>Translated units (regions) compiled.</summary>
    public long RegionsTranslated;
    /// <summary>Translation-cache lookups (dispatches that missed the one-entry successor chain).</summary>
    public long TranslationCacheLookups;
    /// <summary>Translation-cache lookups that found a unit.</summary>
    public long TranslationCacheHits;
    /// <summary>Unit-to-unit transfers taken through the successor chain, without a cache lookup.</summary>
    public long ChainedExits;
    /// <summary>
    /// CALLs in translated code that entered the callee's unit directly (a nested host call, no dispatcher
    /// round trip; the callee's RET returns into the caller's unit).
    /// </summary>
    public long TranslatedCalls;
    /// <summary>Time spent translating, in Stopwatch ticks.</summary>
    public long TranslateTicks;
    /// <summary>Translated units invalidated because their code was written or unmapped.</summary>
    public long UnitsInvalidated;
    /// <summary>Wholesale translation-cache flushes (capacity reached).</summary>
    public long TranslationCacheFlushes;
    /// <summary>Background-compiled units thrown away because a block they came from was invalidated meanwhile.</summary>
    public long UnitsDiscarded;
    /// <summary>Units compiled again over a larger region once hot (the old unit is replaced, not invalidated).</summary>
    public long UnitsRegrown;

    /// <summary>Writes that changed bytes Hv had decoded or translated.</summary>
    public long SmcEvents;
    /// <summary>Writes into a code frame that touched none of its decoded bytes (data sharing a page with code).</summary>
    public long SmcFalseHits;
    /// <summary>Writes onto decoded bytes that left them unchanged (nothing invalidated).</summary>
    public long SmcUnchangedWrites;
    /// <summary>Running blocks or units left right after the storing instruction because it rewrote their code.</summary>
    public long PreciseSmcExits;
    /// <summary>Decoded instructions re-decoded in place (only an operand changed), without dropping their block.</summary>
    public long SmcInPlacePatches;
    /// <summary>
    /// In-place patches that changed only an immediate translated code loads from guest memory (made volatile by an
    /// earlier patch): no unit died.
    /// </summary>
    public long SmcImmediatePatches;
    /// <summary>Times code rewritten again and again was demoted to the interpreter.</summary>
    public long SmcDemotions;
    /// <summary>Times demoted code calmed down and was translated again.</summary>
    public long SmcRepromotions;
    /// <summary>
    /// Time spent handling SMC events, in Stopwatch ticks. While patches of loaded immediates follow one another
    /// only one in 16 is timed and the others count at their mean (two clock reads would cost as much as the patch).
    /// </summary>
    public long SmcTicks;
    /// <summary>TLB range flushes (per TLB) caused by mapping or permission changes.</summary>
    public long TlbFlushes;

    /// <summary>Guest instructions in every mode.</summary>
    public long GuestInstructions => InterpretedInstructions + TranslatedInstructions;

    /// <summary>The vCPU's simulated instruction cache (its counters are part of <see cref="Snapshot"/>), or null when off.</summary>
    internal Smc.InstructionCacheModel? InstructionCache { get; set; }

    /// <summary>Extra counters contributed by other layers (e.g. the OS personality), by name.</summary>
    public Dictionary<string, long> Extra { get; } = [];

    /// <summary>Every counter by its <c>--stats</c> name.</summary>
    public SortedDictionary<string, long> Snapshot()
    {
        var d = new SortedDictionary<string, long>
        {
            ["guest_instructions"] = GuestInstructions,
            ["guest_instructions_interpreted"] = InterpretedInstructions,
            ["guest_instructions_translated"] = TranslatedInstructions,
            ["syscalls"] = Syscalls,
            ["page_faults"] = PageFaults,
            ["blocks_decoded"] = BlocksDecoded,
            ["block_cache_lookups"] = BlockCacheLookups,
            ["blocks_invalidated"] = BlocksInvalidated,
            ["signals_delivered"] = SignalsDelivered,
            ["blocks_translated"] = BlocksTranslated,
            ["regions_translated"] = RegionsTranslated,
            ["translation_cache_lookups"] = TranslationCacheLookups,
            ["translation_cache_hits"] = TranslationCacheHits,
            ["chained_exits"] = ChainedExits,
            ["translated_calls"] = TranslatedCalls,
            ["translate_time_ms"] = (long)(TranslateTicks * 1000.0 / System.Diagnostics.Stopwatch.Frequency),
            ["units_invalidated"] = UnitsInvalidated,
            ["translation_cache_flushes"] = TranslationCacheFlushes,
            ["units_discarded"] = UnitsDiscarded,
            ["units_regrown"] = UnitsRegrown,
            ["smc_events"] = SmcEvents,
            ["smc_false_hits"] = SmcFalseHits,
            ["smc_unchanged_writes"] = SmcUnchangedWrites,
            ["precise_smc_exits"] = PreciseSmcExits,
            ["smc_in_place_patches"] = SmcInPlacePatches,
            ["smc_immediate_patches"] = SmcImmediatePatches,
            ["smc_demotions"] = SmcDemotions,
            ["smc_repromotions"] = SmcRepromotions,
            ["smc_time_ms"] = (long)(SmcTicks * 1000.0 / System.Diagnostics.Stopwatch.Frequency),
            ["tlb_flushes"] = TlbFlushes,
        };
        Smc.InstructionCacheModel.AddCounters(d, InstructionCache);
        foreach (var (k, v) in Extra) d[k] = v;
        return d;
    }

    /// <summary>The counters as an indented JSON object.</summary>
    public string ToJson() => JsonSerializer.Serialize(Snapshot(), new JsonSerializerOptions { WriteIndented = true });
}
