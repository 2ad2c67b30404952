using System.Numerics;
using System.Runtime.CompilerServices;
using Hv.Core.Decoding;
using Hv.Core.Memory;

namespace Hv.Core.Smc;

/// <summary>
/// Code tracking for one frame: which of its bytes some decoded block came from (a bitmap, so a store that
/// touches none of them is answered with a few bit tests), the blocks themselves indexed by 64-byte line (so
/// "which blocks overlap these bytes" and removals only look at the lines concerned), and the frame's rewrite
/// history by line (for the adaptive policy). Lives in <see cref="PhysicalPage.CodeTracking"/>, so
/// every virtual alias of the frame shares it.
/// </summary>
internal sealed class CodeFrame
{
    /// <summary>Bytes per rewrite-history line.</summary>
    public const int LineShift = 6;
    private const int Lines = PhysicalPage.Size >> LineShift; // 64: one bitmap word and one mask bit per line

    private readonly ulong[] decoded = new ulong[Lines];
    /// <summary>Per 64-byte line: the live blocks with a byte on it (so queries and removals stay local).</summary>
    private readonly List<DecodedBlock>?[] lineBlocks = new List<DecodedBlock>?[Lines];

    public CodeFrame(PhysicalPage page) => Page = page;

    /// <summary>The frame.</summary>
    public PhysicalPage Page { get; }

    /// <summary>Blocks with at least one byte on this frame.</summary>
    public readonly List<DecodedBlock> Blocks = [];

    /// <summary>Lines whose code is rewritten again and again: blocks on them stay interpreted for a while.</summary>
    public ulong DemotedLines;

    /// <summary>
    /// Bytes of immediates that were patched in place (one bit per byte, made on first use): a block decoded
    /// here later loads such an immediate in translated code from the start (a neighbour's rewrite that
    /// re-decodes the block does not make it constant again).
    /// </summary>
    private ulong[]? volatileImmediates;

    /// <summary>Notes that frame bytes [start, end) hold an immediate that is patched in place.</summary>
    public void MarkVolatileImmediate(int start, int end)
    {
        volatileImmediates ??= new ulong[Lines];
        for (int i = start; i < end; i++) volatileImmediates[i >> 6] |= 1UL << (i & 63);
    }

    /// <summary>True if every byte of [start, end) was marked by <see cref="MarkVolatileImmediate"/>.</summary>
    public bool IsVolatileImmediate(int start, int end)
    {
        if (volatileImmediates is null) return false;
        for (int i = start; i < end; i++)
            if ((volatileImmediates[i >> 6] >> (i & 63) & 1) == 0) return false;
        return true;
    }

    /// <summary>True once some immediate on this frame was patched in place.</summary>
    public bool HasVolatileImmediates => volatileImmediates is not null;

    /// <summary>Per line: changing writes in the current burst, and when the last one happened (guest instructions).</summary>
    private int[]? rewrites;
    private long[]? lastRewrite;

    /// <summary>The tracker of <paramref name="page"/>, created on first use.</summary>
    public static CodeFrame Of(PhysicalPage page)
    {
        if (page.CodeTracking is CodeFrame f) return f;
        f = new CodeFrame(page);
        page.CodeTracking = f;
        return f;
    }

    /// <summary>Bumped whenever a block is added or removed (so a remembered overlap query can be reused).</summary>
    public int Version { get; private set; }

    /// <summary>Registers a block and marks its bytes [start, end) on this frame.</summary>
    public void Add(DecodedBlock block, int start, int end)
    {
        Version++;
        if (Blocks.Count == 0 || !ReferenceEquals(Blocks[^1], block)) Blocks.Add(block);
        for (int line = start >> LineShift; line <= (end - 1) >> LineShift; line++)
        {
            List<DecodedBlock> list = lineBlocks[line] ??= [];
            if (list.Count == 0 || !ReferenceEquals(list[^1], block)) list.Add(block);
        }
        Mark(start, end);
    }

    /// <summary>Forgets a block; the byte map of the lines it covered is rebuilt from the blocks left there.</summary>
    public void Remove(DecodedBlock block)
    {
        int i = Blocks.LastIndexOf(block);
        if (i < 0) return;
        Version++;
        Blocks.RemoveAt(i);
        for (int part = 0; part < block.PartCount; part++)
        {
            if (!ReferenceEquals(block.PageOf(part), Page)) continue;
            block.RangeOn(part, out int start, out int end);
            for (int line = start >> LineShift; line <= (end - 1) >> LineShift; line++)
            {
                List<DecodedBlock>? list = lineBlocks[line];
                if (list is null) continue;
                list.Remove(block);
                RebuildLine(line, list);
            }
        }
    }

    /// <summary>True if any byte of [start, end) on this frame was decoded into a live block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Touches(int start, int end)
    {
        int bit = start & 63, n = end - start;
        if (bit + n <= 64) // the usual store: within one bitmap word
            return (decoded[start >> 6] >> bit & (ulong.MaxValue >> (64 - n))) != 0;
        return TouchesWords(start, end);
    }

    private bool TouchesWords(int start, int end)
    {
        for (int w = start >> 6, last = (end - 1) >> 6; w <= last; w++)
        {
            ulong mask = ulong.MaxValue;
            if (w == start >> 6) mask &= ulong.MaxValue << (start & 63);
            if (w == last) mask &= ulong.MaxValue >> (63 - ((end - 1) & 63));
            if ((decoded[w] & mask) != 0) return true;
        }
        return false;
    }

    /// <summary>
    /// The overlap query: adds to <paramref name="into"/> every live block with a byte in frame offsets
    /// [<paramref name="start"/>, <paramref name="end"/>) (looking only at the lines the range touches).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void CollectOverlapping(int start, int end, List<DecodedBlock> into)
    {
        int first = into.Count;
        for (int line = start >> LineShift; line <= (end - 1) >> LineShift; line++)
        {
            if (lineBlocks[line] is not { } list) continue;
            foreach (DecodedBlock b in list)
            {
                if (!Overlaps(b, start, end) || into.IndexOf(b, first) >= 0) continue;
                into.Add(b);
            }
        }
    }

    private bool Overlaps(DecodedBlock b, int start, int end)
    {
        for (int part = 0; part < b.PartCount; part++)
        {
            if (!ReferenceEquals(b.PageOf(part), Page)) continue;
            b.RangeOn(part, out int s, out int e);
            if (s < end && start < e) return true;
        }
        return false;
    }

    /// <summary>
    /// Records a changing write to lines [first, last] at guest instruction <paramref name="now"/>; returns the
    /// lines that just became demoted (rewritten <paramref name="threshold"/> times, each within
    /// <paramref name="window"/> instructions of the previous rewrite).
    /// </summary>
    public ulong RecordRewrite(int startByte, int endByte, long now, int threshold, long window)
    {
        rewrites ??= new int[Lines];
        lastRewrite ??= new long[Lines];
        ulong fresh = 0;
        for (int line = startByte >> LineShift; line <= (endByte - 1) >> LineShift; line++)
        {
            if (now - lastRewrite[line] > window) rewrites[line] = 0;
            lastRewrite[line] = now;
            if (++rewrites[line] >= threshold && (DemotedLines & (1UL << line)) == 0)
            {
                DemotedLines |= 1UL << line;
                fresh |= 1UL << line;
            }
        }
        return fresh;
    }

    /// <summary>The line mask covering bytes [start, end).</summary>
    public static ulong LineMask(int start, int end)
    {
        int first = start >> LineShift, last = (end - 1) >> LineShift;
        ulong upTo = last == 63 ? ulong.MaxValue : (1UL << (last + 1)) - 1;
        return upTo & ~((1UL << first) - 1);
    }

    /// <summary>Lines demoted right now, as a count (for logging).</summary>
    public static int CountLines(ulong mask) => BitOperations.PopCount(mask);

    private void RebuildLine(int line, List<DecodedBlock> list)
    {
        decoded[line] = 0;
        int lineStart = line << LineShift, lineEnd = lineStart + (1 << LineShift);
        foreach (DecodedBlock b in list)
            for (int part = 0; part < b.PartCount; part++)
            {
                if (!ReferenceEquals(b.PageOf(part), Page)) continue;
                b.RangeOn(part, out int s, out int e);
                if (s < lineEnd && lineStart < e) Mark(Math.Max(s, lineStart), Math.Min(e, lineEnd));
            }
    }

    private void Mark(int start, int end)
    {
        for (int i = start; i < end;)
        {
            int w = i >> 6, bit = i & 63, n = Math.Min(64 - bit, end - i);
            decoded[w] |= (n == 64 ? ulong.MaxValue : ((1UL << n) - 1)) << bit;
            i += n;
        }
    }
}
