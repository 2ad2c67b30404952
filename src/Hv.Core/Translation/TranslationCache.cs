using Hv.Core.Decoding;
using Hv.Core.Diagnostics;

namespace Hv.Core.Translation;

/// <summary>
/// Translated units by entry address. Lookup is one dictionary probe (and the dispatcher's one-entry successor
/// link usually avoids even that). Units die when any block they were made from is invalidated; dead units are
/// unlinked at once and their delegates become collectable as soon as no frame runs them.
/// Capacity: at most <see cref="Capacity"/> units; when full, the cache is flushed wholesale (simple, and
/// guests that exceed it are rare) — counted in <c>translation_cache_flushes</c>.
/// </summary>
internal sealed class TranslationCache
{
    public const int Capacity = 1 << 16;

    private readonly Dictionary<ulong, TranslatedUnit> units = [];
    private readonly Dictionary<DecodedBlock, List<TranslatedUnit>> unitsByBlock = new(ReferenceEqualityComparer.Instance);
    private readonly HvStats stats;

    public TranslationCache(HvStats stats) => this.stats = stats;

    public int Count => units.Count;

    public bool TryGet(ulong address, out TranslatedUnit? unit)
    {
        stats.TranslationCacheLookups++;
        if (units.TryGetValue(address, out unit))
        {
            stats.TranslationCacheHits++;
            return true;
        }
        return false;
    }

    public void Add(TranslatedUnit unit)
    {
        if (units.Count >= Capacity) Flush();
        if (units.TryGetValue(unit.Start, out TranslatedUnit? old)) Kill(old);
        units[unit.Start] = unit;
        foreach (DecodedBlock b in unit.Blocks)
        {
            if (!unitsByBlock.TryGetValue(b, out List<TranslatedUnit>? list)) unitsByBlock[b] = list = [];
            list.Add(unit);
        }
    }

    /// <summary>Invalidates every unit made from <paramref name="block"/> (which was just invalidated).</summary>
    public void OnBlockInvalidated(DecodedBlock block)
    {
        if (!unitsByBlock.Remove(block, out List<TranslatedUnit>? list)) return;
        foreach (TranslatedUnit u in list) Kill(u);
    }

    private void Kill(TranslatedUnit unit)
    {
        if (unit.Invalidated) return;
        unit.Invalidated = true;
        unit.Successor = null;
        stats.UnitsInvalidated++;
        if (units.TryGetValue(unit.Start, out TranslatedUnit? current) && ReferenceEquals(current, unit)) units.Remove(unit.Start);
        foreach (DecodedBlock b in unit.Blocks)
            if (unitsByBlock.TryGetValue(b, out List<TranslatedUnit>? list)) list.Remove(unit);
    }

    public void Flush()
    {
        foreach (TranslatedUnit u in units.Values) u.Invalidated = true;
        units.Clear();
        unitsByBlock.Clear();
        stats.TranslationCacheFlushes++;
    }
}
