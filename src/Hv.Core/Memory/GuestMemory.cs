using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Hv.Core.Memory;

/// <summary>
/// A virtual CPU's view of guest memory: every guest load, store and instruction fetch goes through here.
/// The fast path is a soft-TLB hit; misses, page-straddling accesses and stores into code frames take the slow
/// path, which checks permissions and raises precise guest faults.
/// </summary>
public sealed class GuestMemory
{
    private readonly AddressSpace space;
    private readonly SoftTlb tlb = new();

    /// <summary>Creates a view of <paramref name="space"/> with its own TLB.</summary>
    public GuestMemory(AddressSpace space)
    {
        this.space = space;
        space.Register(tlb);
    }

    /// <summary>The address space behind this view.</summary>
    public AddressSpace Space => space;

    /// <summary>This view's TLB.</summary>
    public SoftTlb Tlb => tlb;

    /// <summary>TLB misses (slow-path page walks).</summary>
    public long TlbMisses { get; private set; }

    // ---- loads ----

    /// <summary>Reads a byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte Read8(ulong address)
    {
        ulong vpn = address >> PhysicalPage.Shift;
        ref TlbEntry e = ref tlb.Read[SoftTlb.Index(vpn)];
        if (e.Vpn == vpn) return Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(e.Data!), (nint)(address & PhysicalPage.OffsetMask));
        return ReadSlow<byte>(address);
    }

    /// <summary>Reads a little-endian 16-bit value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort Read16(ulong address) => Read<ushort>(address);

    /// <summary>Reads a little-endian 32-bit value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Read32(ulong address) => Read<uint>(address);

    /// <summary>Reads a little-endian 64-bit value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Read64(ulong address) => Read<ulong>(address);

    /// <summary>Reads 16 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<byte> Read128(ulong address) => Read<Vector128<byte>>(address);

    /// <summary>Reads an unmanaged value of up to a page in size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Read<T>(ulong address) where T : unmanaged
    {
        ulong vpn = address >> PhysicalPage.Shift;
        ref TlbEntry e = ref tlb.Read[SoftTlb.Index(vpn)];
        uint offset = (uint)(address & PhysicalPage.OffsetMask);
        if (e.Vpn == vpn && offset <= PhysicalPage.Size - Unsafe.SizeOf<T>())
            return Unsafe.ReadUnaligned<T>(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(e.Data!), (nint)offset));
        return ReadSlow<T>(address);
    }

    /// <summary>Fetches an instruction byte (needs execute permission).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte Fetch8(ulong address)
    {
        ulong vpn = address >> PhysicalPage.Shift;
        ref TlbEntry e = ref tlb.Fetch[SoftTlb.Index(vpn)];
        if (e.Vpn == vpn) return Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(e.Data!), (nint)(address & PhysicalPage.OffsetMask));
        return FetchSlow(address);
    }

    /// <summary>Fetches an instruction byte without faulting; false if the byte is not executable.</summary>
    public bool TryFetch8(ulong address, out byte value)
    {
        if (TryResolve(address, AccessKind.Execute, out PageTableEntry? pte, out _))
        {
            value = pte.Page.Data[address & PhysicalPage.OffsetMask];
            return true;
        }
        value = 0;
        return false;
    }

    // ---- stores ----

    /// <summary>Writes a byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write8(ulong address, byte value) => Write(address, value);

    /// <summary>Writes a little-endian 16-bit value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write16(ulong address, ushort value) => Write(address, value);

    /// <summary>Writes a little-endian 32-bit value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write32(ulong address, uint value) => Write(address, value);

    /// <summary>Writes a little-endian 64-bit value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write64(ulong address, ulong value) => Write(address, value);

    /// <summary>Writes 16 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write128(ulong address, Vector128<byte> value) => Write(address, value);

    /// <summary>Writes an unmanaged value of up to a page in size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write<T>(ulong address, T value) where T : unmanaged
    {
        ulong vpn = address >> PhysicalPage.Shift;
        ref TlbEntry e = ref tlb.Write[SoftTlb.Index(vpn)];
        uint offset = (uint)(address & PhysicalPage.OffsetMask);
        if (e.Vpn == vpn && offset <= PhysicalPage.Size - Unsafe.SizeOf<T>())
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(e.Data!), (nint)offset), value);
            return;
        }
        WriteSlow(address, value);
    }

    /// <summary>Reads guest bytes with guest read permission (faults like a load).</summary>
    public void ReadBytes(ulong address, Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = Read8(address + (ulong)i);
    }

    /// <summary>Writes guest bytes with guest write permission (faults like a store).</summary>
    public void WriteBytes(ulong address, ReadOnlySpan<byte> source)
    {
        // Probe every page first so a fault leaves memory untouched, as one guest instruction would.
        for (ulong a = address & ~PhysicalPage.OffsetMask; a < address + (ulong)source.Length; a += PhysicalPage.Size)
            Resolve(Math.Max(a, address), AccessKind.Write);
        for (int i = 0; i < source.Length; i++) Write8(address + (ulong)i, source[i]);
    }

    /// <summary>
    /// Checks that [address, address+length) allows <paramref name="access"/>, raising the guest fault the first
    /// bad byte would raise. Instructions with several stores call this before the first one so a fault leaves
    /// no partial effect.
    /// </summary>
    public void Probe(ulong address, int length, AccessKind access)
    {
        Resolve(address, access);
        if (length > 1) Resolve(address + (ulong)length - 1, access);
    }

    // ---- bulk access for string instructions ----

    /// <summary>
    /// The bytes from <paramref name="address"/> to the end of its page if the page is readable, else an empty
    /// span. Never faults: bulk paths use it and fall back to <see cref="Read{T}"/> for the precise fault.
    /// </summary>
    internal Span<byte> ReadableSpan(ulong address)
    {
        ulong vpn = address >> PhysicalPage.Shift;
        ref TlbEntry e = ref tlb.Read[SoftTlb.Index(vpn)];
        byte[]? data = e.Vpn == vpn ? e.Data
            : TryResolve(address, AccessKind.Read, out PageTableEntry? pte, out _) && !IsWatched(vpn) ? pte.Page.Data : null;
        return data is null ? default : data.AsSpan((int)(address & PhysicalPage.OffsetMask));
    }

    /// <summary>
    /// The bytes from <paramref name="address"/> to the end of its page if the page is writable and holds no
    /// decoded code, else an empty span (code frames must be written with <see cref="Write{T}"/> so the SMC check
    /// sees the store). Never faults.
    /// </summary>
    internal Span<byte> WritableSpan(ulong address)
    {
        ulong vpn = address >> PhysicalPage.Shift;
        ref TlbEntry e = ref tlb.Write[SoftTlb.Index(vpn)];
        byte[]? data = e.Vpn == vpn ? e.Data
            : TryResolve(address, AccessKind.Write, out PageTableEntry? pte, out _)
              && (pte.Page.EngineFlags & EnginePageFlags.CodeWriteProtected) == 0 && !IsWatched(vpn) ? pte.Page.Data : null;
        return data is null ? default : data.AsSpan((int)(address & PhysicalPage.OffsetMask));
    }

    /// <summary>Watched pages take the per-element path so every access is checked.</summary>
    private bool IsWatched(ulong vpn) => space.DebugHooks is { } hooks && hooks.IsWatchedPage(vpn);

    // ---- non-throwing accesses for translated code ----

    /// <summary>
    /// The fault the last failed <c>Try*</c> access would have raised. Translated code uses the Try forms so
    /// that no exception crosses its body (which keeps guest registers in host registers); on failure it writes
    /// its registers back and raises this fault.
    /// </summary>
    public GuestFault PendingFault;

    /// <summary>Loads like <see cref="Read{T}"/>, but reports a fault by returning false (see <see cref="PendingFault"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead<T>(ulong address, out T value) where T : unmanaged
    {
        ulong vpn = address >> PhysicalPage.Shift;
        ref TlbEntry e = ref tlb.Read[SoftTlb.Index(vpn)];
        uint offset = (uint)(address & PhysicalPage.OffsetMask);
        if (e.Vpn == vpn && offset <= PhysicalPage.Size - Unsafe.SizeOf<T>())
        {
            value = Unsafe.ReadUnaligned<T>(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(e.Data!), (nint)offset));
            return true;
        }
        return TryReadSlow(address, out value);
    }

    /// <summary>Stores like <see cref="Write{T}"/>, but reports a fault by returning false (see <see cref="PendingFault"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWrite<T>(ulong address, T value) where T : unmanaged
    {
        ulong vpn = address >> PhysicalPage.Shift;
        ref TlbEntry e = ref tlb.Write[SoftTlb.Index(vpn)];
        uint offset = (uint)(address & PhysicalPage.OffsetMask);
        if (e.Vpn == vpn && offset <= PhysicalPage.Size - Unsafe.SizeOf<T>())
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(e.Data!), (nint)offset), value);
            return true;
        }
        return TryWriteSlow(address, value);
    }

#pragma warning disable CS1591 // Monomorphic entry points for generated IL (generic methods are awkward to call from it).
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool TryRead8(ulong a, out byte v) => TryRead(a, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool TryRead16(ulong a, out ushort v) => TryRead(a, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool TryRead32(ulong a, out uint v) => TryRead(a, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool TryRead64(ulong a, out ulong v) => TryRead(a, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool TryRead128(ulong a, out Vector128<byte> v) => TryRead(a, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool TryWrite128(ulong a, Vector128<byte> v) => TryWrite(a, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool TryWrite8(ulong a, byte v) => TryWrite(a, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool TryWrite16(ulong a, ushort v) => TryWrite(a, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool TryWrite32(ulong a, uint v) => TryWrite(a, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool TryWrite64(ulong a, ulong v) => TryWrite(a, v);
#pragma warning restore CS1591

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryReadSlow<T>(ulong address, out T value) where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        value = default;
        if (!TryResolveOrRecord(address, AccessKind.Read, out PageTableEntry? first)) return false;
        if (space.DebugHooks is { } hooks && hooks.TrapAccess(address, size, AccessKind.Read, first.Page.EngineFlags)) return RecordWatchTrap(address, AccessKind.Read);
        int offset = (int)(address & PhysicalPage.OffsetMask);
        if (offset + size <= PhysicalPage.Size)
        {
            value = MemoryMarshal.Read<T>(first.Page.Data.AsSpan(offset));
            return true;
        }
        // A straddling access faults at the first byte of the second page, which is what CR2/si_addr report.
        if (!TryResolveOrRecord((address | PhysicalPage.OffsetMask) + 1, AccessKind.Read, out PageTableEntry? second)) return false;
        Span<byte> buffer = stackalloc byte[size];
        int head = PhysicalPage.Size - offset;
        first.Page.Data.AsSpan(offset, head).CopyTo(buffer);
        second.Page.Data.AsSpan(0, size - head).CopyTo(buffer[head..]);
        value = MemoryMarshal.Read<T>(buffer);
        return true;
    }

    /// <summary>
    /// A store within one code frame that has a (tagged) TLB entry, so the page walk and permission check are
    /// done: a store that touches no decoded byte (data sharing a page with code) is written at once; one onto
    /// code goes straight to the SMC path. False when the store needs the slow path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryWriteBesideCode<T>(ulong address, T value) where T : unmanaged
    {
        ulong vpn = address >> PhysicalPage.Shift;
        int i = SoftTlb.Index(vpn);
        ref TlbEntry e = ref tlb.Write[i];
        int offset = (int)(address & PhysicalPage.OffsetMask);
        Smc.CodeFrame? frame = e.Vpn == (vpn | SoftTlb.CodeTag) ? tlb.WriteFrames[i]
            : tlb.CodeWrite.Vpn == (vpn | SoftTlb.CodeTag) ? tlb.CodeWriteFrame : null;
        // Watchpoints need the full slow path.
        if (frame is null || offset > PhysicalPage.Size - Unsafe.SizeOf<T>() || space.DebugHooks is not null)
            return false;
        if (frame.Touches(offset, offset + Unsafe.SizeOf<T>()))
        {
            StoreOntoCode(frame.Page, offset, value, address);
            return true;
        }
        if (space.Stats is { } stats) stats.SmcFalseHits++;
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(frame.Page.Data), (nint)offset), value);
        return true;
    }

    /// <summary>
    /// A store that missed the TLB's plain write entry (stores beside code, SMC, watchpoints, faults, TLB fills).
    /// Translated code calls it directly after its own inline probe missed, so it is optimized at once.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal bool TryWriteSlow<T>(ulong address, T value) where T : unmanaged =>
        TryWriteBesideCode(address, value) || TryWriteWalk(address, value);

    /// <summary>A store onto decoded bytes: through the frame's SMC hook (kept out of the lean false-hit path).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] // four instantiations, each hot at once
    private void StoreOntoCode<T>(PhysicalPage page, int offset, T value, ulong address) where T : unmanaged
    {
        Span<byte> bytes = stackalloc byte[Unsafe.SizeOf<T>()];
        MemoryMarshal.Write(bytes, in value);
        space.StoreToFrame(page, offset, bytes, address);
    }

    /// <summary>The full slow path: page walk, permissions, faults, watchpoints, SMC hook, page straddling.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryWriteWalk<T>(ulong address, T value) where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        if (!TryResolveOrRecord(address, AccessKind.Write, out PageTableEntry? first)) return false;
        int offset = (int)(address & PhysicalPage.OffsetMask);
        PageTableEntry? second = null;
        if (offset + size > PhysicalPage.Size && !TryResolveOrRecord((address | PhysicalPage.OffsetMask) + 1, AccessKind.Write, out second)) return false;
        if (space.DebugHooks is { } hooks
            && hooks.TrapAccess(address, size, AccessKind.Write, first.Page.EngineFlags | (second?.Page.EngineFlags ?? 0)))
            return RecordWatchTrap(address, AccessKind.Write);
        Span<byte> bytes = stackalloc byte[size];
        MemoryMarshal.Write(bytes, in value);
        if (second is null)
        {
            space.StoreToFrame(first.Page, offset, bytes, address);
            return true;
        }
        int head = PhysicalPage.Size - offset;
        space.StoreToFrame(first.Page, offset, bytes[..head], address);
        space.StoreToFrame(second.Page, 0, bytes[head..], address + (ulong)head);
        return true;
    }

    /// <summary>A debugger watch stops the access before it happens (see <see cref="FaultKind.DebuggerWatch"/>).</summary>
    private bool RecordWatchTrap(ulong address, AccessKind access)
    {
        PendingFault = new GuestFault(FaultKind.DebuggerWatch, address, access);
        return false;
    }

    private bool TryResolveOrRecord(ulong address, AccessKind access, [NotNullWhen(true)] out PageTableEntry? pte)
    {
        if (TryResolve(address, access, out pte, out FaultKind kind)) return true;
        PendingFault = new GuestFault(kind, address, access);
        return false;
    }

    // ---- slow paths ----

    [MethodImpl(MethodImplOptions.NoInlining)]
    private T ReadSlow<T>(ulong address) where T : unmanaged
    {
        if (!TryReadSlow(address, out T value)) ThrowPendingFault();
        return value;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private byte FetchSlow(ulong address) =>
        Resolve(address, AccessKind.Execute).Page.Data[address & PhysicalPage.OffsetMask];

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteSlow<T>(ulong address, T value) where T : unmanaged
    {
        if (!TryWriteSlow(address, value)) ThrowPendingFault();
    }

    /// <summary>Raises <see cref="PendingFault"/> as a guest fault.</summary>
    [DoesNotReturn]
    public void ThrowPendingFault() => throw new GuestFaultException(PendingFault);

    /// <summary>Walks the page table for one access, fills the TLB when allowed, or raises the guest fault.</summary>
    private PageTableEntry Resolve(ulong address, AccessKind access)
    {
        if (!TryResolve(address, access, out PageTableEntry? pte, out FaultKind kind))
            ThrowFault(kind, address, access);
        return pte;
    }

    private bool TryResolve(ulong address, AccessKind access, [NotNullWhen(true)] out PageTableEntry? pte, out FaultKind kind)
    {
        TlbMisses++;
        ulong vpn = address >> PhysicalPage.Shift;
        if (address >= AddressSpace.Limit || !space.TryGetPage(vpn, out pte))
        {
            pte = null;
            kind = address >= AddressSpace.Limit && address < 0xFFFF_8000_0000_0000UL ? FaultKind.GeneralProtection
                : address < AddressSpace.Limit && space.FindRegion(address) is { BeyondEndOfFile: true } ? FaultKind.BusError
                : FaultKind.PageNotMapped;
            return false;
        }
        PagePermissions need = access switch
        {
            AccessKind.Read => PagePermissions.Read,
            AccessKind.Write => PagePermissions.Write,
            _ => PagePermissions.Execute,
        };
        if ((pte.Permissions & need) == 0)
        {
            kind = FaultKind.PageProtection;
            return false;
        }
        kind = default;
        int i = SoftTlb.Index(vpn);
        switch (access)
        {
            case AccessKind.Read:
                if (space.DebugHooks is { } readHooks && readHooks.IsWatchedPage(vpn)) break; // keep it on the slow path
                tlb.Read[i] = new TlbEntry { Vpn = vpn, Data = pte.Page.Data };
                break;
            case AccessKind.Write:
                // Watched pages (and code frames while the debugger breaks on SMC) get no entry: stores take the slow path.
                if (space.DebugHooks is { } writeHooks && writeHooks.KeepOffWriteTlb(vpn, pte.Page.EngineFlags)) break;
                // Code frames get a tagged entry: the inline path misses, TryWriteBesideCode sorts it out.
                if ((pte.Page.EngineFlags & EnginePageFlags.CodeWriteProtected) == 0)
                    tlb.Write[i] = new TlbEntry { Vpn = vpn, Data = pte.Page.Data };
                else
                {
                    tlb.Write[i] = new TlbEntry { Vpn = vpn | SoftTlb.CodeTag, Data = pte.Page.Data };
                    tlb.WriteFrames[i] = pte.Page.CodeTracking as Smc.CodeFrame;
                    tlb.CodeWrite = tlb.Write[i];
                    tlb.CodeWriteFrame = tlb.WriteFrames[i];
                }
                // Writable implies readable on x86 page tables, but PROT_WRITE alone is mapped readable by Linux too.
                break;
            default:
                tlb.Fetch[i] = new TlbEntry { Vpn = vpn, Data = pte.Page.Data };
                break;
        }
        return true;
    }

    [DoesNotReturn]
    private static void ThrowFault(FaultKind kind, ulong address, AccessKind access) =>
        throw new GuestFaultException(new GuestFault(kind, address, access));

    /// <summary>The frame behind a mapped virtual address, or null.</summary>
    internal PhysicalPage? PageAt(ulong address) =>
        address < AddressSpace.Limit && space.TryGetPage(address >> PhysicalPage.Shift, out PageTableEntry? pte) ? pte.Page : null;
}
