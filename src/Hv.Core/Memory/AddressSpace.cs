using System.Diagnostics.CodeAnalysis;

namespace Hv.Core.Memory;

/// <summary>One guest page as the MMU sees it: a frame plus guest permissions.</summary>
internal sealed class PageTableEntry(PhysicalPage page, PagePermissions permissions)
{
    public readonly PhysicalPage Page = page;
    public PagePermissions Permissions = permissions;
}

/// <summary>Learns about writes into frames that hold decoded or translated code (the SMC path).</summary>
public interface ICodeWriteObserver
{
    /// <summary>
    /// Called before <paramref name="newBytes"/> are stored at <paramref name="offset"/> of
    /// <paramref name="page"/>, which has <see cref="EnginePageFlags.CodeWriteProtected"/>. The page still holds
    /// the old bytes.
    /// </summary>
    void OnCodeWrite(PhysicalPage page, int offset, ReadOnlySpan<byte> newBytes, ulong guestAddress);

    /// <summary>
    /// Called right after a write announced by <see cref="OnCodeWrite"/> has landed (the frame holds the new
    /// bytes), before the guest resumes: SMC events are completed and published here.
    /// </summary>
    void OnCodeWritten(PhysicalPage page, int offset, int length, ulong guestAddress);

    /// <summary>
    /// Called when the code frame <paramref name="page"/> stops being executable at <paramref name="guestAddress"/>
    /// (munmap, a mapping replaced by MAP_FIXED, or mprotect without PROT_EXEC): code decoded from it must go.
    /// </summary>
    void OnCodeUnmapped(PhysicalPage page, ulong guestAddress);
}

/// <summary>
/// The guest's 47-bit virtual address space: regions (like the kernel's VMAs) and a sparse page table filled
/// on first touch. Every change that could make a TLB entry stale flushes the registered soft TLBs.
/// </summary>
public sealed class AddressSpace
{
    /// <summary>First address past the canonical lower half.</summary>
    public const ulong Limit = 1UL << 47;

    private readonly List<MemoryRegion> regions = [];
    private readonly Dictionary<ulong, PageTableEntry> pageTable = [];
    private readonly List<SoftTlb> tlbs = [];

    /// <summary>The regions, sorted by address and non-overlapping.</summary>
    public IReadOnlyList<MemoryRegion> Regions => regions;

    /// <summary>Receives writes into code frames; set by the engine's code tracker.</summary>
    public ICodeWriteObserver? CodeWriteObserver { get; set; }

    /// <summary>
    /// The debugger's watch and break-on-SMC checks, or null (no debugger: the slow paths skip them). Watched
    /// pages never get a TLB entry, so every access to them reaches the slow path.
    /// </summary>
    internal Debugging.DebugMemoryHooks? DebugHooks;

    /// <summary>Number of TLB flushes caused by mapping changes (per TLB).</summary>
    public long TlbFlushes { get; private set; }

    /// <summary>The machine's counters (<c>tlb_flushes</c>), once attached to a machine.</summary>
    internal Diagnostics.HvStats? Stats { get; set; }

    /// <summary>Number of pages populated on first touch.</summary>
    public long PagesPopulated { get; private set; }

    internal void Register(SoftTlb tlb) => tlbs.Add(tlb);

    /// <summary>Maps [<paramref name="address"/>, +<paramref name="length"/>) as fresh memory, replacing anything there.</summary>
    public void Map(ulong address, ulong length, PagePermissions permissions, string name,
        SharedMemoryObject? shared = null, ulong sharedOffset = 0)
    {
        ValidateRange(address, length);
        ulong end = address + PageAlignUp(length);
        RemoveRange(address, end);
        int index = FirstRegionEndingAfter(address);
        regions.Insert(index, new MemoryRegion(address, end, permissions, name, shared, sharedOffset));
    }

    /// <summary>Unmaps a range (munmap). Unmapped holes inside it are fine.</summary>
    public void Unmap(ulong address, ulong length)
    {
        ValidateRange(address, length);
        RemoveRange(address, address + PageAlignUp(length));
    }

    /// <summary>
    /// Moves the regions and frames of [<paramref name="from"/>, +<paramref name="length"/>) to
    /// <paramref name="to"/> (mremap): the frames keep their contents and sharing, nothing is copied. Whatever was
    /// mapped at the destination is unmapped first; code decoded at the old addresses is dropped. The two ranges
    /// must not overlap.
    /// </summary>
    public void Move(ulong from, ulong length, ulong to)
    {
        ValidateRange(from, length);
        ValidateRange(to, length);
        ulong size = PageAlignUp(length), end = from + size;
        if (from < to + size && to < end) throw new ArgumentException("mremap ranges overlap", nameof(to));
        SplitAt(from);
        SplitAt(end);
        int i = FirstRegionEndingAfter(from);
        int count = 0;
        while (i + count < regions.Count && regions[i + count].Start < end) count++;
        List<MemoryRegion> moved = regions.GetRange(i, count);
        regions.RemoveRange(i, count);
        List<KeyValuePair<ulong, PageTableEntry>> frames = [];
        ForEachPopulatedPage(from, end, (vpn, pte) =>
        {
            frames.Add(new(vpn, pte));
            DropCode(vpn, pte);
        });
        foreach (KeyValuePair<ulong, PageTableEntry> kv in frames) pageTable.Remove(kv.Key);
        FlushTlbs(from, end);
        RemoveRange(to, to + size);
        foreach (MemoryRegion r in moved)
        {
            r.Start = r.Start - from + to;
            r.End = r.End - from + to;
            regions.Insert(FirstRegionEndingAfter(r.Start), r);
        }
        ulong shift = (to >> PhysicalPage.Shift) - (from >> PhysicalPage.Shift);
        foreach (KeyValuePair<ulong, PageTableEntry> kv in frames) pageTable.Add(kv.Key + shift, kv.Value);
    }

    /// <summary>Changes permissions of a range (mprotect). Returns false if part of it is not mapped.</summary>
    public bool Protect(ulong address, ulong length, PagePermissions permissions)
    {
        ValidateRange(address, length);
        ulong end = address + PageAlignUp(length);
        if (!IsFullyMapped(address, end)) return false;
        SplitAt(address);
        SplitAt(end);
        for (int i = FirstRegionEndingAfter(address); i < regions.Count && regions[i].Start < end; i++)
            regions[i].Permissions = permissions;
        ForEachPopulatedPage(address, end, (vpn, pte) =>
        {
            pte.Permissions = permissions;
            if ((permissions & PagePermissions.Execute) == 0) DropCode(vpn, pte);
        });
        FlushTlbs(address, end);
        return true;
    }

    /// <summary>
    /// Marks [<paramref name="start"/>, <paramref name="end"/>) (page aligned, mapped) as pages of a file mapping
    /// past the end of the file: guest accesses there raise <see cref="FaultKind.BusError"/>, host copies fail.
    /// </summary>
    public void MarkBeyondEndOfFile(ulong start, ulong end)
    {
        if (start >= end) return;
        SplitAt(start);
        SplitAt(end);
        for (int i = FirstRegionEndingAfter(start); i < regions.Count && regions[i].Start < end; i++)
            regions[i].BeyondEndOfFile = true;
        FlushTlbs(start, end);
    }

    /// <summary>True if every page of [start, end) belongs to a region.</summary>
    public bool IsFullyMapped(ulong start, ulong end)
    {
        ulong cursor = start;
        for (int i = FirstRegionEndingAfter(start); i < regions.Count && cursor < end; i++)
        {
            if (regions[i].Start > cursor) return false;
            cursor = regions[i].End;
        }
        return cursor >= end;
    }

    /// <summary>The region containing <paramref name="address"/>, or null.</summary>
    public MemoryRegion? FindRegion(ulong address)
    {
        int i = FirstRegionEndingAfter(address);
        return i < regions.Count && regions[i].Start <= address ? regions[i] : null;
    }

    /// <summary>
    /// Finds the highest free, page-aligned range of <paramref name="length"/> bytes below
    /// <paramref name="ceiling"/> and at or above <paramref name="floor"/> (the kernel's top-down mmap search).
    /// </summary>
    public bool TryFindFree(ulong length, ulong floor, ulong ceiling, out ulong address)
    {
        length = PageAlignUp(length);
        ulong top = ceiling;
        for (int i = regions.Count - 1; i >= -1; i--)
        {
            ulong gapStart = i >= 0 ? regions[i].End : floor;
            if (i >= 0 && regions[i].Start >= top) { continue; }
            if (gapStart < floor) gapStart = floor;
            if (top >= gapStart && top - gapStart >= length)
            {
                address = top - length;
                return true;
            }
            if (i >= 0) top = Math.Min(top, regions[i].Start);
        }
        address = 0;
        return false;
    }

    /// <summary>Looks up (populating on first touch) the page table entry of virtual page <paramref name="vpn"/>.</summary>
    internal bool TryGetPage(ulong vpn, [NotNullWhen(true)] out PageTableEntry? entry)
    {
        if (pageTable.TryGetValue(vpn, out entry)) return true;
        ulong address = vpn << PhysicalPage.Shift;
        MemoryRegion? region = FindRegion(address);
        if (region is null || region.BeyondEndOfFile) return false;
        PhysicalPage page = region.Shared is null
            ? new PhysicalPage()
            : region.Shared.GetPage((long)((region.SharedOffset + (address - region.Start)) >> PhysicalPage.Shift));
        entry = new PageTableEntry(page, region.Permissions);
        pageTable.Add(vpn, entry);
        PagesPopulated++;
        return true;
    }

    /// <summary>
    /// Copies guest memory into <paramref name="destination"/> for the host side (loader, syscalls, debugger).
    /// With <paramref name="checkPermissions"/> a page without guest read permission fails the copy.
    /// </summary>
    /// <returns>False (and a partial copy) if some byte is not mapped or not readable.</returns>
    public bool TryRead(ulong address, Span<byte> destination, bool checkPermissions = true)
    {
        while (!destination.IsEmpty)
        {
            if (address >= Limit || !TryGetPage(address >> PhysicalPage.Shift, out PageTableEntry? pte)) return false;
            if (checkPermissions && (pte.Permissions & PagePermissions.Read) == 0) return false;
            int offset = (int)(address & PhysicalPage.OffsetMask);
            int n = Math.Min(destination.Length, PhysicalPage.Size - offset);
            pte.Page.Data.AsSpan(offset, n).CopyTo(destination);
            destination = destination[n..];
            address += (ulong)n;
        }
        return true;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into guest memory for the host side. Writes into code frames go through
    /// the SMC observer exactly like guest stores. With <paramref name="checkPermissions"/> a page without guest
    /// write permission fails the copy (bytes before it are written, as the kernel does).
    /// </summary>
    public bool TryWrite(ulong address, ReadOnlySpan<byte> source, bool checkPermissions = true)
    {
        while (!source.IsEmpty)
        {
            if (address >= Limit || !TryGetPage(address >> PhysicalPage.Shift, out PageTableEntry? pte)) return false;
            if (checkPermissions && (pte.Permissions & PagePermissions.Write) == 0) return false;
            int offset = (int)(address & PhysicalPage.OffsetMask);
            int n = Math.Min(source.Length, PhysicalPage.Size - offset);
            StoreToFrame(pte.Page, offset, source[..n], address);
            source = source[n..];
            address += (ulong)n;
        }
        return true;
    }

    /// <summary>True if the whole range is mapped with at least <paramref name="required"/> permissions.</summary>
    public bool IsAccessible(ulong address, ulong length, PagePermissions required)
    {
        if (length == 0) return true;
        ulong end = address + length;
        if (end < address || end > Limit) return false;
        for (ulong page = address & ~PhysicalPage.OffsetMask; page < end; page += PhysicalPage.Size)
        {
            MemoryRegion? region = FindRegion(page);
            if (region is null || (region.Permissions & required) != required) return false;
        }
        return true;
    }

    /// <summary>Stores into a frame, notifying the SMC observer first when the frame holds code.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal void StoreToFrame(PhysicalPage page, int offset, ReadOnlySpan<byte> bytes, ulong guestAddress)
    {
        if ((page.EngineFlags & EnginePageFlags.CodeWriteProtected) != 0 && CodeWriteObserver is { } observer)
        {
            observer.OnCodeWrite(page, offset, bytes, guestAddress);
            bytes.CopyTo(page.Data.AsSpan(offset));
            observer.OnCodeWritten(page, offset, bytes.Length, guestAddress);
            return;
        }
        bytes.CopyTo(page.Data.AsSpan(offset));
    }

    /// <summary>
    /// Drops write entries for <paramref name="page"/> (mapped at <paramref name="pageAddress"/>) from every TLB:
    /// it just became code-protected.
    /// </summary>
    internal void RevokeFastWrites(PhysicalPage page, ulong pageAddress)
    {
        foreach (SoftTlb tlb in tlbs) tlb.DropWritesTo(page, pageAddress >> PhysicalPage.Shift);
    }

    /// <summary>Flushes every TLB for [start, end).</summary>
    public void FlushTlbs(ulong start, ulong end)
    {
        foreach (SoftTlb tlb in tlbs)
        {
            tlb.FlushRange(start, end);
            TlbFlushes++;
            if (Stats is not null) Stats.TlbFlushes++;
        }
    }

    private void RemoveRange(ulong start, ulong end)
    {
        SplitAt(start);
        SplitAt(end);
        int i = FirstRegionEndingAfter(start);
        int count = 0;
        while (i + count < regions.Count && regions[i + count].Start < end) count++;
        if (count > 0) regions.RemoveRange(i, count);
        List<ulong> dead = [];
        ForEachPopulatedPage(start, end, (vpn, pte) =>
        {
            dead.Add(vpn);
            DropCode(vpn, pte);
        });
        foreach (ulong vpn in dead) pageTable.Remove(vpn);
        FlushTlbs(start, end);
    }

    private void DropCode(ulong vpn, PageTableEntry pte)
    {
        if ((pte.Page.EngineFlags & EnginePageFlags.CodeWriteProtected) != 0)
            CodeWriteObserver?.OnCodeUnmapped(pte.Page, vpn << PhysicalPage.Shift);
    }

    private void ForEachPopulatedPage(ulong start, ulong end, Action<ulong, PageTableEntry> action)
    {
        ulong firstVpn = start >> PhysicalPage.Shift, endVpn = end >> PhysicalPage.Shift;
        if (endVpn - firstVpn <= (ulong)pageTable.Count)
        {
            for (ulong vpn = firstVpn; vpn < endVpn; vpn++)
                if (pageTable.TryGetValue(vpn, out PageTableEntry? pte)) action(vpn, pte);
        }
        else
        {
            foreach (KeyValuePair<ulong, PageTableEntry> kv in pageTable)
                if (kv.Key >= firstVpn && kv.Key < endVpn) action(kv.Key, kv.Value);
        }
    }

    /// <summary>Splits the region containing <paramref name="address"/> so that a region boundary falls there.</summary>
    private void SplitAt(ulong address)
    {
        int i = FirstRegionEndingAfter(address);
        if (i >= regions.Count) return;
        MemoryRegion r = regions[i];
        if (r.Start >= address) return;
        regions[i] = r.Slice(r.Start, address);
        regions.Insert(i + 1, r.Slice(address, r.End));
    }

    /// <summary>Index of the first region whose End is above <paramref name="address"/>.</summary>
    private int FirstRegionEndingAfter(ulong address)
    {
        int lo = 0, hi = regions.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (regions[mid].End <= address) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    private static void ValidateRange(ulong address, ulong length)
    {
        if ((address & PhysicalPage.OffsetMask) != 0) throw new ArgumentException($"address 0x{address:x} is not page aligned", nameof(address));
        if (length == 0 || length > Limit || address >= Limit || Limit - address < PageAlignUp(length))
            throw new ArgumentOutOfRangeException(nameof(length), $"range 0x{address:x}+0x{length:x} is outside the guest address space");
    }

    /// <summary>Rounds up to a page multiple.</summary>
    public static ulong PageAlignUp(ulong value) => (value + PhysicalPage.OffsetMask) & ~PhysicalPage.OffsetMask;
}
