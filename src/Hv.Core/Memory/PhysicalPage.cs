namespace Hv.Core.Memory;

/// <summary>
/// One 4 KiB frame of guest memory. Two virtual mappings of the same shared object point at the same frame,
/// so code tracking lives here rather than on virtual pages: a write through either alias sees it.
/// </summary>
public sealed class PhysicalPage
{
    /// <summary>Page size in bytes.</summary>
    public const int Size = 4096;
    /// <summary>log2 of <see cref="Size"/>.</summary>
    public const int Shift = 12;
    /// <summary>Mask of the offset within a page.</summary>
    public const ulong OffsetMask = Size - 1;

    /// <summary>The frame's bytes.</summary>
    public readonly byte[] Data = new byte[Size];

    /// <summary>Engine-owned state (e.g. write protection because code was decoded from this frame).</summary>
    public EnginePageFlags EngineFlags;

    /// <summary>
    /// True for frames of a shared object (memfd, shared file mapping), which may be mapped at several virtual
    /// pages at once; a private frame is mapped at exactly one virtual page.
    /// </summary>
    internal bool Shared { get; init; }

    /// <summary>Opaque per-frame state of the code tracker (the blocks decoded from this frame).</summary>
    internal object? CodeTracking;
}
