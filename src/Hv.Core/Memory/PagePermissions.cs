namespace Hv.Core.Memory;

/// <summary>Guest-visible page permissions, as set by the loader, mmap, mprotect and brk.</summary>
[Flags]
public enum PagePermissions : byte
{
    /// <summary>No access (PROT_NONE).</summary>
    None = 0,
    /// <summary>Readable.</summary>
    Read = 1,
    /// <summary>Writable.</summary>
    Write = 2,
    /// <summary>Executable.</summary>
    Execute = 4,
    /// <summary>Read and write.</summary>
    ReadWrite = Read | Write,
    /// <summary>Read and execute.</summary>
    ReadExecute = Read | Execute,
    /// <summary>Everything.</summary>
    All = Read | Write | Execute,
}

/// <summary>The kind of a guest memory access.</summary>
public enum AccessKind : byte
{
    /// <summary>A data read.</summary>
    Read,
    /// <summary>A data write.</summary>
    Write,
    /// <summary>An instruction fetch.</summary>
    Execute,
}

/// <summary>Flags the engine keeps on a physical page, separate from the guest's permissions.</summary>
[Flags]
public enum EnginePageFlags : byte
{
    /// <summary>Nothing special.</summary>
    None = 0,
    /// <summary>
    /// Decoded or translated code was made from this page: guest stores to it take the slow path so the
    /// engine can drop stale code before the guest runs it.
    /// </summary>
    CodeWriteProtected = 1,
}
