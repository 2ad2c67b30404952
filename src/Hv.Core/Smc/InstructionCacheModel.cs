using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
/// Addresses are guest virtual addresses. The model allocates only at creation; <see cref="Fetch"/> is a
/// few array reads per line. Used by one vCPU thread only.
/// </para>
/// </summary>
public sealed class InstructionCacheModel
{
    private const ulong NoLine = ulong.MaxValue;

    private readonly ulong[] tags;    // line number (address >> lineShift) per way, NoLine if never filled
    private readonly ulong[] stamps;  // clock at last use; 0 = empty (never filled or invalidated)
    private readonly int lineShift;
    private readonly int ways;
    private readonly ulong setMask;
    private ulong clock;
    private ulong lastLine = NoLine; // the line fetched last: still the most recent of its set, so a repeat is a hit
    // The batch fetched last by FetchLines, if nothing touched the cache since and it has at most `ways` lines:
    // then every line is present and, within its set, as recent as a repeat would leave it, so a repeat is
    // exactly "all hits" with no state to change.
    private ulong[]? lastBatch;

    private InstructionCacheModel(InstructionCacheGeometry geometry)
    {
        Geometry = geometry;
        lineShift = BitOperations.Log2((uint)geometry.LineBytes);
        ways = geometry.Ways;
        setMask = (ulong)geometry.Sets - 1;
        tags = new ulong[geometry.Sets * ways];
        stamps = new ulong[tags.Length];
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
        lastBatch = null;
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
    /// Fetches each line of <paramref name="lines"/> (made by <see cref="LinesOf"/>) once. Each entry remembers in
    /// its top bits the way that held its line last time: a hit there skips the set scan (same result, same LRU
    /// update as <see cref="FetchLine"/>), which is what a unit entered millions of times costs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first unit entry: no tier-0 loop
    internal void FetchLines(ulong[] lines)
    {
        if (ReferenceEquals(lines, lastBatch))
        {
            // The same unit entered again with nothing fetched in between (a loop through the dispatcher, a
            // recursive call): all hits, exactly as the loop below would find.
            Fetches += lines.Length;
            Hits += lines.Length;
            return;
        }
        ref ulong tag0 = ref MemoryMarshal.GetArrayDataReference(tags);
        ref ulong stamp0 = ref MemoryMarshal.GetArrayDataReference(stamps);
        ulong now = clock, last = lastLine;
        long hinted = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            ulong entry = lines[i], line = entry & HintLineMask;
            int way = (int)(entry >> HintShift) - 1; // -1: no hint yet
            if ((uint)way < (uint)tags.Length && line != last && Unsafe.Add(ref tag0, way) == line && Unsafe.Add(ref stamp0, way) != 0)
            {
                hinted++;
                last = line;
                Unsafe.Add(ref stamp0, way) = ++now;
                continue;
            }
            clock = now;
            lastLine = last;
            FetchLine(line);
            now = clock;
            last = lastLine;
            if (tags.Length < HintLimit) lines[i] = line | (ulong)(WayOf(line) + 1) << HintShift;
        }
        clock = now;
        lastLine = last;
        Fetches += hinted;
        Hits += hinted;
        lastBatch = lines.Length <= ways ? lines : null;
    }

    // A line number is below 2^58 (a 64-bit address over at least 4-byte lines), and guest code sits below 2^47:
    // the top 16 bits of an entry are free for the way hint, when the cache has fewer ways in all than that.
    private const int HintShift = 48;
    private const ulong HintLineMask = (1UL << HintShift) - 1;
    private const int HintLimit = (1 << 16) - 1;

    /// <summary>The way holding <paramref name="line"/> (it was just fetched, so it is there).</summary>
    private int WayOf(ulong line)
    {
        int baseIndex = (int)(line & setMask) * ways;
        for (int i = baseIndex; i < baseIndex + ways; i++)
            if (tags[i] == line) return i;
        return -1;
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

    private void FetchLine(ulong line)
    {
        Fetches++;
        if (line == lastLine)
        {
            Hits++;
            return;
        }
        lastLine = line;
        int baseIndex = (int)(line & setMask) * ways;
        // In range by construction (set index < sets, ways per set): no bounds checks on this path.
        ref ulong setTags = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(tags), baseIndex);
        ref ulong setStamps = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(stamps), baseIndex);
        ulong now = ++clock;
        for (int i = 0; i < ways; i++)
        {
            if (Unsafe.Add(ref setTags, i) != line) continue;
            ref ulong stamp = ref Unsafe.Add(ref setStamps, i);
            if (stamp != 0) Hits++;
            else
            {
                // Emptied by a code write and not reused since: refill in place.
                Misses++;
                SmcMisses++;
            }
            stamp = now;
            return;
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
        Misses++;
        Unsafe.Add(ref setTags, victim) = line;
        Unsafe.Add(ref setStamps, victim) = now;
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void DropRange(ulong address, int length, bool smc)
    {
        if (length <= 0) return;
        lastLine = NoLine;
        lastBatch = null;
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
        tags.AsSpan().Fill(NoLine);
        stamps.AsSpan().Clear();
        lastLine = NoLine;
        lastBatch = null;
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
