using Hv.Core.Smc;

namespace Hv.Core.Tests.Smc;

/// <summary>The I-cache model against hand-computed access sequences, and its factory and parser.</summary>
public sealed class InstructionCacheModelTests
{
    // 256 bytes, 16-byte lines, 2 ways: 8 sets, so addresses 0, 128, 256, 384 all map to set 0.
    private static InstructionCacheModel Small()
    {
        Assert.True(InstructionCacheModel.TryCreate(256, 16, 2, out InstructionCacheModel? m, out string? error), error);
        return m!;
    }

    /// <summary>A small model that fetched the range, then saw <paramref name="between"/>, then fetched it again.</summary>
    private static InstructionCacheModel FetchedAroundIt(Action<InstructionCacheModel> between, ulong address, int length)
    {
        InstructionCacheModel m = Small();
        m.Fetch(address, length);
        between(m);
        m.Fetch(address, length);
        return m;
    }

    private static void AssertCounts(InstructionCacheModel m, long fetches, long hits, long misses, long smcInvalidations = 0, long smcMisses = 0)
    {
        Assert.Equal(
            (fetches, hits, misses, smcInvalidations, smcMisses),
            (m.Fetches, m.Hits, m.Misses, m.SmcInvalidations, m.SmcMisses));
    }

    /// <summary>
    /// A unit's line batch fetched again with nothing in between that could change its outcome takes a shortcut
    /// (all hits, last-use times applied later); it must leave exactly what fetching it afresh leaves, also for
    /// the accesses that follow.
    /// </summary>
    [Theory]
    [InlineData(new ulong[] { 0, 8 }, true)]           // lines of set 0 (two ways) and set 0 again: 2 lines, 2 ways
    [InlineData(new ulong[] { 0, 8, 16 }, true)]       // three lines of one 2-way set: every pass misses
    [InlineData(new ulong[] { 1, 2, 3 }, false)]       // three sets, then an invalidation in between
    public void FetchLines_SameBatchTwice_MatchesLineByLine(ulong[] batch, bool repeatAtOnce)
    {
        InstructionCacheModel shortcut = Small(), lineByLine = Small();
        void Run(InstructionCacheModel m, bool remember)
        {
            var footprint = new InstructionCacheFootprint(batch);
            void FetchBatch()
            {
                if (!remember) footprint = new InstructionCacheFootprint(batch); // never verified: every line is looked at
                m.FetchLines(footprint);
            }
            FetchBatch();
            if (!repeatAtOnce) m.InvalidateWrite(batch[0] << 4, 1);
            FetchBatch();
            FetchBatch();
            m.Fetch(24 << 4, 1); // another line of set 0, then the batch once more
            FetchBatch();
            FetchBatch();
        }
        Run(shortcut, remember: true);
        Run(lineByLine, remember: false);
        Assert.Equal(
            (lineByLine.Fetches, lineByLine.Hits, lineByLine.Misses, lineByLine.SmcInvalidations, lineByLine.SmcMisses),
            (shortcut.Fetches, shortcut.Hits, shortcut.Misses, shortcut.SmcInvalidations, shortcut.SmcMisses));
        foreach (ulong line in batch) Assert.Equal(lineByLine.Contains(line << 4), shortcut.Contains(line << 4));
    }

    [Fact]
    public void Fetch_WaysPlusOneLinesInOneSet_ConflictMissesEvictLeastRecentlyUsed()
    {
        InstructionCacheModel m = Small();
        m.Fetch(0, 4);     // miss: set 0 = {0}
        m.Fetch(128, 4);   // miss: {0, 128}
        m.Fetch(256, 4);   // miss: evicts 0 (LRU) -> {128, 256}
        m.Fetch(0, 4);     // miss: evicts 128 -> {256, 0}
        m.Fetch(256, 4);   // hit
        m.Fetch(128, 4);   // miss: evicts 0 (256 was used after it)
        AssertCounts(m, fetches: 6, hits: 1, misses: 5);
        Assert.True(m.Contains(128));
        Assert.True(m.Contains(256));
        Assert.False(m.Contains(0));
    }

    [Fact]
    public void Fetch_HitRefreshesRecency_OtherLineIsEvicted()
    {
        InstructionCacheModel m = Small();
        m.Fetch(0, 1);
        m.Fetch(128, 1);
        m.Fetch(0, 1);     // hit: 128 becomes least recently used
        m.Fetch(256, 1);   // miss: evicts 128
        m.Fetch(0, 1);     // hit
        m.Fetch(128, 1);   // miss
        AssertCounts(m, fetches: 6, hits: 2, misses: 4);
    }

    [Fact]
    public void Fetch_LinesOfOtherSets_DoNotConflict()
    {
        InstructionCacheModel m = Small();
        for (ulong a = 0; a < 256; a += 16) m.Fetch(a, 16); // 16 lines = the whole capacity, 2 per set
        for (ulong a = 0; a < 256; a += 16) m.Fetch(a, 16);
        AssertCounts(m, fetches: 32, hits: 16, misses: 16);
    }

    [Theory]
    [InlineData(14UL, 4, 2)]   // bytes 14..17 straddle lines 0 and 1
    [InlineData(16UL, 16, 1)]  // exactly one line
    [InlineData(15UL, 18, 3)]  // 15..32: lines 0, 1, 2
    [InlineData(0UL, 0, 0)]    // nothing fetched
    public void Fetch_Range_CountsOneFetchPerLineTouched(ulong address, int length, long lines)
    {
        InstructionCacheModel m = Small();
        m.Fetch(address, length);
        AssertCounts(m, fetches: lines, hits: 0, misses: lines);
    }

    [Fact]
    public void Fetch_AtTopOfAddressSpace_DoesNotWrap()
    {
        InstructionCacheModel m = Small();
        m.Fetch(ulong.MaxValue - 3, 8);
        AssertCounts(m, fetches: 1, hits: 0, misses: 1);
    }

    [Fact]
    public void InvalidateWrite_PresentLine_NextFetchIsSmcMiss()
    {
        InstructionCacheModel m = FetchedAroundIt(c =>
        {
            c.InvalidateWrite(0x42, 1);
            Assert.False(c.Contains(0x40));
        }, 0x40, 8);       // the second fetch: a miss caused by SMC
        m.Fetch(0x40, 8);  // hit again
        AssertCounts(m, fetches: 3, hits: 1, misses: 2, smcInvalidations: 1, smcMisses: 1);
    }

    [Fact]
    public void InvalidateWrite_AbsentOrAlreadyInvalidLines_CountsNothing()
    {
        InstructionCacheModel m = Small();
        m.InvalidateWrite(0x40, 4);   // never fetched
        m.Fetch(0x40, 4);
        m.InvalidateWrite(0x40, 4);
        m.InvalidateWrite(0x41, 2);   // already dropped
        m.InvalidateWrite(0x40, 0);   // empty write
        AssertCounts(m, fetches: 1, hits: 0, misses: 1, smcInvalidations: 1);
    }

    [Fact]
    public void InvalidateWrite_StraddlingTwoPresentLines_InvalidatesBoth()
    {
        InstructionCacheModel m = FetchedAroundIt(c => c.InvalidateWrite(12, 8), 0, 32);
        AssertCounts(m, fetches: 4, hits: 0, misses: 4, smcInvalidations: 2, smcMisses: 2);
    }

    [Fact]
    public void InvalidateWrite_WiderThanCache_DropsEveryLineInRange()
    {
        InstructionCacheModel m = Small();
        m.Fetch(0, 64);
        m.Fetch(0x1000, 16);
        m.InvalidateWrite(0, 0x800);
        Assert.False(m.Contains(0));
        Assert.True(m.Contains(0x1000));
        Assert.Equal(4, m.SmcInvalidations);
    }

    [Fact]
    public void Fetch_WayEmptiedBySmc_IsReusedFirstAndForgetsTheLine()
    {
        InstructionCacheModel m = Small();
        m.Fetch(0, 1);
        m.Fetch(128, 1);
        m.InvalidateWrite(0, 1);
        m.Fetch(256, 1);   // takes the emptied way, not 128's
        m.Fetch(128, 1);   // hit
        m.Fetch(0, 1);     // ordinary miss: its way was reused
        AssertCounts(m, fetches: 5, hits: 1, misses: 4, smcInvalidations: 1, smcMisses: 0);
    }

    [Fact]
    public void Forget_PresentLine_NextFetchIsOrdinaryMiss()
    {
        InstructionCacheModel m = FetchedAroundIt(c =>
        {
            c.InvalidateWrite(0, 1);  // line 0 remembered as SMC-invalidated
            c.Forget(0, 64);          // the page went away: forget lines 0 and 1, counting nothing
        }, 0, 32);
        AssertCounts(m, fetches: 4, hits: 0, misses: 4, smcInvalidations: 1, smcMisses: 0);
    }

    [Fact]
    public void Flush_EmptiesWithoutCounting()
    {
        InstructionCacheModel m = FetchedAroundIt(c => c.Flush(), 0, 1);
        AssertCounts(m, fetches: 2, hits: 0, misses: 2);
    }

    [Theory]
    [InlineData(32768, 64, 8, 64)]
    [InlineData(64, 64, 1, 1)]
    [InlineData(1 << 20, 128, 16, 512)]
    public void TryCreate_ValidGeometry_Succeeds(int size, int line, int ways, int sets)
    {
        Assert.True(InstructionCacheModel.TryCreate(size, line, ways, out InstructionCacheModel? m, out string? error));
        Assert.Null(error);
        Assert.Equal(sets, m!.Geometry.Sets);
    }

    [Theory]
    [InlineData(3000, 64, 8, "not a positive power of two")]
    [InlineData(0, 64, 8, "not a positive power of two")]
    [InlineData(32768, 48, 8, "not a power of two")]
    [InlineData(32768, 2, 8, "at least 4")]
    [InlineData(32768, 64, 3, "associativity 3")]
    [InlineData(32768, 64, 0, "associativity 0")]
    [InlineData(64, 128, 1, "exceeds the cache size")]
    [InlineData(128, 64, 4, "do not fit")]
    public void TryCreate_InvalidGeometry_FailsWithMessage(int size, int line, int ways, string message)
    {
        Assert.False(InstructionCacheModel.TryCreate(size, line, ways, out InstructionCacheModel? m, out string? error));
        Assert.Null(m);
        Assert.Contains(message, error);
    }

    [Theory]
    [InlineData("32K,64,8", 32768, 64, 8)]
    [InlineData("32KiB,64,8", 32768, 64, 8)]
    [InlineData("32768,64,8", 32768, 64, 8)]
    [InlineData(" 1m , 128 , 4 ", 1 << 20, 128, 4)]
    [InlineData("1MiB,64,16", 1 << 20, 64, 16)]
    public void TryParse_SizeForms_Parse(string text, int size, int line, int ways)
    {
        Assert.True(InstructionCacheGeometry.TryParse(text, out InstructionCacheGeometry? g, out string? error), error);
        Assert.Equal(new InstructionCacheGeometry(size, line, ways), g);
    }

    [Theory]
    [InlineData("off")]
    [InlineData("OFF")]
    public void TryParse_Off_GivesNull(string text)
    {
        Assert.True(InstructionCacheGeometry.TryParse(text, out InstructionCacheGeometry? g, out string? error));
        Assert.Null(g);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("32K,64")]
    [InlineData("")]
    [InlineData("big,64,8")]
    [InlineData("-32K,64,8")]
    [InlineData("32K,64,3")]
    [InlineData("4096M,64,8")]
    [InlineData("32KB,64,8")]
    public void TryParse_BadValue_OneLineError(string text)
    {
        Assert.False(InstructionCacheGeometry.TryParse(text, out InstructionCacheGeometry? g, out string? error));
        Assert.Null(g);
        Assert.StartsWith("--icache", error);
        Assert.DoesNotContain('\n', error!);
    }

    [Fact]
    public void ToString_RoundTripsThroughTryParse()
    {
        InstructionCacheGeometry d = InstructionCacheGeometry.Default;
        Assert.Equal("32K,64,8", d.ToString());
        Assert.True(InstructionCacheGeometry.TryParse(d.ToString(), out InstructionCacheGeometry? g, out _));
        Assert.Equal(d, g);
    }

    [Fact]
    public void AddCounters_ModelOff_AllZero()
    {
        var d = new Dictionary<string, long>();
        InstructionCacheModel.AddCounters(d, null);
        Assert.Equal(["icache_fetches", "icache_misses", "icache_smc_invalidations", "icache_smc_misses"], d.Keys.Order());
        Assert.All(d.Values, v => Assert.Equal(0, v));
    }
    /// <summary>
    /// The documented replacement written the obvious way, without the model's shortcuts: per way a line, a
    /// last-use time and whether it is present; a miss fills the first never-used way, else the first way
    /// emptied by SMC (which remembers its line), else the least recently used way.
    /// </summary>
    private sealed class ReferenceCache(int sets, int ways)
    {
        private readonly (ulong Line, long Used, bool Present, bool Filled)[,] cache = new (ulong, long, bool, bool)[sets, ways];
        private long time;
        public long Hits, Misses, SmcMisses, SmcInvalidations;

        public void Fetch(ulong line)
        {
            int set = (int)(line % (ulong)sets);
            time++;
            for (int w = 0; w < ways; w++)
            {
                if (!cache[set, w].Filled || cache[set, w].Line != line) continue;
                if (cache[set, w].Present) Hits++; else { Misses++; SmcMisses++; }
                cache[set, w] = (line, time, true, true);
                return;
            }
            Misses++;
            int victim = -1;
            for (int w = 0; w < ways && victim < 0; w++) if (!cache[set, w].Filled) victim = w;
            for (int w = 0; w < ways && victim < 0; w++) if (!cache[set, w].Present) victim = w;
            if (victim < 0)
            {
                victim = 0;
                for (int w = 1; w < ways; w++) if (cache[set, w].Used < cache[set, victim].Used) victim = w;
            }
            cache[set, victim] = (line, time, true, true);
        }

        public void Forget(ulong line)
        {
            int set = (int)(line % (ulong)sets);
            for (int w = 0; w < ways; w++)
                if (cache[set, w].Filled && cache[set, w].Line == line) cache[set, w] = default;
        }

        public void Invalidate(ulong line)
        {
            int set = (int)(line % (ulong)sets);
            for (int w = 0; w < ways; w++)
            {
                if (!cache[set, w].Filled || cache[set, w].Line != line || !cache[set, w].Present) continue;
                SmcInvalidations++;
                cache[set, w].Present = false;
            }
        }
    }

    /// <summary>
    /// Random batches (units), single fetches (interpreted blocks), code writes and forgotten ranges against the
    /// reference: every count after every step. Lines crowd three of the eight sets, so batches conflict within
    /// a set and evict each other, and each miss depends on exact recency.
    /// </summary>
    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(4, 2)]
    [InlineData(5, 2)]
    [InlineData(6, 4)]
    [InlineData(7, 4)]
    [InlineData(8, 8)]
    public void RandomFetchesAndBatches_MatchReferenceLru(int seed, int ways)
    {
        ulong Line(Random random) => (ulong)(random.Next(0, 2 + ways + ways / 2) * 8 + random.Next(0, 3));
        Assert.True(InstructionCacheModel.TryCreate(8 * ways * 16, 16, ways, out InstructionCacheModel? created, out string? error), error);
        InstructionCacheModel m = created!; // 8 sets of 16-byte lines
        var reference = new ReferenceCache(8, ways);
        var random = new Random(seed);
        var batches = new List<ulong[]>();
        for (int b = 0; b < 8; b++)
            batches.Add(Enumerable.Range(0, random.Next(1, 2 + ways)).Select(_ => Line(random)).Distinct().ToArray());
        InstructionCacheFootprint[] footprints = batches.Select(b => new InstructionCacheFootprint(b)).ToArray();
        for (int step = 0; step < 6000; step++)
        {
            int what = random.Next(20);
            if (what < 13)
            {
                int which = random.Next(batches.Count);
                m.FetchLines(footprints[which]);
                foreach (ulong line in batches[which]) reference.Fetch(line);
            }
            else if (what < 18)
            {
                ulong line = Line(random);
                m.Fetch(line << 4, 1);
                reference.Fetch(line);
            }
            else if (what < 19)
            {
                ulong line = Line(random);
                m.InvalidateWrite(line << 4, 1);
                reference.Invalidate(line);
            }
            else
            {
                ulong line = Line(random);
                m.Forget(line << 4, 1);
                reference.Forget(line);
            }
            Assert.Equal((reference.Hits, reference.Misses, reference.SmcMisses, reference.SmcInvalidations), (m.Hits, m.Misses, m.SmcMisses, m.SmcInvalidations));
        }
    }
}
