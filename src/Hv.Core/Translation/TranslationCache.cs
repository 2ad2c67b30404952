using Hv.Core.Decoding;
using Hv.Core.Diagnostics;

namespace Hv.Core.Translation;

/// <summary>
/// Translated units by entry address, and by the decoded blocks they were made from (so "which units overlap
/// these guest bytes" is: the blocks overlapping them, from <see cref="CodeCache"/>, then their units here).
/// Lookup is one dictionary probe (and the dispatcher's one-entry successor link usually avoids even that).
/// A killed unit leaves the lookup, every chain into it is cut, and its delegate becomes collectable as soon
/// as no frame runs it.
/// Capacity: at most <see cref="Capacity"/> units; when full, the cache is flushed wholesale (simple, and
/// guests that exceed it are rare) — counted in <c>translation_cache_flushes</c>.
/// </summary>
internal sealed class TranslationCache
{
    public const int Capacity = 1 << 16;

    private const int FastSlots = 1 << 12;

    private readonly Dictionary<ulong, TranslatedUnit> units = [];
    /// <summary>
    /// Direct-mapped front of <see cref="units"/>: returns and indirect branches miss the one-entry successor
    /// chain, and an array probe is several times cheaper than a dictionary probe. Dead units leave it at once.
    /// </summary>
    private readonly TranslatedUnit?[] fast = new TranslatedUnit?[FastSlots];
    private readonly Dictionary<DecodedBlock, List<TranslatedUnit>> unitsByBlock = new(ReferenceEqualityComparer.Instance);
    private readonly HvStats stats;
    private long lastId;

    public TranslationCache(HvStats stats) => this.stats = stats;

    public int Count => units.Count;

    /// <summary>Called for every unit added (the SMC policy counts re-promotions of demoted code).</summary>
    public Action<TranslatedUnit>? UnitAdded { get; set; }

    public bool TryGet(ulong address, out TranslatedUnit? unit)
    {
        stats.TranslationCacheLookups++;
        ref TranslatedUnit? slot = ref fast[Slot(address)];
        unit = slot;
        if (unit is not null && unit.Start == address)
        {
            stats.TranslationCacheHits++;
            return true;
        }
        if (units.TryGetValue(address, out unit))
        {
            slot = unit;
            stats.TranslationCacheHits++;
            return true;
        }
        return false;
    }

    /// <summary>The unit at <paramref name="address"/>, for region selection: not a lookup of execution (not counted).</summary>
    public bool TryPeek(ulong address, out TranslatedUnit? unit) => units.TryGetValue(address, out unit);

    private static int Slot(ulong address) => (int)((address ^ (address >> 12)) & (FastSlots - 1));

    /// <summary>
    /// Adds a unit, unless its code changed since it was compiled (a block died, or an instruction was re-decoded
    /// in place by the SMC engine: possible when compilation runs apart from the vCPU); such a unit is marked
    /// invalidated and false is returned.
    /// </summary>
    public bool Add(TranslatedUnit unit)
    {
        if (unit.IsStale)
        {
            unit.Invalidated = true;
            return false;
        }
        unit.Id = ++lastId;
        if (units.Count >= Capacity) Flush();
        if (units.TryGetValue(unit.Start, out TranslatedUnit? old)) Kill(old, replaced: true);
        units[unit.Start] = unit;
        foreach (DecodedBlock b in unit.Blocks)
        {
            if (!unitsByBlock.TryGetValue(b, out List<TranslatedUnit>? list)) unitsByBlock[b] = list = [];
            list.Add(unit);
        }
        UnitAdded?.Invoke(unit);
        return true;
    }

    /// <summary>True if some live unit was made from <paramref name="block"/>.</summary>
    public bool HasUnitsOf(DecodedBlock block) => unitsByBlock.ContainsKey(block);

    /// <summary>Invalidates every unit made from <paramref name="block"/> (which was just invalidated).</summary>
    public void OnBlockInvalidated(DecodedBlock block) => KillUnitsOf(block, null);

    /// <summary>Kills every unit made from <paramref name="block"/>, adding them to <paramref name="killed"/> if given.</summary>
    public void KillUnitsOf(DecodedBlock block, List<TranslatedUnit>? killed)
    {
        if (!unitsByBlock.Remove(block, out List<TranslatedUnit>? list)) return;
        foreach (TranslatedUnit u in list)
        {
            if (u.Invalidated) continue;
            Kill(u);
            killed?.Add(u);
        }
    }

    /// <param name="unit">The unit that dies.</param>
    /// <param name="replaced">A newer unit for the same entry replaces it: not an invalidation of its code.</param>
    private void Kill(TranslatedUnit unit, bool replaced = false)
    {
        if (unit.Invalidated) return;
        unit.Invalidated = true;
        unit.Unlink();
        if (!replaced) stats.UnitsInvalidated++;
        if (units.TryGetValue(unit.Start, out TranslatedUnit? current) && ReferenceEquals(current, unit)) units.Remove(unit.Start);
        ref TranslatedUnit? slot = ref fast[Slot(unit.Start)];
        if (ReferenceEquals(slot, unit)) slot = null;
        foreach (DecodedBlock b in unit.Blocks)
            if (unitsByBlock.TryGetValue(b, out List<TranslatedUnit>? list))
            {
                list.Remove(unit);
                if (list.Count == 0) unitsByBlock.Remove(b);
            }
    }

    public void Flush()
    {
        foreach (TranslatedUnit u in units.Values)
        {
            u.Invalidated = true;
            u.Unlink();
        }
        units.Clear();
        unitsByBlock.Clear();
        Array.Clear(fast);
        stats.TranslationCacheFlushes++;
    }
}
