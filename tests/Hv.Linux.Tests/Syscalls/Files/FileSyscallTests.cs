using System.Text;
using Hv.Core.Execution;
using static Hv.Linux.Tests.Syscalls.SyscallHarness;

namespace Hv.Linux.Tests.Syscalls.Files;

public sealed class FileSyscallTests
{
    private const int EBADF = 9, ENOENT = 2, EFAULT = 14, EINVAL = 22, ENAMETOOLONG = 36, ENOTTY = 25, ERANGE = 34, ENOTDIR = 20;

    [Fact]
    public void Openat_CreateWriteRead_RoundTripsInGuestCwd()
    {
        using var h = new SyscallHarness();
        string hostCwd = Environment.CurrentDirectory;
        long fd = h.Open("a.txt", O_CREAT | O_RDWR);
        Assert.Equal(3, fd);
        long text = h.Bytes("hello, guest"u8.ToArray());
        Assert.Equal(12, h.Call("write", fd, text, 12));
        Assert.Equal(0, h.Call("lseek", fd, 0, 0));
        long buf = h.Alloc(64);
        Assert.Equal(12, h.Call("read", fd, buf, 64));
        Assert.Equal("hello, guest", h.ReadString(buf, 12));
        Assert.Equal(0, h.Call("read", fd, buf, 64));
        Assert.Equal("hello, guest", File.ReadAllText(Path.Combine(h.TempDir, "a.txt")));
        Assert.Equal(hostCwd, Environment.CurrentDirectory);
        Assert.Equal(0, h.Call("close", fd));
        Assert.Equal(-EBADF, h.Call("close", fd));
    }

    [Fact]
    public void Lseek_EndAndFstat_ReportFileSize()
    {
        using var h = new SyscallHarness();
        File.WriteAllBytes(Path.Combine(h.TempDir, "f"), new byte[12345]);
        long fd = h.Open("f", O_RDONLY);
        Assert.Equal(12345, h.Call("lseek", fd, 0, 2));
        Assert.Equal(12340, h.Call("lseek", fd, -5, 1));
        Assert.Equal(-EINVAL, h.Call("lseek", fd, 0, 7));
        long st = h.Alloc(144);
        Assert.Equal(0, h.Call("fstat", fd, st));
        Assert.Equal(12345, h.Read64(st + 48));
        Assert.Equal(0x8000, h.Read32(st + 24) & 0xF000);
        Assert.Equal(0, h.Call("newfstatat", AT_FDCWD, h.Str("f"), st, 0));
        Assert.Equal(12345, h.Read64(st + 48));
        Assert.Equal(0, h.Call("newfstatat", fd, h.Str(""), st, 0x1000));
        Assert.Equal(12345, h.Read64(st + 48));
        long stx = h.Alloc(256);
        Assert.Equal(0, h.Call("statx", AT_FDCWD, h.Str("f"), 0, 0x7FF, stx));
        Assert.Equal(12345, h.Read64(stx + 40));
    }

    [Fact]
    public void Read_LargeRegularFile_FillsWholeBuffer()
    {
        using var h = new SyscallHarness();
        byte[] data = new byte[200_000];
        new Random(1).NextBytes(data);
        File.WriteAllBytes(Path.Combine(h.TempDir, "big"), data);
        long fd = h.Open("big", O_RDONLY);
        long buf = h.Alloc(data.Length);
        Assert.Equal(data.Length, h.Call("read", fd, buf, data.Length));
        Assert.Equal(data, h.Read(buf, data.Length));
        Assert.Equal(100, h.Call("pread64", fd, buf, 100, 1000));
        Assert.Equal(data.AsSpan(1000, 100).ToArray(), h.Read(buf, 100));
    }

    [Fact]
    public void Getdents64_Directory_ListsEntries()
    {
        using var h = new SyscallHarness();
        File.WriteAllText(Path.Combine(h.TempDir, "alpha"), "");
        Directory.CreateDirectory(Path.Combine(h.TempDir, "beta"));
        long fd = h.Open(".", O_RDONLY | O_DIRECTORY);
        Assert.True(fd >= 0);
        long buf = h.Alloc(4096);
        var names = new List<string>();
        while (true)
        {
            long n = h.Call("getdents64", fd, buf, 4096);
            Assert.True(n >= 0);
            if (n == 0) break;
            byte[] d = h.Read(buf, (int)n);
            for (int pos = 0; pos < n;)
            {
                int reclen = BitConverter.ToUInt16(d, pos + 16);
                int end = Array.IndexOf(d, (byte)0, pos + 19);
                names.Add(Encoding.UTF8.GetString(d, pos + 19, end - pos - 19));
                pos += reclen;
            }
        }
        names.Sort(StringComparer.Ordinal);
        Assert.Equal([".", "..", "alpha", "beta"], names);
        long file = h.Open("alpha", O_RDONLY);
        Assert.Equal(-ENOTDIR, h.Call("getdents64", file, buf, 4096));
    }

    [Fact]
    public void Pipe_WriteThenRead_TransfersBytes()
    {
        using var h = new SyscallHarness();
        long fds = h.Alloc(8);
        Assert.Equal(0, h.Call("pipe2", fds, O_CLOEXEC));
        int r = h.Read32(fds), w = h.Read32(fds + 4);
        Assert.Equal(3, r);
        Assert.Equal(4, w);
        Assert.Equal(1, h.Call("fcntl", r, 1)); // F_GETFD: FD_CLOEXEC
        Assert.Equal(3, h.Call("write", w, h.Bytes("abc"u8.ToArray()), 3));
        long pfd = h.Alloc(8);
        h.Memory.TryWrite((ulong)pfd, [3, 0, 0, 0, 1, 0, 0, 0]);
        Assert.Equal(1, h.Call("poll", pfd, 1, 0));
        Assert.Equal(1, h.Read(pfd + 6, 1)[0] & 1); // POLLIN
        long buf = h.Alloc(16);
        Assert.Equal(3, h.Call("read", r, buf, 16));
        Assert.Equal("abc", h.ReadString(buf, 3));
        Assert.Equal(0, h.Call("close", w));
        Assert.Equal(0, h.Call("read", r, buf, 16));
    }

    [Fact]
    public void Write_PipeWithoutReader_EpipeAndSigpipe()
    {
        using var h = new SyscallHarness();
        long fds = h.Alloc(8);
        Assert.Equal(0, h.Call("pipe", fds));
        Assert.Equal(0, h.Call("close", h.Read32(fds)));
        Assert.Equal(-32 /* EPIPE */, h.Call("write", h.Read32(fds + 4), h.Bytes([1]), 1));
        Assert.Equal(StopKind.Killed, h.Machine.Cpu.StopReason!.Value.Kind);
        Assert.Equal(13, h.Machine.Cpu.StopReason!.Value.Status);
    }

    [Fact]
    public void Epoll_PipeBecomesReadable_ReturnsGuestCookie()
    {
        using var h = new SyscallHarness();
        long fds = h.Alloc(8);
        Assert.Equal(0, h.Call("pipe2", fds, 0));
        int r = h.Read32(fds), w = h.Read32(fds + 4);
        long ep = h.Call("epoll_create1", O_CLOEXEC);
        Assert.True(ep > 0);
        long ev = h.Bytes([1, 0, 0, 0, .. BitConverter.GetBytes(0x1122_3344_5566_7788L)]); // EPOLLIN, cookie
        Assert.Equal(0, h.Call("epoll_ctl", ep, 1 /* ADD */, r, ev));
        long events = h.Alloc(24);
        Assert.Equal(0, h.Call("epoll_wait", ep, events, 2, 0));
        Assert.Equal(1, h.Call("write", w, h.Bytes([7]), 1));
        Assert.Equal(1, h.Call("epoll_pwait", ep, events, 2, 1000, 0, 8));
        Assert.Equal(1, h.Read32(events) & 1);
        Assert.Equal(0x1122_3344_5566_7788L, h.Read64(events + 4));
        Assert.Equal(-EINVAL, h.Call("epoll_wait", ep, events, 0, 0));
        Assert.Equal(-EFAULT, h.Call("epoll_wait", ep, 0x40, 1, 0));
    }

    [Fact]
    public void Eventfd_WriteThenRead_ReturnsCounter()
    {
        using var h = new SyscallHarness();
        long fd = h.Call("eventfd2", 5, O_CLOEXEC);
        Assert.True(fd > 0);
        Assert.Equal(8, h.Call("write", fd, h.Bytes(BitConverter.GetBytes(3L)), 8));
        long buf = h.Alloc(8);
        Assert.Equal(8, h.Call("read", fd, buf, 8));
        Assert.Equal(8, h.Read64(buf));
        Assert.Equal(1, h.Call("fcntl", fd, 1));
    }

    [Fact]
    public void Dup2_OntoOpenFd_SharesOffsetAndDescription()
    {
        using var h = new SyscallHarness();
        File.WriteAllText(Path.Combine(h.TempDir, "d"), "0123456789");
        long a = h.Open("d", O_RDONLY);
        long b = h.Open("d", O_RDONLY);
        Assert.Equal(10, h.Call("dup2", a, 10));
        long buf = h.Alloc(16);
        Assert.Equal(4, h.Call("read", 10, buf, 4));
        Assert.Equal(4, h.Call("lseek", a, 0, 1));
        Assert.Equal(b, h.Call("dup2", a, b));       // replaces b silently
        Assert.Equal(4, h.Call("lseek", b, 0, 1));
        Assert.Equal(0, h.Call("close", a));
        Assert.Equal(2, h.Call("read", 10, buf, 2));  // still open through the duplicate
        Assert.Equal("45", h.ReadString(buf, 2));
        Assert.Equal(a, h.Call("dup", 10));            // lowest free
        Assert.Equal(-EINVAL, h.Call("dup3", 10, 10, 0));
        Assert.Equal(-EBADF, h.Call("dup2", 99, 5));
    }

    [Fact]
    public void Readlink_ProcSelfExe_ReturnsGuestExecutable()
    {
        using var h = new SyscallHarness();
        h.Kernel.ExecutablePath = "/opt/guest/bin/prog";
        long buf = h.Alloc(256);
        long n = h.Call("readlink", h.Str("/proc/self/exe"), buf, 256);
        Assert.Equal("/opt/guest/bin/prog".Length, n);
        Assert.Equal("/opt/guest/bin/prog", h.ReadString(buf, (int)n));
        Assert.Equal(5, h.Call("readlinkat", AT_FDCWD, h.Str("/proc/self/exe"), buf, 5));
        Assert.Equal(-EINVAL, h.Call("readlink", h.Str("/proc/self/exe"), buf, 0));
    }

    [Fact]
    public void Open_ProcSelfMaps_DescribesGuestMappings()
    {
        using var h = new SyscallHarness();
        long a = h.Call("mmap", 0x2000_0000, 0x3000, 5, 0x22, -1, 0);
        Assert.Equal(0x2000_0000, a);
        long fd = h.Open("/proc/self/maps", O_RDONLY);
        Assert.True(fd >= 0);
        long buf = h.Alloc(4096);
        long n = h.Call("read", fd, buf, 4096);
        string maps = h.ReadString(buf, (int)n);
        Assert.Contains("10000000-10100000 rw-p 00000000 00:00 0" + new string(' ', 34) + "scratch\n", maps);
        Assert.Contains("20000000-20003000 r-xp 00000000 00:00 0 \n", maps);
        Assert.Equal(-EBADF, h.Call("write", fd, buf, 1));
        Assert.Equal(-13 /* EACCES */, h.Open("/proc/self/maps", O_RDWR));
    }

    [Fact]
    public void Readlink_Symlink_ReturnsTarget()
    {
        using var h = new SyscallHarness();
        Assert.Equal(0, h.Call("symlink", h.Str("target/file"), h.Str("ln")));
        long buf = h.Alloc(64);
        Assert.Equal(11, h.Call("readlink", h.Str("ln"), buf, 64));
        Assert.Equal("target/file", h.ReadString(buf, 11));
    }

    [Fact]
    public void Syscalls_BadPointers_ReturnEfault()
    {
        using var h = new SyscallHarness();
        File.WriteAllText(Path.Combine(h.TempDir, "x"), "data");
        long fd = h.Open("x", O_RDWR);
        Assert.Equal(-EFAULT, h.Call("read", fd, 0x10, 4));
        Assert.Equal(-EFAULT, h.Call("write", fd, 0x7000_0000, 4));
        Assert.Equal(-EFAULT, h.Call("openat", AT_FDCWD, 0x20, 0, 0));
        Assert.Equal(-EFAULT, h.Call("fstat", fd, 0x30));
        Assert.Equal(-EFAULT, h.Call("pipe", 0x40));
        Assert.Equal(-EFAULT, h.Call("clock_gettime", 1, 0x50));
        // The data was not consumed by the failed read.
        long buf = h.Alloc(8);
        Assert.Equal(4, h.Call("read", fd, buf, 8));
    }

    [Fact]
    public void Read_BufferRunningIntoUnmappedPage_ReturnsWhatFits()
    {
        using var h = new SyscallHarness();
        File.WriteAllBytes(Path.Combine(h.TempDir, "x"), new byte[100]);
        long fd = h.Open("x", O_RDONLY);
        long nearEnd = (long)(Scratch + ScratchSize) - 10;
        Assert.Equal(10, h.Call("read", fd, nearEnd, 100));
        Assert.Equal(10, h.Call("lseek", fd, 0, 1));
    }

    [Fact]
    public void Write_BufferRunningIntoUnmappedPage_WritesReadablePart()
    {
        using var h = new SyscallHarness();
        long fd = h.Open("w", O_CREAT | O_WRONLY);
        long nearEnd = (long)(Scratch + ScratchSize) - 6;
        Assert.Equal(6, h.Call("write", fd, nearEnd, 100));
        Assert.Equal(6, new FileInfo(Path.Combine(h.TempDir, "w")).Length);
    }

    [Fact]
    public void Syscalls_BadFdsAndPaths_ReturnKernelErrors()
    {
        using var h = new SyscallHarness();
        long buf = h.Alloc(16);
        Assert.Equal(-EBADF, h.Call("read", 42, buf, 1));
        Assert.Equal(-EBADF, h.Call("write", -1, buf, 1));
        Assert.Equal(-EBADF, h.Call("fstat", 1000, buf));
        Assert.Equal(-ENOENT, h.Open("missing", O_RDONLY));
        Assert.Equal(-ENOENT, h.Open("", O_RDONLY));
        Assert.Equal(-EBADF, h.Call("openat", 77, h.Str("rel"), 0, 0));
        long longPath = h.Bytes(Enumerable.Repeat((byte)'a', 5000).Append((byte)0).ToArray());
        Assert.Equal(-ENAMETOOLONG, h.Call("openat", AT_FDCWD, longPath, 0, 0));
        Assert.Equal(-ENOTTY, h.Call("ioctl", h.Open("f", O_CREAT | O_RDWR), 0x5401, buf));
        Assert.Equal(-EBADF, h.Call("ioctl", 55, 0x5401, buf));
    }

    [Fact]
    public void Getcwd_AfterChdir_ReportsGuestDirectoryOnly()
    {
        using var h = new SyscallHarness();
        string hostCwd = Environment.CurrentDirectory;
        Directory.CreateDirectory(Path.Combine(h.TempDir, "sub"));
        Assert.Equal(0, h.Call("chdir", h.Str("sub")));
        long buf = h.Alloc(4096);
        long n = h.Call("getcwd", buf, 4096);
        string expected = Path.Combine(h.TempDir, "sub");
        Assert.Equal(Encoding.UTF8.GetByteCount(expected) + 1, n);
        Assert.Equal(expected, h.ReadString(buf, (int)n - 1));
        Assert.Equal(-ERANGE, h.Call("getcwd", buf, 3));
        Assert.Equal(-ENOENT, h.Call("chdir", h.Str("nope")));
        long dirFd = h.Open("..", O_RDONLY | O_DIRECTORY);
        Assert.Equal(0, h.Call("fchdir", dirFd));
        Assert.Equal(h.TempDir, h.Kernel.WorkingDirectory);
        Assert.Equal(hostCwd, Environment.CurrentDirectory);
    }

    [Fact]
    public void DirectorySyscalls_MkdirRenameUnlinkRmdir_ChangeHostTree()
    {
        using var h = new SyscallHarness();
        Assert.Equal(0, h.Call("mkdir", h.Str("d"), 0x1ED));
        Assert.True(Directory.Exists(Path.Combine(h.TempDir, "d")));
        long fd = h.Open("d/f", O_CREAT | O_WRONLY);
        Assert.True(fd >= 0);
        Assert.Equal(0, h.Call("rename", h.Str("d/f"), h.Str("g")));
        Assert.True(File.Exists(Path.Combine(h.TempDir, "g")));
        Assert.Equal(0, h.Call("access", h.Str("g"), 0));
        Assert.Equal(0, h.Call("link", h.Str("g"), h.Str("g2")));
        Assert.Equal(0, h.Call("unlink", h.Str("g")));
        Assert.Equal(-ENOENT, h.Call("access", h.Str("g"), 0));
        Assert.Equal(0, h.Call("rmdir", h.Str("d")));
        Assert.False(Directory.Exists(Path.Combine(h.TempDir, "d")));
        Assert.Equal(0, h.Call("truncate", h.Str("g2"), 77));
        Assert.Equal(77, new FileInfo(Path.Combine(h.TempDir, "g2")).Length);
    }

    [Fact]
    public void Writev_Readv_GatherAndScatter()
    {
        using var h = new SyscallHarness();
        long fd = h.Open("v", O_CREAT | O_RDWR);
        long a = h.Bytes("abc"u8.ToArray()), b = h.Bytes("defgh"u8.ToArray());
        long iov = h.Alloc(32);
        h.Memory.TryWrite((ulong)iov, [.. BitConverter.GetBytes(a), .. BitConverter.GetBytes(3L), .. BitConverter.GetBytes(b), .. BitConverter.GetBytes(5L)]);
        Assert.Equal(8, h.Call("writev", fd, iov, 2));
        Assert.Equal("abcdefgh", File.ReadAllText(Path.Combine(h.TempDir, "v")));
        long x = h.Alloc(5), y = h.Alloc(5);
        h.Memory.TryWrite((ulong)iov, [.. BitConverter.GetBytes(x), .. BitConverter.GetBytes(5L), .. BitConverter.GetBytes(y), .. BitConverter.GetBytes(5L)]);
        Assert.Equal(8, h.Call("preadv", fd, iov, 2, 0));
        Assert.Equal("abcde", h.ReadString(x, 5));
        Assert.Equal("fgh", h.ReadString(y, 3));
        Assert.Equal(-EINVAL, h.Call("readv", fd, iov, -1));
    }

    [Fact]
    public void Fcntl_FlagsAndDupfd_FollowKernel()
    {
        using var h = new SyscallHarness();
        long fd = h.Open("c", O_CREAT | O_RDWR | O_CLOEXEC);
        Assert.Equal(1, h.Call("fcntl", fd, 1));
        Assert.Equal(0, h.Call("fcntl", fd, 2, 0));
        Assert.Equal(0, h.Call("fcntl", fd, 1));
        Assert.Equal(O_RDWR, h.Call("fcntl", fd, 3) & 3);
        Assert.Equal(20, h.Call("fcntl", fd, 1030, 20));
        Assert.Equal(1, h.Call("fcntl", 20, 1));
        Assert.Equal(0, h.Call("fcntl", fd, 4, 0x400)); // O_APPEND
        Assert.Equal(0x400, h.Call("fcntl", fd, 3) & 0x400);
        Assert.Equal(-EINVAL, h.Call("fcntl", fd, 9999));
    }

    [Fact]
    public void Sendfile_BetweenFiles_CopiesAndAdvancesOffset()
    {
        using var h = new SyscallHarness();
        File.WriteAllText(Path.Combine(h.TempDir, "src"), "0123456789");
        long src = h.Open("src", O_RDONLY), dst = h.Open("dst", O_CREAT | O_WRONLY);
        long off = h.Alloc(8);
        h.Memory.TryWrite((ulong)off, BitConverter.GetBytes(2L));
        Assert.Equal(5, h.Call("sendfile", dst, src, off, 5));
        Assert.Equal(7, h.Read64(off));
        Assert.Equal(0, h.Call("lseek", src, 0, 1));
        Assert.Equal("23456", File.ReadAllText(Path.Combine(h.TempDir, "dst")));
    }

    [Fact]
    public void Umask_AppliesToCreatedFiles()
    {
        using var h = new SyscallHarness();
        Assert.Equal(0x12, h.Call("umask", 0x3F)); // 077
        long fd = h.Open("u", O_CREAT | O_WRONLY, 0x1B6);
        Assert.True(fd >= 0);
        long st = h.Alloc(144);
        Assert.Equal(0, h.Call("stat", h.Str("u"), st));
        Assert.Equal(0x180, h.Read32(st + 24) & 0xFFF); // 0600
    }
}
