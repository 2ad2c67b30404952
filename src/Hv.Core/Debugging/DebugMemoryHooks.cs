using Hv.Core.Memory;

namespace Hv.Core.Debugging;

/// <summary>What a watchpoint watches for, like the R/W bits of an x86 debug register (plus read-only).</summary>
public enum WatchKind : byte
{
    /// <summary>Writes (gdb <c>watch</c>, Z2).</summary>
    Write,
    /// <summary>Reads (gdb <c>rwatch</c>, Z3).</summary>
    Read,
    /// <summary>Reads and writes (gdb <c>awatch</c>, Z4).</summary>
    Access,
}

/// <summary>One watched data range.</summary>
/// <param name="Address">First watched byte.</param>
/// <param name="Length">Bytes watched (1 to <see cref="DebugController.MaxWatchLength"/>).</param>
/// <param name="Kind">Which accesses hit.</param>
public readonly record struct Watchpoint(ulong Address, int Length, WatchKind Kind);

/// <summary>
/// The checks the memory slow paths make for the debugger: watched pages get no TLB entry, and an access that
/// hits a watchpoint (or, with break-on-SMC, any store into a code frame) is stopped before it happens with a
/// <see cref="FaultKind.DebuggerWatch"/> fault. The vCPU then re-runs the instruction with
/// <see cref="Recording"/> set: accesses go through and hits are noted, so the stop is reported after the
/// access completed, as with x86 data breakpoints.
/// </summary>
internal sealed class DebugMemoryHooks
{
    private readonly List<Watchpoint> watches = [];
    private readonly HashSet<ulong> watchedPages = [];

    /// <summary>Stop before every store into a frame holding decoded code (break on SMC).</summary>
    public bool TrapCodeWrites;

    /// <summary>Set while the debugger re-runs a trapped instruction: accesses proceed and hits are recorded.</summary>
    public bool Recording;

    /// <summary>The first watchpoint hit while <see cref="Recording"/>, if any.</summary>
    public (ulong Address, WatchKind Kind)? Hit;

    public IReadOnlyList<Watchpoint> Watches => watches;

    public bool IsWatchedPage(ulong vpn) => watchedPages.Count != 0 && watchedPages.Contains(vpn);

    /// <summary>Whether a page must not get a write-TLB entry (not even a tagged code-frame one).</summary>
    public bool KeepOffWriteTlb(ulong vpn, EnginePageFlags flags) =>
        IsWatchedPage(vpn) || (TrapCodeWrites && (flags & EnginePageFlags.CodeWriteProtected) != 0);

    public void Add(Watchpoint w)
    {
        watches.Add(w);
        RebuildPages();
    }

    public bool Remove(Watchpoint w)
    {
        bool removed = watches.Remove(w);
        RebuildPages();
        return removed;
    }

    private void RebuildPages()
    {
        watchedPages.Clear();
        foreach (Watchpoint w in watches)
            for (ulong vpn = w.Address >> PhysicalPage.Shift; vpn <= (w.Address + (ulong)w.Length - 1) >> PhysicalPage.Shift; vpn++)
                watchedPages.Add(vpn);
    }

    /// <summary>True when the access must stop before it happens; records hits instead while <see cref="Recording"/>.</summary>
    public bool TrapAccess(ulong address, int size, AccessKind access, EnginePageFlags flags)
    {
        bool codeWrite = TrapCodeWrites && access == AccessKind.Write && (flags & EnginePageFlags.CodeWriteProtected) != 0;
        (ulong, WatchKind)? hit = null;
        foreach (Watchpoint w in watches)
        {
            bool kindMatches = w.Kind == WatchKind.Access || (w.Kind == WatchKind.Write) == (access == AccessKind.Write);
            if (kindMatches && address < w.Address + (ulong)w.Length && w.Address < address + (ulong)size)
            {
                hit = (Math.Max(address, w.Address), w.Kind);
                break;
            }
        }
        if (hit is null && !codeWrite) return false;
        if (!Recording) return true;
        Hit ??= hit;
        return false;
    }
}
