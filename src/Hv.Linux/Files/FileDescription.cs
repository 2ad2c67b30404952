using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Hv.Core.Memory;

namespace Hv.Linux.Files;

/// <summary>Linux open(2) flags and file-type bits (x86-64 values).</summary>
public static class OpenFlags
{
#pragma warning disable CS1591 // The names are the kernel's.
    public const int O_ACCMODE = 3, O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80,
        O_NOCTTY = 0x100, O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800, O_DSYNC = 0x1000,
        O_DIRECT = 0x4000, O_LARGEFILE = 0x8000, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000,
        O_NOATIME = 0x40000, O_CLOEXEC = 0x80000, O_PATH = 0x200000, O_TMPFILE = 0x410000;
    public const int S_IFMT = 0xF000, S_IFREG = 0x8000, S_IFDIR = 0x4000;
#pragma warning restore CS1591
}

/// <summary>
/// An open file description (the kernel's struct file): shared by every guest fd that dup() made from one
/// open, so they share the offset and status flags. Methods return a result or a negated errno.
/// </summary>
public abstract class FileDescription
{
    private int references = 1;

    /// <summary>The host fd behind this description, or -1 when it lives only inside Hv (a memfd).</summary>
    public virtual int HostFd => -1;

    /// <summary>
    /// True for files whose reads complete fully unless at end of file (regular files): a large read loops
    /// over chunks. Pipes and terminals get one host read per guest read so they never block needlessly.
    /// </summary>
    public abstract bool IsRegular { get; }

    /// <summary>read(2) at the current offset.</summary>
    public abstract long Read(Span<byte> buffer);

    /// <summary>write(2) at the current offset.</summary>
    public abstract long Write(ReadOnlySpan<byte> buffer);

    /// <summary>pread64(2).</summary>
    public abstract long ReadAt(Span<byte> buffer, long offset);

    /// <summary>pwrite64(2).</summary>
    public abstract long WriteAt(ReadOnlySpan<byte> buffer, long offset);

    /// <summary>lseek(2).</summary>
    public abstract long Seek(long offset, int whence);

    /// <summary>fstat(2) into a 144-byte x86-64 <c>struct stat</c>.</summary>
    public abstract long Stat(Span<byte> stat);

    /// <summary>statx(2) with AT_EMPTY_PATH into a 256-byte <c>struct statx</c>.</summary>
    public abstract long Statx(Span<byte> statx, int flags, uint mask);

    /// <summary>ftruncate(2).</summary>
    public abstract long Truncate(long length);

    /// <summary>F_GETFL.</summary>
    public abstract long GetStatusFlags();

    /// <summary>F_SETFL (only O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME, O_ASYNC change, as in the kernel).</summary>
    public abstract long SetStatusFlags(int flags);

    /// <summary>One more guest fd refers to this description.</summary>
    internal void AddReference() => references++;

    /// <summary>One guest fd less; the last one closes the description.</summary>
    internal void Release()
    {
        if (--references == 0) Close();
    }

    /// <summary>Releases what the description holds (the host fd).</summary>
    protected abstract void Close();
}

/// <summary>A host file descriptor, passed through (qemu-user style).</summary>
public sealed unsafe class HostFile : FileDescription
{
    private readonly int fd;
    private readonly bool ownsFd;
    private readonly bool isRegular;
    private bool closed;

    /// <summary>Wraps host fd <paramref name="fd"/>; with <paramref name="ownsFd"/> closing the description closes it.</summary>
    public HostFile(int fd, bool ownsFd)
    {
        this.fd = fd;
        this.ownsFd = ownsFd;
        Span<byte> st = stackalloc byte[144];
        fixed (byte* p = st)
            isRegular = Host.Call(Host.Fstat, fd, (long)p) == 0 &&
                (BinaryPrimitives.ReadUInt32LittleEndian(st[24..]) & OpenFlags.S_IFMT) == OpenFlags.S_IFREG;
    }

    /// <summary>A guest that never closed its files (or a test that forgot CloseFiles) does not leak host fds.</summary>
    ~HostFile()
    {
        if (ownsFd && !closed) Host.CloseFd(fd);
    }

    /// <inheritdoc />
    public override int HostFd => fd;

    /// <inheritdoc />
    public override bool IsRegular => isRegular;

    /// <inheritdoc />
    public override long Read(Span<byte> buffer)
    {
        fixed (byte* p = buffer) return Host.Call(Host.Read, fd, (long)p, buffer.Length);
    }

    /// <inheritdoc />
    public override long Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer) return Host.Call(Host.Write, fd, (long)p, buffer.Length);
    }

    /// <inheritdoc />
    public override long ReadAt(Span<byte> buffer, long offset)
    {
        fixed (byte* p = buffer) return Host.Call(Host.Pread64, fd, (long)p, buffer.Length, offset);
    }

    /// <inheritdoc />
    public override long WriteAt(ReadOnlySpan<byte> buffer, long offset)
    {
        fixed (byte* p = buffer) return Host.Call(Host.Pwrite64, fd, (long)p, buffer.Length, offset);
    }

    /// <inheritdoc />
    public override long Seek(long offset, int whence) => Host.Call(Host.Lseek, fd, offset, whence);

    /// <inheritdoc />
    public override long Stat(Span<byte> stat)
    {
        fixed (byte* p = stat) return Host.Call(Host.Fstat, fd, (long)p);
    }

    /// <inheritdoc />
    public override long Statx(Span<byte> statx, int flags, uint mask)
    {
        byte empty = 0;
        fixed (byte* p = statx) return Host.Call(Host.Statx, fd, (long)&empty, flags | 0x1000, mask, (long)p);
    }

    /// <inheritdoc />
    public override long Truncate(long length) => Host.Call(Host.Ftruncate, fd, length);

    /// <inheritdoc />
    public override long GetStatusFlags() => Host.Call(Host.Fcntl, fd, 3);

    /// <inheritdoc />
    public override long SetStatusFlags(int flags) => Host.Call(Host.Fcntl, fd, 4, flags);

    /// <inheritdoc />
    protected override void Close()
    {
        if (closed) return;
        closed = true;
        if (ownsFd) Host.CloseFd(fd);
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// A memfd: anonymous file contents held in a <see cref="SharedMemoryObject"/>, so read/write through the fd
/// and every mmap of it see the same frames.
/// </summary>
public sealed class MemoryFile : FileDescription
{
    /// <summary>Largest size ftruncate or write may give a memfd (keeps the frame array bounded).</summary>
    public const long MaxSize = 1L << 36;

    private long position;
    private int statusFlags = OpenFlags.O_RDWR | OpenFlags.O_LARGEFILE;
    private bool readOnly;

    private readonly AddressSpace space;

    /// <summary>
    /// Creates an empty memfd named <paramref name="name"/> with inode number <paramref name="inode"/>; writes
    /// into frames holding decoded code are reported to <paramref name="space"/>'s code observer.
    /// </summary>
    public MemoryFile(AddressSpace space, string name, ulong inode, bool allowSealing)
    {
        this.space = space;
        Name = name;
        Inode = inode;
        // Without MFD_ALLOW_SEALING the kernel starts with F_SEAL_SEAL set.
        Seals = allowSealing ? 0 : SealSeal;
    }

    /// <summary>F_SEAL_* bits.</summary>
    public const int SealSeal = 1, SealShrink = 2, SealGrow = 4, SealWrite = 8, SealFutureWrite = 16;

    /// <summary>The frames.</summary>
    public SharedMemoryObject Object { get; } = new(0);

    /// <summary>The memfd's name (for /proc and diagnostics).</summary>
    public string Name { get; }

    /// <summary>Inode number reported by fstat.</summary>
    public ulong Inode { get; }

    /// <summary>Size in bytes.</summary>
    public long Size { get; private set; }

    /// <summary>Current F_SEAL_* seals.</summary>
    public int Seals { get; set; }

    /// <inheritdoc />
    public override bool IsRegular => true;

    /// <summary>Turns the file into a read-only one (synthesized /proc files): writes fail with EBADF.</summary>
    internal void MakeReadOnly()
    {
        readOnly = true;
        statusFlags = (statusFlags & ~OpenFlags.O_ACCMODE) | OpenFlags.O_RDONLY;
    }

    /// <inheritdoc />
    public override long Read(Span<byte> buffer)
    {
        long n = ReadAt(buffer, position);
        if (n > 0) position += n;
        return n;
    }

    /// <inheritdoc />
    public override long Write(ReadOnlySpan<byte> buffer)
    {
        if ((statusFlags & OpenFlags.O_APPEND) != 0) position = Size;
        long n = WriteAt(buffer, position);
        if (n > 0) position += n;
        return n;
    }

    /// <inheritdoc />
    public override long ReadAt(Span<byte> buffer, long offset)
    {
        if (offset < 0) return -Errno.EINVAL;
        if (offset >= Size) return 0;
        int n = (int)Math.Min(buffer.Length, Size - offset);
        Span<byte> rest = buffer[..n];
        while (!rest.IsEmpty)
        {
            PhysicalPage page = Object.GetPage(offset >> PhysicalPage.Shift);
            int inPage = (int)(offset & (long)PhysicalPage.OffsetMask);
            int k = Math.Min(rest.Length, PhysicalPage.Size - inPage);
            page.Data.AsSpan(inPage, k).CopyTo(rest);
            rest = rest[k..];
            offset += k;
        }
        return n;
    }

    /// <inheritdoc />
    public override long WriteAt(ReadOnlySpan<byte> buffer, long offset)
    {
        if (readOnly) return -Errno.EBADF;
        if (offset < 0) return -Errno.EINVAL;
        if ((Seals & (SealWrite | SealFutureWrite)) != 0) return -Errno.EPERM;
        if (offset > MaxSize - buffer.Length) return -Errno.EFBIG;
        long start = offset, end = offset + buffer.Length;
        if (end > Size)
        {
            if ((Seals & SealGrow) != 0) return -Errno.EPERM;
            Resize(end);
        }
        while (!buffer.IsEmpty)
        {
            PhysicalPage page = Object.GetPage(offset >> PhysicalPage.Shift);
            int inPage = (int)(offset & (long)PhysicalPage.OffsetMask);
            int n = Math.Min(buffer.Length, PhysicalPage.Size - inPage);
            Store(page, inPage, buffer[..n]);
            buffer = buffer[n..];
            offset += n;
        }
        return end - start;
    }

    /// <inheritdoc />
    public override long Seek(long offset, int whence)
    {
        long target = whence switch
        {
            0 => offset,
            1 => offset > MaxSize || offset < -MaxSize ? -1 : position + offset,
            2 => offset > MaxSize || offset < -MaxSize ? -1 : Size + offset,
            3 => offset < Size ? offset : -1, // SEEK_DATA: the whole file is data
            4 => offset < Size ? Size : -1,   // SEEK_HOLE: the only hole is at the end
            _ => long.MinValue,
        };
        if (target == long.MinValue) return -Errno.EINVAL;
        if (target == -1 && whence >= 3) return -Errno.ENXIO;
        if (target < 0 || target > MaxSize) return -Errno.EINVAL;
        position = target;
        return target;
    }

    /// <inheritdoc />
    public override long Stat(Span<byte> stat)
    {
        stat.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(stat, 1);                 // st_dev
        BinaryPrimitives.WriteUInt64LittleEndian(stat[8..], Inode);        // st_ino
        BinaryPrimitives.WriteUInt64LittleEndian(stat[16..], 1);           // st_nlink
        BinaryPrimitives.WriteUInt32LittleEndian(stat[24..], (uint)OpenFlags.S_IFREG | 0x1FF); // st_mode 0777
        BinaryPrimitives.WriteInt64LittleEndian(stat[48..], Size);         // st_size
        BinaryPrimitives.WriteInt64LittleEndian(stat[56..], PhysicalPage.Size); // st_blksize
        BinaryPrimitives.WriteInt64LittleEndian(stat[64..], (Size + 511) / 512); // st_blocks
        return 0;
    }

    /// <inheritdoc />
    public override long Statx(Span<byte> statx, int flags, uint mask)
    {
        statx.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(statx, 0x7FF);            // STATX_BASIC_STATS
        BinaryPrimitives.WriteUInt32LittleEndian(statx[4..], PhysicalPage.Size);
        BinaryPrimitives.WriteUInt32LittleEndian(statx[16..], 1);          // nlink
        BinaryPrimitives.WriteUInt16LittleEndian(statx[28..], (ushort)(OpenFlags.S_IFREG | 0x1FF));
        BinaryPrimitives.WriteUInt64LittleEndian(statx[32..], Inode);
        BinaryPrimitives.WriteInt64LittleEndian(statx[40..], Size);
        BinaryPrimitives.WriteInt64LittleEndian(statx[48..], (Size + 511) / 512);
        BinaryPrimitives.WriteUInt32LittleEndian(statx[140..], 1);         // dev minor
        return 0;
    }

    /// <inheritdoc />
    public override long Truncate(long length)
    {
        if (length < 0 || readOnly) return -Errno.EINVAL;
        if (length > MaxSize) return -Errno.EFBIG;
        if (length < Size && (Seals & SealShrink) != 0) return -Errno.EPERM;
        if (length > Size && (Seals & SealGrow) != 0) return -Errno.EPERM;
        if (length < Size) ZeroTail(length);
        Resize(length);
        return 0;
    }

    /// <inheritdoc />
    public override long GetStatusFlags() => statusFlags;

    /// <inheritdoc />
    public override long SetStatusFlags(int flags)
    {
        const int changeable = OpenFlags.O_APPEND | OpenFlags.O_NONBLOCK | OpenFlags.O_DIRECT | OpenFlags.O_NOATIME | 0x2000;
        statusFlags = (statusFlags & ~changeable) | (flags & changeable);
        return 0;
    }

    /// <inheritdoc />
    protected override void Close()
    {
    }

    private void Resize(long size)
    {
        bool growing = size > Size;
        Size = size;
        ulong pages = AddressSpace.PageAlignUp((ulong)size) >> PhysicalPage.Shift;
        if (!growing)
        {
            // Shrinking drops frames past the end; mappings keep the ones they already hold (the kernel would SIGBUS).
            Object.Resize((ulong)size);
        }
        else if (pages > (ulong)Object.Pages)
        {
            // Grow the frame array geometrically so appending writes stay linear.
            ulong capacity = Math.Max(pages, Math.Min((ulong)Object.Pages * 2, (ulong)MaxSize >> PhysicalPage.Shift));
            Object.Resize(capacity << PhysicalPage.Shift);
        }
    }

    /// <summary>Zeroes the bytes of the last kept page past the new end, so a later grow reads zeros there.</summary>
    private void ZeroTail(long length)
    {
        int offset = (int)(length & (long)PhysicalPage.OffsetMask);
        if (offset == 0) return;
        Span<byte> zeros = stackalloc byte[PhysicalPage.Size - offset];
        zeros.Clear();
        Store(Object.GetPage(length >> PhysicalPage.Shift), offset, zeros);
    }

    /// <summary>Stores into a frame; frames holding decoded code tell the engine first (as guest stores do).</summary>
    private void Store(PhysicalPage page, int offset, ReadOnlySpan<byte> bytes) => space.StoreToFrame(page, offset, bytes, 0);
}
