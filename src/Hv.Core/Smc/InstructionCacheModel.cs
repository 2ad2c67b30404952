using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Hv.Core.Smc;

/// <summary>
/// Geometry of the simulated instruction cache: total size, line size and associativity, all in bytes / ways.
/// Parse it from the command-line form with <see cref="TryParse"/>; check it with <see cref="Validate"/>.
/// </summary>
/// <param name="SizeBytes">Total capacity in bytes (a power of two).</param>
/// <param name="LineBytes">Line size in bytes (a power of two, at least 4, at most the size).</param>
/// <param name="Ways">Associativity (a power of two; size / line / ways sets, at least one).</param>
public readonly record struct InstructionCacheGeometry(int SizeBytes, int LineBytes, int Ways)
{
    /// <summary>The default geometry: 32 KiB, 64-byte lines, 8-way (a typical x86-64 L1I).</summary>
    public static InstructionCacheGeometry Default => new(32 * 1024, 64, 8);

    /// <summary>Number of sets (valid geometries only).</summary>
    public int Sets => SizeBytes / LineBytes / Ways;

    /// <summary>Returns why the geometry is unusable, or null when it is valid.</summary>
    public string? Validate()
    {
        if (SizeBytes <= 0 || !BitOperations.IsPow2(SizeBytes)) return $"cache size {SizeBytes} is not a positive power of two";
        if (LineBytes < 4 || !BitOperations.IsPow2(LineBytes)) return $"line size {LineBytes} is not a power of two of at least 4";
        if (Ways <= 0 || !BitOperations.IsPow2(Ways)) return $"associativity {Ways} is not a positive power of two";
        if (LineBytes > SizeBytes) return $"line size {LineBytes} exceeds the cache size {SizeBytes}";
        if ((long)LineBytes * Ways > SizeBytes) return $"{Ways} ways of {LineBytes}-byte lines do not fit in {SizeBytes} bytes";
        return null;
    }

    /// <summary>The command-line form, e.g. <c>32K,64,8</c>.</summary>
    public override string ToString() =>
        (SizeBytes % 1024 == 0 ? $"{SizeBytes / 1024}K" : SizeBytes.ToString(CultureInfo.InvariantCulture)) + $",{LineBytes},{Ways}";

    /// <summary>
    /// Parses <c>SIZE,LINE,WAYS</c> (sizes as <c>32768</c>, <c>32K</c>, <c>32KiB</c>, <c>1M</c>, <c>1MiB</c>;
    /// case-insensitive) or <c>off</c> (then <paramref name="geometry"/> is null). Returns false with a one-line
    /// <paramref name="error"/> for anything else, including geometries that fail <see cref="Validate"/>.
    /// </summary>
    public static bool TryParse(string? text, out InstructionCacheGeometry? geometry, out string? error)
    {
        geometry = null;
        error = null;
        string t = (text ?? "").Trim();
        if (t.Equals("off", StringComparison.OrdinalIgnoreCase)) return true;
        string[] parts = t.Split(',');
        if (parts.Length != 3)
        {
            error = $"--icache '{text}': expected SIZE,LINE,WAYS (e.g. 32K,64,8) or off";
            return false;
        }
        if (!TryParseSize(parts[0], out int size) || !TryParseSize(parts[1], out int line) || !TryParseSize(parts[2], out int ways))
        {
            error = $"--icache '{text}': not a number (sizes may end in K, KiB, M or MiB)";
            return false;
        }
        var g = new InstructionCacheGeometry(size, line, ways);
        if (g.Validate() is { } invalid)
        {
            error = $"--icache '{text}': {invalid}";
            return false;
        }
        geometry = g;
        return true;
    }

    private static bool TryParseSize(string text, out int value)
    {
        value = 0;
        string t = text.Trim();
        long scale = 1;
        foreach ((string suffix, long factor) in Suffixes)
        {
            if (t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                t = t[..^suffix.Length];
                scale = factor;
                break;
            }
        }
        if (!long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out long n)) return false;
        long bytes = n * scale;
        if (n > int.MaxValue || bytes > int.MaxValue) return false;
        value = (int)bytes;
        return true;
    }

    // Longest suffix first so "KiB" is not read as "B" after a "K" match.
    private static readonly (string Suffix, long Factor)[] Suffixes = [("KiB", 1024), ("MiB", 1 << 20), ("K", 1024), ("M", 1 << 20)];
}

/// <summary>
/// A set-associative instruction-cache model fed by the guest's instruction fetches. It does not hold bytes;
/// it only decides hit or miss per line and counts, so the cost of self-modifying code can be seen the way a
/// real CPU pays it (a rewritten line must be fetched again).
/// <para>
/// Replacement is true LRU within a set: every way carries the value of a per-cache access clock at its last
/// use, a hit refreshes it, and a miss fills the first never-used way, else the first way emptied by SMC, else
/// the least recently used way. A line invalidated by a code write keeps its tag in its way with a zero
/// timestamp (the way is empty but remembers the line); a later fetch of that line is a miss counted also in
/// <see cref="SmcMisses"/>. If another line takes the way first, the memory is gone and the later miss is an
/// ordinary one.
/// </para>
/// <para>
/// A translated unit fetches all of its lines on every entry (<see cref="FetchLines"/>). Once a unit's lines
/// were found present, and nothing has evicted or dropped a line since (<c>version</c>), that batch is all hits
/// and costs a few instructions: its lines' new last-use times are only noted (the entry's clock values), and
/// written to their ways before anything reads recency (a miss choosing its victim, a drop). Last-use times
/// are maxima, so applying them late gives exactly the stamps fetching the lines one by one would have.
/// </para>
/// <para>
/// Addresses are guest virtual addresses. <see cref="Fetch"/> is a few array reads per line. Used by one vCPU
/// thread only.
/// </para>
/// </summary>
public sealed class InstructionCacheModel
{
    private const ulong NoLine = ulong.MaxValue;

    private readonly ulong[] tags;    // line number (address >> lineShift) per way, NoLine if never filled
    private readonly ulong[] stamps;  // clock at last use; 0 = empty (never filled or invalidated)
    private readonly int[] recentWay; // per set: the way used last, tried first (most hits are repeats)
    private readonly int lineShift;
    private readonly int ways;
    private readonly ulong setMask;
    private ulong clock;
    private ulong lastLine = NoLine; // the line fetched last (at lastWay): the newest of all, so a repeat is a hit
    private int lastWay;
    // Bumped whenever a present line may have gone (an eviction, a drop). A batch whose lines were all present
    // at this version still is (see InstructionCacheFootprint.Verified).
    private long version;
    // Batches fetched at a verified version whose last-use times are not in the stamps yet (ApplyPendingEntries).
    private readonly List<InstructionCacheFootprint> pendingEntries = [];

    private InstructionCacheModel(InstructionCacheGeometry geometry)
    {
        Geometry = geometry;
        lineShift = BitOperations.Log2((uint)geometry.LineBytes);
        ways = geometry.Ways;
        setMask = (ulong)geometry.Sets - 1;
        tags = new ulong[geometry.Sets * ways];
        stamps = new ulong[tags.Length];
        recentWay = new int[geometry.Sets];
        tags.AsSpan().Fill(NoLine);
    }

    /// <summary>
    /// Creates a model with <paramref name="sizeBytes"/> total, <paramref name="lineBytes"/> lines and
    /// <paramref name="ways"/>-way sets; false with a one-line <paramref name="error"/> if they are not powers of
    /// two or do not fit together.
    /// </summary>
    public static bool TryCreate(int sizeBytes, int lineBytes, int ways, out InstructionCacheModel? model, out string? error)
    {
        var g = new InstructionCacheGeometry(sizeBytes, lineBytes, ways);
        error = g.Validate();
        model = error is null ? new InstructionCacheModel(g) : null;
        return model is not null;
    }

    /// <summary>Creates a model for a geometry, or throws <see cref="ArgumentException"/> if it is invalid.</summary>
    public static InstructionCacheModel Create(InstructionCacheGeometry geometry) =>
        TryCreate(geometry.SizeBytes, geometry.LineBytes, geometry.Ways, out InstructionCacheModel? m, out string? error)
            ? m! : throw new ArgumentException(error, nameof(geometry));

    /// <summary>The geometry.</summary>
    public InstructionCacheGeometry Geometry { get; }

    /// <summary>Line fetches: one per line touched by each <see cref="Fetch"/>.</summary>
    public long Fetches;
    /// <summary>Line fetches that found the line.</summary>
    public long Hits;
    /// <summary>Line fetches that did not find the line (compulsory, capacity, conflict and SMC misses).</summary>
    public long Misses;
    /// <summary>Present lines dropped because a write changed code in them.</summary>
    public long SmcInvalidations;
    /// <summary>Misses on a line that was present until a code write invalidated it (a subset of <see cref="Misses"/>).</summary>
    public long SmcMisses;

    /// <summary>Fetches every line overlapping [<paramref name="address"/>, +<paramref name="length"/>).</summary>
    public void Fetch(ulong address, int length)
    {
        if (length <= 0) return;
        ulong first = address >> lineShift;
        ulong last = (address + (ulong)length - 1) >> lineShift;
        if (last < first) last = ulong.MaxValue >> lineShift; // wrapped at the top of the address space
        for (ulong line = first; ; line++)
        {
            FetchLine(line);
            if (line == last) break;
        }
    }

    /// <summary>
    /// Fetches each line of <paramref name="footprint"/> once, in order (a translated unit's entry). A batch
    /// verified at the current version is all hits: counted, and its last-use times noted for later.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // every unit entry: the common case is a few instructions in line
    internal void FetchLines(InstructionCacheFootprint footprint)
    {
        if (footprint.Verified == version)
        {
            int n = footprint.Lines.Length;
            Fetches += n;
            Hits += n;
            lastLine = NoLine; // (cheaper than looking up the batch's last line and way)
            footprint.LazyBase = clock + 1; // line i used at LazyBase + i
            clock += (ulong)n;
            if (!footprint.Pending)
            {
                footprint.Pending = true;
                pendingEntries.Add(footprint);
            }
            return;
        }
        FetchLinesChecked(footprint);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private void FetchLinesChecked(InstructionCacheFootprint footprint)
    {
        // Pending entries are applied before every version change, so an unverified batch has none.
        System.Diagnostics.Debug.Assert(!footprint.Pending);
        ulong[] lines = footprint.Lines;
        int[] found = footprint.Ways;
        for (int i = 0; i < lines.Length; i++) found[i] = FetchLine(lines[i]);
        // Verified only if every line is still where it went: a later line of the batch may have evicted an
        // earlier one (more lines in a set than it has ways), and then the next entry must look again.
        for (int i = 0; i < lines.Length; i++)
        {
            if (tags[found[i]] != lines[i] || stamps[found[i]] == 0)
            {
                footprint.Verified = -1;
                return;
            }
        }
        footprint.Verified = version;
    }

    /// <summary>Writes the noted last-use times of verified batches to their ways (before recency is read).</summary>
    private void ApplyPendingEntries()
    {
        foreach (InstructionCacheFootprint f in pendingEntries)
        {
            for (int i = 0; i < f.Lines.Length; i++)
            {
                ref ulong stamp = ref stamps[f.Ways[i]];
                ulong used = f.LazyBase + (ulong)i;
                if (stamp != 0 && stamp < used) stamp = used;
            }
            f.Pending = false;
        }
        pendingEntries.Clear();
    }

    /// <summary>The distinct line numbers the blocks' bytes occupy, in first-touch order (built once per unit).</summary>
    internal ulong[] LinesOf(Decoding.DecodedBlock[] blocks)
    {
        var lines = new List<ulong>();
        foreach (Decoding.DecodedBlock b in blocks)
        {
            for (ulong line = b.Start >> lineShift; line <= (b.End - 1) >> lineShift; line++)
                if (!lines.Contains(line)) lines.Add(line);
        }
        return [.. lines];
    }

    // Hot from the first block on, and its way search uses Vector256, which ReadyToRun code leaves out: without
    // this it would run unoptimized (tier 0, FindWay not inlined) until the runtime tiers it up.
    /// <summary>Fetches one line; returns the way (index into the tag array) that holds it now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int FetchLine(ulong line)
    {
        Fetches++;
        if (line == lastLine)
        {
            Hits++;
            return lastWay;
        }
        lastLine = line;
        int set = (int)(line & setMask);
        int baseIndex = set * ways;
        // In range by construction (set index < sets, ways per set): no bounds checks on this path.
        ref ulong setTags = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(tags), baseIndex);
        ref ulong setStamps = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(stamps), baseIndex);
        ref int recent = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(recentWay), set);
        // The set's recent way is tried first (most hits are repeats); a hit anywhere refreshes the way's stamp,
        // as a batch noted since may have used other ways of the set later.
        int found = Unsafe.Add(ref setTags, recent) == line ? recent : FindWay(ref setTags, line);
        if (found >= 0 && Unsafe.Add(ref setStamps, found) != 0)
        {
            Hits++;
            Unsafe.Add(ref setStamps, found) = ++clock;
            recent = found;
            return lastWay = baseIndex + found;
        }
        // A miss: recency decides the victim, so it must be exact now.
        ApplyPendingEntries();
        ulong now = ++clock;
        version++; // a line may be evicted below
        Misses++;
        if (found >= 0)
        {
            // Emptied by a code write and not reused since: refill in place.
            SmcMisses++;
            Unsafe.Add(ref setStamps, found) = now;
            recent = found;
            return lastWay = baseIndex + found;
        }
        // Victim order: never used (key 0) < emptied by SMC (key 1) < least recently used (stamp + 1).
        int victim = 0;
        ulong victimKey = ulong.MaxValue;
        for (int i = 0; i < ways; i++)
        {
            ulong stamp = Unsafe.Add(ref setStamps, i);
            ulong key = Unsafe.Add(ref setTags, i) == NoLine ? 0 : stamp == 0 ? 1 : stamp + 1;
            if (key < victimKey)
            {
                victimKey = key;
                victim = i;
            }
        }
        Unsafe.Add(ref setTags, victim) = line;
        Unsafe.Add(ref setStamps, victim) = now;
        recent = victim;
        return lastWay = baseIndex + victim;
    }

    /// <summary>The way of the set starting at <paramref name="setTags"/> that holds <paramref name="line"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int FindWay(ref ulong setTags, ulong line)
    {
        if (ways % 4 == 0 && Vector256.IsHardwareAccelerated)
        {
            // Four tags per compare: an 8-way set is two compares.
            Vector256<ulong> wanted = Vector256.Create(line);
            for (int i = 0; i < ways; i += 4)
            {
                uint match = Vector256.Equals(Vector256.LoadUnsafe(ref setTags, (nuint)i), wanted).ExtractMostSignificantBits();
                if (match != 0) return i + BitOperations.TrailingZeroCount(match);
            }
            return -1;
        }
        for (int i = 0; i < ways; i++)
            if (Unsafe.Add(ref setTags, i) == line) return i;
        return -1;
    }

    /// <summary>
    /// A write changed code in [<paramref name="address"/>, +<paramref name="length"/>): drops every present line
    /// it overlaps (counting <see cref="SmcInvalidations"/>) and remembers them for <see cref="SmcMisses"/>.
    /// </summary>
    public void InvalidateWrite(ulong address, int length) => DropRange(address, length, smc: true);

    /// <summary>
    /// Drops every present line overlapping [<paramref name="address"/>, +<paramref name="length"/>) without
    /// counting or remembering it: for code that was unmapped or made non-executable, whose later writes Hv no
    /// longer watches (so a stale line must not give a hit). A later fetch is an ordinary miss.
    /// </summary>
    public void Forget(ulong address, int length) => DropRange(address, length, smc: false);

    private void DropRange(ulong address, int length, bool smc)
    {
        if (length <= 0) return;
        ApplyPendingEntries(); // noted last-use times must not land on a way emptied here
        lastLine = NoLine;
        ulong first = address >> lineShift;
        ulong last = (address + (ulong)length - 1) >> lineShift;
        if (last < first) last = ulong.MaxValue >> lineShift;
        if (last - first >= (ulong)tags.Length)
        {
            // A range wider than the cache: scanning every way is cheaper than every line of the range.
            for (int i = 0; i < tags.Length; i++)
                if (tags[i] >= first && tags[i] <= last && tags[i] != NoLine) Drop(i, smc);
            return;
        }
        for (ulong line = first; ; line++)
        {
            int baseIndex = (int)(line & setMask) * ways;
            for (int i = baseIndex; i < baseIndex + ways; i++)
                if (tags[i] == line) Drop(i, smc);
            if (line == last) break;
        }
    }

    private void Drop(int way, bool smc)
    {
        version++;
        if (!smc)
        {
            tags[way] = NoLine;
            stamps[way] = 0;
            return;
        }
        if (stamps[way] == 0) return; // already empty
        stamps[way] = 0;
        SmcInvalidations++;
    }

    /// <summary>Empties the cache without counting anything (e.g. code unmapped); counters keep their values.</summary>
    public void Flush()
    {
        ApplyPendingEntries();
        tags.AsSpan().Fill(NoLine);
        stamps.AsSpan().Clear();
        lastLine = NoLine;
        version++;
    }

    /// <summary>Whether the line holding <paramref name="address"/> is present (for tests and tools; counts nothing).</summary>
    public bool Contains(ulong address)
    {
        ulong line = address >> lineShift;
        int baseIndex = (int)(line & setMask) * ways;
        for (int i = baseIndex; i < baseIndex + ways; i++)
            if (tags[i] == line && stamps[i] != 0) return true;
        return false;
    }

    /// <summary>
    /// Adds the <c>--stats</c> counters (<c>icache_fetches</c>, <c>icache_misses</c>, <c>icache_smc_invalidations</c>,
    /// <c>icache_smc_misses</c>) to <paramref name="counters"/>. They are always present: all 0 when the model
    /// is off (<paramref name="model"/> null), so tools reading the file need no special case.
    /// </summary>
    public static void AddCounters(IDictionary<string, long> counters, InstructionCacheModel? model)
    {
        ArgumentNullException.ThrowIfNull(counters);
        counters["icache_fetches"] = model?.Fetches ?? 0;
        counters["icache_misses"] = model?.Misses ?? 0;
        counters["icache_smc_invalidations"] = model?.SmcInvalidations ?? 0;
        counters["icache_smc_misses"] = model?.SmcMisses ?? 0;
    }
}
