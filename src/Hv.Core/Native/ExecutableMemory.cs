using System.Runtime.InteropServices;

namespace Hv.Core.Native;

/// <summary>
/// An append-only arena of host machine code (W^X: pages are writable only while a thunk is being copied in).
/// Owned by one vCPU and used from its thread only; the mappings are released on <see cref="Dispose"/> or when
/// the arena is collected.
/// </summary>
internal sealed unsafe partial class ExecutableMemory : IDisposable
{
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;
    private const nuint ChunkSize = 64 * 1024;

    private readonly List<nint> chunks = [];
    private byte* current;
    private nuint used = ChunkSize;
    private bool disposed;

    /// <summary>Total bytes of code written.</summary>
    public long BytesUsed { get; private set; }

    /// <summary>Copies <paramref name="code"/> into executable memory and returns its address.</summary>
    public byte* Add(ReadOnlySpan<byte> code)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (code.Length == 0 || (nuint)code.Length > ChunkSize) throw new ArgumentOutOfRangeException(nameof(code));
        nuint size = ((nuint)code.Length + 15) & ~(nuint)15;
        if (used + size > ChunkSize) NewChunk();
        byte* target = current + used;
        // Only the pages the copy touches flip to RW, and back to RX before anything runs from them.
        nuint pageStart = (nuint)target & ~(nuint)4095;
        nuint pageEnd = ((nuint)target + size + 4095) & ~(nuint)4095;
        Protect(pageStart, pageEnd - pageStart, ProtRead | ProtWrite);
        code.CopyTo(new Span<byte>(target, code.Length));
        Protect(pageStart, pageEnd - pageStart, ProtRead | ProtExec);
        used += size;
        BytesUsed += code.Length;
        return target;
    }

    private void NewChunk()
    {
        nint p = Mmap(0, ChunkSize, ProtRead | ProtExec, MapPrivate | MapAnonymous, -1, 0);
        if (p == -1) throw new InvalidOperationException($"mmap of executable memory failed (errno {Marshal.GetLastPInvokeError()})");
        chunks.Add(p);
        current = (byte*)p;
        used = 0;
    }

    private static void Protect(nuint address, nuint length, int protection)
    {
        if (Mprotect((nint)address, length, protection) != 0)
            throw new InvalidOperationException($"mprotect failed (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>Unmaps every chunk; thunks must not be called afterwards.</summary>
    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the mappings if the owner forgot to.</summary>
    ~ExecutableMemory() => Release();

    private void Release()
    {
        if (disposed) return;
        disposed = true;
        foreach (nint p in chunks) _ = Munmap(p, ChunkSize);
        chunks.Clear();
        current = null;
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int Mprotect(nint address, nuint length, int protection);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);
}
