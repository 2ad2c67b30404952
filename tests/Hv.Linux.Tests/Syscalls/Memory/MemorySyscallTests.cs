using Hv.Core.Memory;
using static Hv.Linux.Tests.Syscalls.SyscallHarness;

namespace Hv.Linux.Tests.Syscalls.Memory;

public sealed class MemorySyscallTests
{
    private const int PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
    private const int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20, MAP_FIXED_NOREPLACE = 0x10_0000;
    private const int EBADF = 9, ENOMEM = 12, EACCES = 13, EEXIST = 17, EINVAL = 22;
    private const long Page = 4096;

    private static long MapAnon(SyscallHarness h, long length, int prot = PROT_READ | PROT_WRITE, long hint = 0, int extra = 0) =>
        h.Call("mmap", hint, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);

    [Fact]
    public void Mmap_AnonymousTouchUnmap_BehavesLikeKernel()
    {
        using var h = new SyscallHarness();
        long a = MapAnon(h, 3 * Page);
        Assert.True(a > 0);
        Assert.Equal(0, a & (Page - 1));
        Assert.True((ulong)a + 3 * Page <= h.Kernel.MmapBase);
        Assert.Equal(new byte[16], h.Read(a + Page, 16));
        Assert.True(h.Memory.TryWrite((ulong)a + 2 * Page + 100, [1, 2, 3]));
        Assert.Equal([1, 2, 3], h.Read(a + 2 * Page + 100, 3));
        long b = MapAnon(h, Page);
        Assert.True(b < a); // top-down
        Assert.Equal(0, h.Call("munmap", a, 3 * Page));
        Assert.False(h.Memory.TryRead((ulong)a, new byte[1]));
        Assert.Equal(-EINVAL, h.Call("munmap", a + 1, Page));
        Assert.Equal(-EINVAL, h.Call("munmap", a, 0));
    }

    [Fact]
    public void Mmap_BadArguments_ReturnKernelErrors()
    {
        using var h = new SyscallHarness();
        Assert.Equal(-EINVAL, MapAnon(h, 0));
        Assert.Equal(-EINVAL, h.Call("mmap", 0, Page, PROT_READ, MAP_PRIVATE, -1, 100));
        Assert.Equal(-EBADF, h.Call("mmap", 0, Page, PROT_READ, MAP_PRIVATE, 77, 0));
        Assert.Equal(-EINVAL, h.Call("mmap", 0, Page, PROT_READ, MAP_ANONYMOUS, -1, 0)); // no type
        Assert.Equal(-EINVAL, MapAnon(h, Page, hint: 0x2000_0001, extra: MAP_FIXED));
        long ro = h.Open("ro", O_CREAT | O_RDONLY);
        Assert.Equal(-EACCES, h.Call("mmap", 0, Page, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
    }

    [Fact]
    public void Mmap_Hint_UsedWhenFree()
    {
        using var h = new SyscallHarness();
        Assert.Equal(0x3000_0000, MapAnon(h, Page, hint: 0x3000_0000));
        long again = MapAnon(h, Page, hint: 0x3000_0000);
        Assert.NotEqual(0x3000_0000, again);
        Assert.True(again > 0);
    }

    [Fact]
    public void Mmap_Map32Bit_PlacesBelowTwoGiB()
    {
        using var h = new SyscallHarness();
        long a = MapAnon(h, 2 * Page, extra: 0x40);
        Assert.InRange(a, 0x4000_0000, 0x8000_0000 - 2 * Page);
    }

    [Fact]
    public void Mmap_FixedOverExisting_ReplacesWithZeros()
    {
        using var h = new SyscallHarness();
        long a = MapAnon(h, 4 * Page);
        h.Memory.TryWrite((ulong)a + Page, [9, 9, 9]);
        h.Memory.TryWrite((ulong)a, [7]);
        Assert.Equal(a + Page, MapAnon(h, Page, PROT_READ, hint: a + Page, extra: MAP_FIXED));
        Assert.Equal(new byte[3], h.Read(a + Page, 3));
        Assert.Equal([7], h.Read(a, 1));
        Assert.Equal(PagePermissions.Read, h.Memory.FindRegion((ulong)a + Page)!.Permissions);
        Assert.Equal(-EEXIST, MapAnon(h, Page, hint: a + 2 * Page, extra: MAP_FIXED_NOREPLACE));
        long free = MapAnon(h, Page);
        Assert.Equal(0, h.Call("munmap", free, Page));
        Assert.Equal(free, MapAnon(h, Page, hint: free, extra: MAP_FIXED_NOREPLACE));
    }

    [Fact]
    public void Mmap_FilePrivate_ContainsFileBytesAndIsPrivate()
    {
        using var h = new SyscallHarness();
        byte[] data = new byte[Page + 100];
        new Random(2).NextBytes(data);
        string path = Path.Combine(h.TempDir, "m");
        File.WriteAllBytes(path, data);
        long fd = h.Open("m", O_RDONLY);
        long a = h.Call("mmap", 0, 2 * Page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        Assert.True(a > 0);
        Assert.Equal(data, h.Read(a, data.Length));
        Assert.Equal(new byte[100], h.Read(a + data.Length, 100)); // past EOF: zeros
        long b = h.Call("mmap", 0, Page, PROT_READ, MAP_PRIVATE, fd, Page);
        Assert.Equal(data.AsSpan((int)Page, 100).ToArray(), h.Read(b, 100));
        h.Memory.TryWrite((ulong)a, [1, 2, 3]);
        Assert.Equal(data, File.ReadAllBytes(path));
        Assert.EndsWith("/m", h.Memory.FindRegion((ulong)a)!.Name);
    }

    [Fact]
    public void Mmap_FileShared_SharesBetweenMappingsAndWritesBack()
    {
        using var h = new SyscallHarness();
        string path = Path.Combine(h.TempDir, "s");
        File.WriteAllBytes(path, new byte[Page]);
        long fd = h.Open("s", O_RDWR);
        long a = h.Call("mmap", 0, Page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        long b = h.Call("mmap", 0, Page, PROT_READ, MAP_SHARED, fd, 0);
        Assert.Equal(0, h.Call("close", fd));
        h.Memory.TryWrite((ulong)a + 10, [0xAB, 0xCD]);
        Assert.Equal([0xAB, 0xCD], h.Read(b + 10, 2));
        Assert.Equal(0, h.Call("msync", a, Page, 4));
        Assert.Equal(0xAB, File.ReadAllBytes(path)[10]);
        h.Memory.TryWrite((ulong)a + 20, [0x11]);
        Assert.Equal(0, h.Call("munmap", a, Page));
        Assert.Equal(0x11, File.ReadAllBytes(path)[20]);
        Assert.Equal(Page, new FileInfo(path).Length);
    }

    [Fact]
    public void Mprotect_ReadOnly_GuestWriteFaults()
    {
        using var h = new SyscallHarness();
        long a = MapAnon(h, 2 * Page);
        h.Machine.Cpu.Memory.Write8((ulong)a + Page, 5); // fills the TLB with a write entry
        Assert.Equal(0, h.Call("mprotect", a, 2 * Page, PROT_READ));
        var e = Assert.Throws<GuestFaultException>(() => h.Machine.Cpu.Memory.Write8((ulong)a + Page, 6));
        Assert.Equal(FaultKind.PageProtection, e.Fault.Kind);
        Assert.Equal(5, h.Machine.Cpu.Memory.Read8((ulong)a + Page));
        Assert.Equal(0, h.Call("mprotect", a, Page, PROT_NONE));
        Assert.Throws<GuestFaultException>(() => h.Machine.Cpu.Memory.Read8((ulong)a));
        Assert.Equal(0, h.Call("mprotect", a, Page, PROT_WRITE)); // x86: writable implies readable
        Assert.Equal(0, h.Machine.Cpu.Memory.Read8((ulong)a));
        Assert.Equal(-ENOMEM, h.Call("mprotect", a, 3 * Page, PROT_READ));
        Assert.Equal(-EINVAL, h.Call("mprotect", a + 1, Page, PROT_READ));
        Assert.Equal(-EINVAL, h.Call("mprotect", a, Page, 0x40));
        Assert.Equal(0, h.Call("mprotect", a, 0, PROT_READ));
    }

    [Fact]
    public void Mremap_GrowInPlaceAndShrink_PreservesContent()
    {
        using var h = new SyscallHarness();
        long a = MapAnon(h, 4 * Page);
        Assert.Equal(0, h.Call("munmap", a + 2 * Page, 2 * Page));
        h.Memory.TryWrite((ulong)a + Page + 5, [42]);
        Assert.Equal(a, h.Call("mremap", a, 2 * Page, 4 * Page, 0, 0));
        Assert.Equal([42], h.Read(a + Page + 5, 1));
        Assert.True(h.Memory.TryWrite((ulong)a + 3 * Page, [1]));
        // A second grow covers two regions left by the first one: still one mapping for the kernel.
        Assert.Equal(0, h.Call("munmap", a + 4 * Page, Page));
        Assert.Equal(a, h.Call("mremap", a, 4 * Page, 5 * Page, 0, 0));
        Assert.Equal(a, h.Call("mremap", a, 5 * Page, Page, 0, 0));
        Assert.False(h.Memory.TryRead((ulong)a + Page, new byte[1]));
    }

    [Fact]
    public void Mremap_GrowBlocked_MovesFramesPreservingContent()
    {
        using var h = new SyscallHarness();
        long a = MapAnon(h, 2 * Page, hint: 0x4000_0000);
        long blocker = MapAnon(h, Page, hint: a + 2 * Page);
        Assert.Equal(a + 2 * Page, blocker);
        byte[] data = new byte[2 * Page];
        new Random(3).NextBytes(data);
        h.Memory.TryWrite((ulong)a, data);
        Assert.Equal(-ENOMEM, h.Call("mremap", a, 2 * Page, 8 * Page, 0, 0));
        long moved = h.Call("mremap", a, 2 * Page, 8 * Page, 1 /* MREMAP_MAYMOVE */, 0);
        Assert.True(moved > 0);
        Assert.NotEqual(a, moved);
        Assert.Equal(data, h.Read(moved, data.Length));
        Assert.Equal(new byte[16], h.Read(moved + 7 * Page, 16));
        Assert.False(h.Memory.TryRead((ulong)a, new byte[1]));
        long fixedTarget = h.Call("mremap", moved, 8 * Page, 8 * Page, 3 /* MAYMOVE|FIXED */, 0x5000_0000);
        Assert.Equal(0x5000_0000, fixedTarget);
        Assert.Equal(data, h.Read(fixedTarget, data.Length));
        Assert.Equal(-14 /* EFAULT */, h.Call("mremap", 0x6000_0000, Page, 2 * Page, 1, 0));
    }

    [Fact]
    public void Brk_GrowAndShrink_MapsHeap()
    {
        using var h = new SyscallHarness();
        h.Kernel.BrkStart = h.Kernel.BrkCurrent = 0x0060_1234;
        Assert.Equal(0x0060_1234, h.Call("brk", 0));
        Assert.Equal(0x0060_1234, h.Call("brk", 0x0010_0000)); // below start: unchanged
        Assert.Equal(0x0062_0000, h.Call("brk", 0x0062_0000));
        Assert.Equal("[heap]", h.Memory.FindRegion(0x0061_F000)!.Name);
        Assert.True(h.Memory.TryWrite(0x0061_FFFF, [1]));
        Assert.Equal(0x0060_5000, h.Call("brk", 0x0060_5000));
        Assert.False(h.Memory.TryRead(0x0060_6000, new byte[1]));
        Assert.True(h.Memory.TryRead(0x0060_4FFF, new byte[1]));
        MapAnon(h, Page, hint: 0x0070_0000);
        Assert.Equal(0x0060_5000, h.Call("brk", 0x0080_0000)); // collides with a mapping: fails
    }

    [Fact]
    public void Memfd_MappedTwice_SharesFrames()
    {
        using var h = new SyscallHarness();
        long fd = h.Call("memfd_create", h.Str("jit"), 1);
        Assert.True(fd >= 3);
        Assert.Equal(0, h.Call("ftruncate", fd, 2 * Page));
        long rw = h.Call("mmap", 0, 2 * Page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        long rx = h.Call("mmap", 0, 2 * Page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
        Assert.True(rw > 0 && rx > 0 && rw != rx);
        h.Machine.Cpu.Memory.Write32((ulong)rw + Page + 8, 0xC3C3_9090);
        Assert.Equal(0xC3C3_9090u, h.Machine.Cpu.Memory.Read32((ulong)rx + Page + 8));
        Assert.Equal(0x90, h.Machine.Cpu.Memory.Fetch8((ulong)rx + Page + 8));
        // write() through the fd lands in the same frames; read() sees stores through the mapping.
        Assert.Equal(3, h.Call("pwrite64", fd, h.Bytes([1, 2, 3]), 3, 16));
        Assert.Equal([1, 2, 3], h.Read(rx + 16, 3));
        long buf = h.Alloc(4);
        Assert.Equal(4, h.Call("pread64", fd, buf, 4, Page + 8));
        Assert.Equal(0xC3C3_9090u, (uint)h.Read32(buf));
        long st = h.Alloc(144);
        Assert.Equal(0, h.Call("fstat", fd, st));
        Assert.Equal(2 * Page, h.Read64(st + 48));
        Assert.Equal(2 * Page, h.Call("lseek", fd, 0, 2));
        Assert.Equal(1, h.Call("fcntl", fd, 1)); // MFD_CLOEXEC
        long priv = h.Call("mmap", 0, Page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        Assert.Equal([1, 2, 3], h.Read(priv + 16, 3));
        h.Memory.TryWrite((ulong)priv + 16, [9]);
        Assert.Equal([1], h.Read(rw + 16, 1));
    }

    [Fact]
    public void Memfd_ReadWriteSeek_BehaveLikeAFile()
    {
        using var h = new SyscallHarness();
        long fd = h.Call("memfd_create", h.Str("data"), 0);
        Assert.Equal(5, h.Call("write", fd, h.Bytes("hello"u8.ToArray()), 5));
        Assert.Equal(5, h.Call("lseek", fd, 0, 1));
        Assert.Equal(0, h.Call("lseek", fd, 0, 0));
        long buf = h.Alloc(16);
        Assert.Equal(5, h.Call("read", fd, buf, 16));
        Assert.Equal("hello", h.ReadString(buf, 5));
        Assert.Equal(0, h.Call("ftruncate", fd, 2));
        Assert.Equal(2, h.Call("pread64", fd, buf, 16, 0));
        Assert.Equal(0, h.Call("ftruncate", fd, 5));
        Assert.Equal(5, h.Call("pread64", fd, buf, 16, 0));
        Assert.Equal([(byte)'h', (byte)'e', 0, 0, 0], h.Read(buf, 5));
        Assert.Equal(-EINVAL, h.Call("memfd_create", h.Str("x"), 0x100));
        long seal = h.Call("memfd_create", h.Str("s"), 2 /* MFD_ALLOW_SEALING */);
        Assert.Equal(0, h.Call("fcntl", seal, 1033, 4 /* F_SEAL_GROW */));
        Assert.Equal(-1 /* EPERM */, h.Call("ftruncate", seal, Page));
    }

    [Fact]
    public void Madvise_DontNeed_ZeroFillsPrivateAnonymous()
    {
        using var h = new SyscallHarness();
        long a = MapAnon(h, 2 * Page);
        h.Memory.TryWrite((ulong)a, [1, 2, 3]);
        h.Memory.TryWrite((ulong)a + Page, [4]);
        Assert.Equal(0, h.Call("madvise", a, Page, 4));
        Assert.Equal(new byte[3], h.Read(a, 3));
        Assert.Equal([4], h.Read(a + Page, 1));
        Assert.Equal(PagePermissions.ReadWrite, h.Memory.FindRegion((ulong)a)!.Permissions);
        Assert.Equal(-EINVAL, h.Call("madvise", a, Page, 999));
        Assert.Equal(0, h.Call("madvise", a, 2 * Page, 3));
    }

    [Fact]
    public void Mincore_MappedAndUnmapped_ReportsResidencyOrEnomem()
    {
        using var h = new SyscallHarness();
        long a = MapAnon(h, 3 * Page);
        long vec = h.Alloc(8);
        Assert.Equal(0, h.Call("mincore", a, 3 * Page, vec));
        Assert.Equal([1, 1, 1], h.Read(vec, 3));
        Assert.Equal(0, h.Call("munmap", a + Page, Page));
        Assert.Equal(-ENOMEM, h.Call("mincore", a, 3 * Page, vec));
    }
}

public sealed class MemorySyscallFuzzTests
{
    private static readonly string[] Calls = ["mmap", "munmap", "mprotect", "mremap", "madvise", "msync", "mincore", "brk"];

    private static long Pick(Random r) => r.Next(10) switch
    {
        0 => 0,
        1 => -1,
        2 => r.Next(0, 16) << 12,
        3 => 0x1000_0000 + ((long)r.Next(0, 0x200) << 12),
        4 => 0x7FFF_F000_0000 + ((long)r.Next(0, 0x1000_0000) << 12),
        5 => long.MaxValue - r.Next(0, 0x2000),
        6 => 1L << r.Next(0, 63),
        7 => r.NextInt64(),
        8 => r.Next(0, 0x40),
        _ => (long)r.Next() << 12,
    };

    [Fact]
    public void MemorySyscalls_RandomArguments_NeverThrowAndReturnKernelValues()
    {
        using var h = new SyscallHarness();
        h.Kernel.BrkStart = h.Kernel.BrkCurrent = 0x0060_0000;
        var random = new Random(12345);
        for (int i = 0; i < 5000; i++)
        {
            string name = Calls[random.Next(Calls.Length)];
            long[] args = [Pick(random), Pick(random), Pick(random), Pick(random), Pick(random), Pick(random)];
            if (name == "mmap") args[4] = -1; // anonymous or EBADF: never a host file
            long result = h.Call(name, args);
            Assert.True(result >= 0 || result >= -4095, $"{name} returned {result}");
            if (name is "mmap" && result >= 0) Assert.Equal(0, result & 0xFFF);
        }
        IReadOnlyList<Hv.Core.Memory.MemoryRegion> regions = h.Memory.Regions;
        for (int i = 1; i < regions.Count; i++) Assert.True(regions[i - 1].End <= regions[i].Start);
    }
}
