namespace Hv.Core.Memory;

/// <summary>
/// Frames shared between mappings (a memfd, a MAP_SHARED file or anonymous shared memory). Every mapping of
/// the object sees the same <see cref="PhysicalPage"/>s.
/// </summary>
public sealed class SharedMemoryObject
{
    private PhysicalPage?[] pages;

    /// <summary>Creates an object of <paramref name="size"/> bytes (grown later with <see cref="Resize"/>).</summary>
    public SharedMemoryObject(ulong size) => pages = new PhysicalPage?[PageCount(size)];

    /// <summary>Size in pages.</summary>
    public int Pages => pages.Length;

    /// <summary>Grows or shrinks the object (ftruncate).</summary>
    public void Resize(ulong size) => Array.Resize(ref pages, PageCount(size));

    /// <summary>The frame at page <paramref name="index"/>, allocated zeroed on first use.</summary>
    public PhysicalPage GetPage(long index)
    {
        if ((ulong)index >= (ulong)pages.Length) Array.Resize(ref pages, (int)index + 1);
        return pages[index] ??= new PhysicalPage { Shared = true };
    }

    private static int PageCount(ulong size) => checked((int)((size + PhysicalPage.OffsetMask) >> PhysicalPage.Shift));
}

/// <summary>A contiguous, page-aligned range of the guest address space with one set of permissions (a VMA).</summary>
public sealed class MemoryRegion
{
    internal MemoryRegion(ulong start, ulong end, PagePermissions permissions, string name, SharedMemoryObject? shared, ulong sharedOffset)
    {
        Start = start;
        End = end;
        Permissions = permissions;
        Name = name;
        Shared = shared;
        SharedOffset = sharedOffset;
    }

    /// <summary>First byte (page aligned).</summary>
    public ulong Start { get; internal set; }
    /// <summary>One past the last byte (page aligned).</summary>
    public ulong End { get; internal set; }
    /// <summary>Guest permissions.</summary>
    public PagePermissions Permissions { get; internal set; }
    /// <summary>A name for diagnostics and /proc/self/maps ("[heap]", "[stack]", an image path).</summary>
    public string Name { get; }
    /// <summary>Backing frames for shared mappings; null for private anonymous memory.</summary>
    public SharedMemoryObject? Shared { get; }
    /// <summary>Byte offset of <see cref="Start"/> in <see cref="Shared"/>.</summary>
    public ulong SharedOffset { get; internal set; }

    /// <summary>The region maps pages past the end of its file: every access raises <see cref="FaultKind.BusError"/>.</summary>
    public bool BeyondEndOfFile { get; internal set; }

    /// <summary>Length in bytes.</summary>
    public ulong Length => End - Start;

    internal MemoryRegion Slice(ulong start, ulong end) =>
        new(start, end, Permissions, Name, Shared, Shared is null ? 0 : SharedOffset + (start - Start)) { BeyondEndOfFile = BeyondEndOfFile };

    /// <inheritdoc />
    public override string ToString() => $"{Start:x12}-{End:x12} {Permissions} {Name}";
}
