using System.Diagnostics;
using System.Runtime.CompilerServices;
using Hv.Core.Decoding;
using Hv.Core.Diagnostics;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Translation;
using Iced.Intel;
using Microsoft.Extensions.Logging;

namespace Hv.Core.Smc;

/// <summary>
/// The self-modifying-code policy. Every store into a write-protected code frame (guest stores of any kind,
/// syscalls writing guest memory, writes through another alias of the frame, debugger writes) reaches
/// <see cref="OnCodeWrite"/> before the bytes land and <see cref="OnCodeWritten"/> after:
/// <list type="number">
/// <item>a store that touches no decoded byte is a false hit (one bitmap test) and changes nothing;</item>
/// <item>a store that leaves the decoded bytes as they were changes nothing;</item>
/// <item>otherwise exactly the blocks overlapping the changed bytes are handled: when only one instruction's
/// operand bytes changed (a patched immediate or displacement) the instruction is re-decoded in place, else the
/// block dies; either way the translated units made from it die (out of the lookup, chains cut);</item>
/// <item>code rewritten again and again is demoted: it stays interpreted until it has run
/// <see cref="CooldownExecutions"/> times without a rewrite, then it may be translated again.</item>
/// </list>
/// A running block or unit whose code was changed leaves right after the storing instruction (it checks its
/// <c>Invalidated</c> flag), so the next instruction is fetched afresh, as on x86.
/// </summary>
internal sealed class SmcEngine : ICodeWriteObserver
{
    /// <summary>Rewrites of one 64-byte line, each within <see cref="RewriteWindow"/> of the previous, that demote it.</summary>
    public const int DemoteAfter = 3;
    /// <summary>Guest instructions after which a line's rewrite burst is forgotten.</summary>
    public const long RewriteWindow = 2_000_000;
    /// <summary>Executions without a rewrite before demoted code may be translated again.</summary>
    public const int CooldownExecutions = 4096;

    private readonly Machine machine;
    private readonly CodeCache codeCache;
    private readonly TranslationCache? translationCache;
    private readonly HvStats stats;
    private readonly ILogger logger;
    /// <summary>Debug logging was on when the engine was made (the check itself costs as much as a patch).</summary>
    private readonly bool logEvents;
    private readonly List<DecodedBlock> hits = [];
    private readonly List<TranslatedUnit> killedUnits = [];
    private readonly PatchReader patchReader = new();
    private readonly Decoder patchDecoder;
    private readonly Stopwatch clock = Stopwatch.StartNew();

    // The write between OnCodeWrite and OnCodeWritten.
    private bool pending;
    private long pendingStart;

    // smc_time_ms without two clock reads per patch of a loaded immediate (they would cost as much as the patch):
    // while such patches follow one another, one in SampleEvery is timed and the others are counted at the mean.
    private const int SampleEvery = 16;
    private bool timed;
    private bool lastWasImmediate;
    private long untimedEvents;
    private long immediateTicks, immediateTimed;
    private PendingEvent? record;
    private long sequence;
    private string? writerOverride;

    public SmcEngine(Machine machine, CodeCache codeCache, TranslationCache? translationCache)
    {
        this.machine = machine;
        this.codeCache = codeCache;
        this.translationCache = translationCache;
        stats = machine.Stats;
        logger = machine.Logger;
        logEvents = logger.IsEnabled(LogLevel.Debug);
        patchDecoder = Decoder.Create(64, patchReader, DecoderOptions.None);
        codeCache.BlockInvalidated = OnBlockInvalidated;
        codeCache.BlockAdded = OnBlockAdded;
        if (translationCache is not null) translationCache.UnitAdded = OnUnitAdded;
        machine.AddressSpace.CodeWriteObserver = this;
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first SMC event: no tier-0 copy
    public void OnCodeWrite(PhysicalPage page, int offset, ReadOnlySpan<byte> newBytes, ulong guestAddress)
    {
        if (page.CodeTracking is not CodeFrame frame || frame.Blocks.Count == 0)
        {
            page.EngineFlags &= ~EnginePageFlags.CodeWriteProtected;
            return;
        }
        int end = offset + newBytes.Length;
        if (!frame.Touches(offset, end))
        {
            stats.SmcFalseHits++;
            return;
        }
        // Narrow the write to the bytes it really changes.
        ReadOnlySpan<byte> old = page.Data.AsSpan(offset, newBytes.Length);
        int first = old.CommonPrefixLength(newBytes);
        if (first == newBytes.Length)
        {
            stats.SmcUnchangedWrites++;
            return;
        }
        int last = newBytes.Length - 1;
        while (old[last] == newBytes[last]) last--;
        int changedStart = offset + first, changedEnd = offset + last + 1;
        if (!frame.Touches(changedStart, changedEnd))
        {
            stats.SmcFalseHits++;
            return;
        }
        if (!TryRepeatImmediatePatch(frame, offset, newBytes, guestAddress, changedStart, changedEnd))
            HandleChange(frame, offset, newBytes, guestAddress, changedStart, changedEnd);
    }

    /// <summary>
    /// The usual patch loop rewrites one loaded immediate again and again: the last patch that changed only such
    /// an immediate is remembered with the one block holding its bytes, so a store within the same bytes, while
    /// the frame's blocks are unchanged, needs no overlap query — same outcome as <see cref="HandleChange"/>.
    /// </summary>
    private bool TryRepeatImmediatePatch(CodeFrame frame, int offset, ReadOnlySpan<byte> newBytes, ulong guestAddress, int changedStart, int changedEnd)
    {
        if (!ReferenceEquals(frame, repeat.Frame) || frame.Version != repeat.Version || changedStart < repeat.Start
            || changedEnd > repeat.End || repeat.Block!.Invalidated || machine.WantsSmcEvents)
            return false;
        Vcpu cpu = machine.Cpu;
        ref Instruction ins = ref repeat.Block.Instructions[repeat.Index];
        if (cpu.RunningUnitId == 0 && cpu.InstructionStart == ins.IP) return false; // the interpreted writer itself
        BeginEvent();
        cpu.InstructionCache?.InvalidateWrite(repeat.PageBase + (ulong)changedStart, changedEnd - changedStart);
        int size = repeat.End - repeat.Start, at = repeat.End - ins.Length;
        patchReader.Load(frame.Page.Data, at, ins.Length, offset, newBytes);
        ins.SetImmediate(1, patchReader.Immediate(ins.Length - size, size, ins.Op1Kind));
        stats.SmcInPlacePatches++;
        stats.SmcImmediatePatches++;
        lastWasImmediate = true;
        if (logEvents) EngineLog.SmcEvent(logger, guestAddress, newBytes.Length, cpu.InstructionStart, 0, 1, 0);
        return true;
    }

    /// <summary>After a patch that changed only instruction <paramref name="index"/>'s loaded immediate in <paramref name="block"/>.</summary>
    private void RememberImmediatePatch(CodeFrame frame, DecodedBlock block, int index)
    {
        ref Instruction ins = ref block.Instructions[index];
        if (!UnitCompiler.TryLocateImmediate(block, in ins, out int part, out int start) || !ReferenceEquals(block.PageOf(part), frame.Page)) return;
        int end = start + UnitCompiler.ImmediateBytes(ins.Op1Kind);
        hits.Clear();
        CodeCache.CollectOverlapping(frame, start, end, hits);
        if (hits.Count == 1) repeat = new RepeatPatch(frame, frame.Version, block, index, start, end, block.PartBase(part));
    }

    /// <summary>See <see cref="TryRepeatImmediatePatch"/>.</summary>
    private readonly record struct RepeatPatch(CodeFrame? Frame, int Version, DecodedBlock? Block, int Index, int Start, int End, ulong PageBase);

    private RepeatPatch repeat;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void OnCodeWritten(PhysicalPage page, int offset, int length, ulong guestAddress)
    {
        if (!pending) return;
        pending = false;
        if (record is { } r)
        {
            record = null;
            machine.RaiseSmcEvent(machine.Cpu, r.Finish(machine.Cpu, Stopwatch.GetElapsedTime(pendingStart)));
        }
        if (!timed)
        {
            stats.SmcTicks += immediateTicks / Math.Max(1, immediateTimed);
            return;
        }
        long ticks = Stopwatch.GetTimestamp() - pendingStart;
        stats.SmcTicks += ticks;
        if (lastWasImmediate)
        {
            immediateTicks += ticks;
            immediateTimed++;
        }
    }

    /// <inheritdoc />
    public void OnCodeUnmapped(PhysicalPage page, ulong guestAddress)
    {
        if (page.CodeTracking is not CodeFrame frame) return;
        hits.Clear();
        ulong pageAddress = guestAddress & ~PhysicalPage.OffsetMask;
        // Writes there are no longer watched, so a stale line must not give a later hit.
        machine.Cpu.InstructionCache?.Forget(pageAddress, PhysicalPage.Size);
        CodeCache.CollectMappedAt(frame, pageAddress, hits);
        int start = PhysicalPage.Size, end = 0;
        foreach (DecodedBlock b in hits)
        {
            for (int part = 0; part < b.PartCount; part++)
                if (b.PartBase(part) == pageAddress)
                {
                    b.RangeOn(part, out int s, out int e);
                    start = Math.Min(start, s);
                    end = Math.Max(end, e);
                }
            codeCache.Invalidate(b);
        }
        if (hits.Count > 0)
        {
            EngineLog.CodeInvalidated(logger, guestAddress, hits.Count);
            // A JIT buffer flipped RW and back (or remapped) for every new function churns like rewritten code.
            RecordRewrite(frame, start, end, pageAddress);
        }
        hits.Clear();
        if (frame.Blocks.Count == 0) page.EngineFlags &= ~EnginePageFlags.CodeWriteProtected;
    }

    /// <summary>
    /// Writes guest memory as a debugger does: no permission check, through the same SMC path as guest stores
    /// (events name the writer <paramref name="writer"/>). False if some byte is not mapped.
    /// </summary>
    public bool WriteAsDebugger(ulong address, ReadOnlySpan<byte> bytes, string writer)
    {
        writerOverride = writer;
        try
        {
            return machine.AddressSpace.TryWrite(address, bytes, checkPermissions: false);
        }
        finally
        {
            writerOverride = null;
        }
    }

    /// <summary>
    /// The changed bytes leave the I-cache at every virtual address their code was fetched from: through an
    /// alias (a second mapping of the frame) or a syscall, that is not the writer's address.
    /// </summary>
    private void InvalidateICacheLines(InstructionCacheModel icache, PhysicalPage page, int start, int end)
    {
        ulong lastBase = ulong.MaxValue;
        foreach (DecodedBlock b in hits)
            for (int part = 0; part < b.PartCount; part++)
            {
                ulong pageBase = b.PartBase(part);
                if (!ReferenceEquals(b.PageOf(part), page) || pageBase == lastBase) continue;
                lastBase = pageBase;
                icache.InvalidateWrite(pageBase + (ulong)start, end - start);
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void HandleChange(CodeFrame frame, int offset, ReadOnlySpan<byte> newBytes, ulong guestAddress, int changedStart, int changedEnd)
    {
        BeginEvent();
        hits.Clear();
        killedUnits.Clear();
        CodeCache.CollectOverlapping(frame, changedStart, changedEnd, hits);
        if (machine.Cpu.InstructionCache is { } icache) InvalidateICacheLines(icache, frame.Page, changedStart, changedEnd);
        if (machine.WantsSmcEvents)
            record = PendingEvent.Begin(++sequence, clock, stats, machine.Cpu, writerOverride, frame, offset, newBytes, guestAddress, changedStart, changedEnd, hits);

        int patched = 0, killedBlocks = 0, loaded = 0;
        bool? hot = null; // a store that changed only loaded immediates is no churn: the line's history is left alone
        Vcpu cpu = machine.Cpu;
        // Only an interpreted writer reads its own decoded instruction after storing (translated code runs its
        // unit's copy, and publishes InstructionStart only where it calls out).
        ulong running = cpu.RunningUnitId == 0 ? cpu.InstructionStart : ulong.MaxValue;
        foreach (DecodedBlock b in hits)
        {
            PatchResult result = TryPatchInPlace(b, frame, offset, newBytes, changedStart, changedEnd, running);
            if (result == PatchResult.LoadedImmediate)
            {
                // Translated code reads this immediate when the instruction runs: its units stay valid.
                patched++;
                loaded++;
                stats.SmcInPlacePatches++;
                stats.SmcImmediatePatches++;
                record?.Patched(b);
                continue;
            }
            hot ??= RecordRewrite(frame, changedStart, changedEnd, guestAddress);
            if (result == PatchResult.Failed)
            {
                killedBlocks++;
                record?.Killed(b);
                codeCache.Invalidate(b); // kills its units through OnBlockInvalidated
                continue;
            }
            patched++;
            stats.SmcInPlacePatches++;
            translationCache?.KillUnitsOf(b, killedUnits);
            record?.Patched(b);
            // An immediate just made volatile keeps its block translatable; other rewritten operands churn.
            if (result == PatchResult.Patched && hot == true) Demote(b);
        }
        if (hot is null && loaded == 0) RecordRewrite(frame, changedStart, changedEnd, guestAddress);
        lastWasImmediate = loaded > 0 && hot is null;
        foreach (TranslatedUnit u in killedUnits)
        {
            if (u.Id == cpu.RunningUnitId) stats.PreciseSmcExits++;
            record?.Killed(u);
        }
        if (logEvents) EngineLog.SmcEvent(logger, guestAddress, newBytes.Length, cpu.InstructionStart, killedBlocks, patched, killedUnits.Count);
        if (hits.Count == 1 && loaded == 1) RememberImmediatePatch(frame, hits[0], lastPatchedIndex);
        hits.Clear();
        killedUnits.Clear();
    }

    /// <summary>Starts one SMC event (its time is taken, or sampled, up to <see cref="OnCodeWritten"/>).</summary>
    private void BeginEvent()
    {
        timed = !lastWasImmediate || ++untimedEvents % SampleEvery == 0 || machine.WantsSmcEvents;
        if (timed) pendingStart = Stopwatch.GetTimestamp();
        pending = true;
        stats.SmcEvents++;
    }

    /// <summary>
    /// Adaptive policy: notes that frame bytes [start, end) were rewritten; a line rewritten again and again is
    /// demoted (its blocks stay interpreted). True if the range is demoted now.
    /// </summary>
    private bool RecordRewrite(CodeFrame frame, int start, int end, ulong guestAddress)
    {
        if (start >= end) return false;
        ulong fresh = frame.RecordRewrite(start, end, stats.GuestInstructions, DemoteAfter, RewriteWindow);
        if (fresh != 0)
        {
            stats.SmcDemotions++;
            EngineLog.SmcDemoted(logger, guestAddress, CodeFrame.CountLines(fresh));
        }
        return (frame.DemotedLines & CodeFrame.LineMask(start, end)) != 0;
    }

    private void OnBlockInvalidated(DecodedBlock block) => translationCache?.KillUnitsOf(block, pending ? killedUnits : null);

    private void OnBlockAdded(DecodedBlock block)
    {
        MarkKnownVolatileImmediates(block);
        for (int part = 0; part < block.PartCount; part++)
        {
            if (block.PageOf(part).CodeTracking is not CodeFrame frame || frame.DemotedLines == 0) continue;
            block.RangeOn(part, out int s, out int e);
            if ((frame.DemotedLines & CodeFrame.LineMask(s, e)) != 0)
            {
                Demote(block);
                return;
            }
        }
    }

    /// <summary>A fresh block loads the immediates its frame knows to be patched (before any unit is made from it).</summary>
    private static void MarkKnownVolatileImmediates(DecodedBlock block)
    {
        if (block.PageOf(0).CodeTracking is not CodeFrame { HasVolatileImmediates: true } && block.PageOf(block.PartCount - 1).CodeTracking is not CodeFrame { HasVolatileImmediates: true })
            return;
        Instruction[] code = block.Instructions;
        for (int i = 0; i < code.Length && i < 64; i++)
        {
            if (!UnitCompiler.LoadsImmediate(in code[i]) || !UnitCompiler.TryLocateImmediate(block, in code[i], out int part, out int offset)) continue;
            if (block.PageOf(part).CodeTracking is CodeFrame frame && frame.IsVolatileImmediate(offset, offset + UnitCompiler.ImmediateBytes(code[i].Op1Kind)))
                block.VolatileImmediates |= 1UL << i;
        }
    }

    private static void Demote(DecodedBlock block)
    {
        block.Demoted = true;
        block.Executions = -CooldownExecutions;
    }

    private void OnUnitAdded(TranslatedUnit unit)
    {
        foreach (DecodedBlock b in unit.Blocks)
        {
            if (!b.Demoted) continue;
            b.Demoted = false;
            stats.SmcRepromotions++;
            EngineLog.SmcRepromoted(logger, b.Start);
            for (int part = 0; part < b.PartCount; part++)
                if (b.PageOf(part).CodeTracking is CodeFrame frame)
                {
                    b.RangeOn(part, out int s, out int e);
                    frame.DemotedLines &= ~CodeFrame.LineMask(s, e);
                }
        }
    }

    /// <summary>The instruction <see cref="TryPatchInPlace"/> patched last.</summary>
    private int lastPatchedIndex;

    /// <summary>What <see cref="TryPatchInPlace"/> did with a block.</summary>
    private enum PatchResult
    {
        /// <summary>The block cannot be patched: it must die.</summary>
        Failed,
        /// <summary>An operand was re-decoded: the block lives, its units must die.</summary>
        Patched,
        /// <summary>A patched immediate that translated code will load from now on: units made so far must die.</summary>
        MadeVolatile,
        /// <summary>Only an immediate that translated code loads changed: the block and its units live.</summary>
        LoadedImmediate,
    }

    /// <summary>
    /// Re-decodes the one instruction of <paramref name="block"/> whose bytes changed, if the change keeps its
    /// opcode and length (a patched immediate, displacement or branch target): then the block stays valid and
    /// only its translations die. Not for the instruction that is running (it already read its old bytes).
    /// A patched immediate that inline translated code can load (<see cref="UnitCompiler.LoadsImmediate"/>) is
    /// made volatile: later units read it from the frame, so later stores that change only it kill nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private PatchResult TryPatchInPlace(DecodedBlock block, CodeFrame frame, int writeOffset, ReadOnlySpan<byte> newBytes,
        int changedStart, int changedEnd, ulong running)
    {
        int part = -1;
        for (int p = 0; p < block.PartCount; p++)
        {
            if (!ReferenceEquals(block.PageOf(p), frame.Page)) continue;
            if (part >= 0) return PatchResult.Failed; // both halves on one frame: too odd to patch
            part = p;
        }
        if (part < 0) return PatchResult.Failed;
        ulong pageBase = block.PartBase(part);
        ulong changedFirst = pageBase + (ulong)changedStart, changedLast = pageBase + (ulong)changedEnd;
        Instruction[] code = block.Instructions;
        int index = -1;
        for (int i = 0; i < code.Length; i++)
        {
            if (code[i].IP >= changedLast || code[i].NextIP <= changedFirst) continue;
            if (index >= 0) return PatchResult.Failed;
            index = i;
        }
        if (index < 0) return PatchResult.Failed;
        ref Instruction ins = ref code[index];
        if (ins.IP == running || ins.IP < pageBase || ins.NextIP > pageBase + PhysicalPage.Size) return PatchResult.Failed;
        int at = (int)(ins.IP - pageBase);
        if (!patchReader.Load(frame.Page.Data, at, ins.Length, writeOffset, newBytes)) return PatchResult.Failed;
        int immediateBytes = UnitCompiler.ImmediateBytes(ins.Op1Kind);
        bool inImmediate = index < 64 && immediateBytes != 0 && changedFirst >= ins.NextIP - (ulong)immediateBytes;
        ulong bit = 1UL << index;
        if (inImmediate && (block.VolatileImmediates & bit) != 0)
        {
            lastPatchedIndex = index;
            // Only the immediate changed: set it (no decode), and no revision bump (a unit compiled in the
            // background meanwhile loads this immediate too).
            ins.SetImmediate(1, patchReader.Immediate(ins.Length - immediateBytes, immediateBytes, ins.Op1Kind));
            return PatchResult.LoadedImmediate;
        }
        patchDecoder.IP = ins.IP;
        patchDecoder.Decode(out Instruction fresh);
        if (patchDecoder.LastError != DecoderError.None || fresh.Code != ins.Code || fresh.Length != ins.Length) return PatchResult.Failed;
        int immediateAt = 0;
        bool immediateOnly = inImmediate && UnitCompiler.LoadsImmediate(in fresh) && UnitCompiler.TryLocateImmediate(block, in fresh, out _, out immediateAt);
        if (immediateOnly)
        {
            // The mark first, then the revision: a unit copied before the mark was seen is stale.
            Interlocked.Or(ref block.VolatileImmediates, bit);
            frame.MarkVolatileImmediate(immediateAt, immediateAt + immediateBytes);
            EngineLog.SmcImmediateLoaded(logger, ins.IP);
        }
        ins = fresh;
        block.Revision++;
        return immediateOnly ? PatchResult.MadeVolatile : PatchResult.Patched;
    }

    /// <summary>Feeds the patch decoder one instruction's bytes as they will be after the write.</summary>
    private sealed class PatchReader : CodeReader
    {
        private readonly byte[] bytes = new byte[16];
        private int length, position;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public bool Load(byte[] frame, int at, int count, int writeOffset, ReadOnlySpan<byte> newBytes)
        {
            if (count > bytes.Length) return false;
            frame.AsSpan(at, count).CopyTo(bytes);
            int from = Math.Max(at, writeOffset), to = Math.Min(at + count, writeOffset + newBytes.Length);
            if (from < to) newBytes.Slice(from - writeOffset, to - from).CopyTo(bytes.AsSpan(from - at));
            length = count;
            position = 0;
            return true;
        }

        public override int ReadByte() => position < length ? bytes[position++] : -1;

        /// <summary>The loaded instruction's immediate of <paramref name="count"/> bytes at <paramref name="at"/>, sign-extended as <paramref name="kind"/> says.</summary>
        public ulong Immediate(int at, int count, OpKind kind)
        {
            ulong raw = 0;
            for (int i = count - 1; i >= 0; i--) raw = raw << 8 | bytes[at + i];
            return kind switch
            {
                OpKind.Immediate8to16 or OpKind.Immediate8to32 or OpKind.Immediate8to64 => (ulong)(long)(sbyte)raw,
                OpKind.Immediate32to64 => (ulong)(long)(int)raw,
                _ => raw,
            };
        }
    }
}
