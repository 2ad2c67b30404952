using System.Buffers.Binary;
using Hv.Core.Memory;
using Hv.Linux.Files;

namespace Hv.Linux;

/// <summary>Memory-mapping state of the process: where mmap searches, and MAP_SHARED mappings of host files.</summary>
public sealed unsafe partial class LinuxKernel
{
    private Dictionary<(ulong Device, ulong Inode), SharedFileMapping>? sharedFiles;

    /// <summary>
    /// The frames of a MAP_SHARED host file (one object per inode, so every shared mapping of the file shares them),
    /// with the file's pages in [<paramref name="offset"/>, +<paramref name="length"/>) loaded.
    /// </summary>
    internal long GetSharedFileObject(HostFile file, ulong offset, ulong length, out SharedMemoryObject? shared)
    {
        shared = null;
        Span<byte> st = stackalloc byte[144];
        long r = file.Stat(st);
        if (r < 0) return r;
        var key = (BinaryPrimitives.ReadUInt64LittleEndian(st), BinaryPrimitives.ReadUInt64LittleEndian(st[8..]));
        sharedFiles ??= [];
        if (!sharedFiles.TryGetValue(key, out SharedFileMapping? mapping))
        {
            // Own a host fd of the file: the guest may close its fd right after mmap.
            long dup = Host.Call(Host.Fcntl, file.HostFd, 1030 /* F_DUPFD_CLOEXEC */, 0);
            if (dup < 0) return dup;
            mapping = new SharedFileMapping((int)dup, (file.GetStatusFlags() & OpenFlags.O_ACCMODE) == OpenFlags.O_RDWR);
            sharedFiles.Add(key, mapping);
        }
        else if (!mapping.Writable && (file.GetStatusFlags() & OpenFlags.O_ACCMODE) == OpenFlags.O_RDWR)
        {
            // A writable fd of the same file: write back through it from now on.
            long dup = Host.Call(Host.Fcntl, file.HostFd, 1030, 0);
            if (dup >= 0) mapping.ReplaceFd((int)dup, writable: true);
        }
        r = mapping.Load(offset >> PhysicalPage.Shift, AddressSpace.PageAlignUp(length) >> PhysicalPage.Shift);
        if (r < 0) return r;
        shared = mapping.Object;
        return 0;
    }

    /// <summary>Writes shared file mappings in [start, end) back to their files (msync, munmap, exit).</summary>
    internal void WriteBackSharedFiles(ulong start, ulong end)
    {
        if (sharedFiles is null || sharedFiles.Count == 0) return;
        IReadOnlyList<MemoryRegion> regions = Memory.Regions;
        for (int i = 0; i < regions.Count; i++)
        {
            MemoryRegion r = regions[i];
            if (r.End <= start || r.Start >= end || r.Shared is null) continue;
            foreach (SharedFileMapping m in sharedFiles.Values)
            {
                if (!ReferenceEquals(m.Object, r.Shared)) continue;
                ulong from = Math.Max(start, r.Start), to = Math.Min(end, r.End);
                ulong first = (r.SharedOffset + (from - r.Start)) >> PhysicalPage.Shift;
                m.WriteBack(first, (to - from) >> PhysicalPage.Shift);
            }
        }
    }

    private void CloseSharedFileMappings()
    {
        if (sharedFiles is null) return;
        WriteBackSharedFiles(0, AddressSpace.Limit);
        foreach (SharedFileMapping m in sharedFiles.Values) m.Dispose();
        sharedFiles.Clear();
    }
}

/// <summary>The frames of one host file mapped MAP_SHARED, and which of its pages were read from the file.</summary>
internal sealed unsafe class SharedFileMapping(int hostFd, bool writable) : IDisposable
{
    private readonly HashSet<ulong> loaded = [];
    private int fd = hostFd;

    public SharedMemoryObject Object { get; } = new(0);

    public bool Writable { get; private set; } = writable;

    public void ReplaceFd(int newFd, bool writable)
    {
        Host.CloseFd(fd);
        fd = newFd;
        Writable = writable;
    }

    /// <summary>Reads the pages [first, first+count) that are not loaded yet from the file.</summary>
    public long Load(ulong first, ulong count)
    {
        for (ulong p = first; p < first + count; p++)
        {
            if (loaded.Contains(p)) continue;
            PhysicalPage page = Object.GetPage((long)p);
            fixed (byte* data = page.Data)
            {
                long r = Host.Call(Host.Pread64, fd, (long)data, PhysicalPage.Size, (long)(p << PhysicalPage.Shift));
                if (r < 0) return r;
            }
            loaded.Add(p);
        }
        return 0;
    }

    /// <summary>Writes the loaded pages in [first, first+count) back, never past the file's current end.</summary>
    public void WriteBack(ulong first, ulong count)
    {
        if (!Writable) return;
        Span<byte> st = stackalloc byte[144];
        fixed (byte* s = st)
            if (Host.Call(Host.Fstat, fd, (long)s) < 0) return;
        long size = BinaryPrimitives.ReadInt64LittleEndian(st[48..]);
        for (ulong p = first; p < first + count; p++)
        {
            long at = (long)(p << PhysicalPage.Shift);
            if (at >= size) break;
            if (!loaded.Contains(p)) continue;
            int n = (int)Math.Min(PhysicalPage.Size, size - at);
            fixed (byte* data = Object.GetPage((long)p).Data)
                Host.Call(Host.Pwrite64, fd, (long)data, n, at);
        }
    }

    public void Dispose()
    {
        if (fd >= 0) Host.CloseFd(fd);
        fd = -1;
        GC.SuppressFinalize(this);
    }

    /// <summary>An abandoned guest does not leak the host fd.</summary>
    ~SharedFileMapping()
    {
        if (fd >= 0) Host.CloseFd(fd);
    }
}
