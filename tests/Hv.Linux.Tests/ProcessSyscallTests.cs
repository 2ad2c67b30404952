using System.Text;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Linux.Tests.Support;

namespace Hv.Linux.Tests;

public sealed class ProcessSyscallTests
{
    private const ulong D = KernelMachine.Data;
    private const ulong Bad = KernelMachine.Unmapped;
    private const ulong Ro = KernelMachine.ReadOnly;

    [Fact]
    public void ExitGroup_StopsWithStatus()
    {
        var k = new KernelMachine();
        k.Syscall("exit_group", 0x1_2A);
        Assert.Equal(new StopReason(StopKind.Exited, 0x2A), k.Cpu.StopReason);
    }

    [Fact]
    public void Exit_ClearsChildTid()
    {
        var k = new KernelMachine();
        k.Write64(D, ulong.MaxValue);
        Assert.Equal(Environment.ProcessId, k.Syscall("set_tid_address", D));
        k.Syscall("exit", 3);
        Assert.Equal(StopKind.Exited, k.Cpu.StopReason!.Value.Kind);
        Assert.Equal(0xFFFF_FFFF_0000_0000UL, k.Read64(D));
    }

    [Fact]
    public void ArchPrctl_SetAndGetFs_RoundTrips()
    {
        var k = new KernelMachine();
        Assert.Equal(0, k.Syscall("arch_prctl", 0x1002, 0x1234_5000));
        Assert.Equal(0x1234_5000UL, k.State.FsBase);
        Assert.Equal(0, k.Syscall("arch_prctl", 0x1003, D));
        Assert.Equal(0x1234_5000UL, k.Read64(D));
        Assert.Equal(0, k.Syscall("arch_prctl", 0x1001, 0x777));
        Assert.Equal(0x777UL, k.State.GsBase);
    }

    [Fact]
    public void ArchPrctl_BadPointerOrCode_Fails()
    {
        var k = new KernelMachine();
        Assert.Equal(-Errno.EFAULT, k.Syscall("arch_prctl", 0x1003, Bad));
        Assert.Equal(-Errno.EFAULT, k.Syscall("arch_prctl", 0x1004, Ro));
        Assert.Equal(-Errno.EINVAL, k.Syscall("arch_prctl", 0x3001, D));
        Assert.Equal(-Errno.EPERM, k.Syscall("arch_prctl", 0x1002, 1UL << 47));
    }

    [Fact]
    public void Uname_FillsFields()
    {
        var k = new KernelMachine();
        Assert.Equal(0, k.Syscall("uname", D));
        Assert.Equal("Linux", Guest.ReadString(k.Memory, D));
        Assert.Equal("hv", Guest.ReadString(k.Memory, D + 65));
        Assert.Equal("6.1.0-hv", Guest.ReadString(k.Memory, D + 130));
        Assert.Equal("x86_64", Guest.ReadString(k.Memory, D + 260));
        Assert.Equal(-Errno.EFAULT, k.Syscall("uname", Bad));
        Assert.Equal(-Errno.EFAULT, k.Syscall("uname", Ro));
    }

    [Fact]
    public void Ids_AreTheHosts()
    {
        var k = new KernelMachine();
        Assert.Equal(Environment.ProcessId, k.Syscall("getpid"));
        Assert.Equal(Environment.ProcessId, k.Syscall("gettid"));
        Assert.Equal(Environment.ProcessId, k.Syscall("getpgid", 0));
        Assert.Equal(-Errno.ESRCH, k.Syscall("getpgid", 1));
        Assert.Equal((long)k.Kernel.Ids.Uid, k.Syscall("getuid"));
        Assert.Equal((long)k.Kernel.Ids.Egid, k.Syscall("getegid"));
        Assert.True(k.Syscall("getppid") > 0);
        Assert.Equal(0, k.Syscall("setpgid", 0, 0));
        Assert.Equal(1, k.Syscall("getgroups", 0, 0));
        Assert.Equal(-Errno.EFAULT, k.Syscall("getgroups", 4, Bad));
        Assert.Equal(-Errno.EFAULT, k.Syscall("getresuid", D, D + 4, Bad));
    }

    [Fact]
    public void Prlimit64_StackIs8MiB_AndValidates()
    {
        var k = new KernelMachine();
        Assert.Equal(0, k.Syscall("prlimit64", 0, 3, 0, D));
        Assert.Equal(8UL << 20, k.Read64(D));
        Assert.Equal(ulong.MaxValue, k.Read64(D + 8));
        Assert.Equal(0, k.Syscall("getrlimit", 7, D));
        Assert.Equal(1024UL, k.Read64(D));
        // Lower the soft NOFILE limit and read it back.
        k.Write64(D, 256);
        k.Write64(D + 8, 1024 * 1024);
        Assert.Equal(0, k.Syscall("setrlimit", 7, D));
        Assert.Equal(0, k.Syscall("getrlimit", 7, D + 16));
        Assert.Equal(256UL, k.Read64(D + 16));
        // soft > hard, bad resource, bad pointers, other process.
        k.Write64(D, 10);
        k.Write64(D + 8, 5);
        Assert.Equal(-Errno.EINVAL, k.Syscall("setrlimit", 3, D));
        Assert.Equal(-Errno.EINVAL, k.Syscall("getrlimit", 99, D));
        Assert.Equal(-Errno.EFAULT, k.Syscall("getrlimit", 3, Bad));
        Assert.Equal(-Errno.EFAULT, k.Syscall("prlimit64", 0, 3, Bad, 0));
        Assert.Equal(-Errno.ESRCH, k.Syscall("prlimit64", 1, 3, 0, D));
    }

    [Fact]
    public void Getrusage_ValidatesWhoAndPointer()
    {
        var k = new KernelMachine();
        Assert.Equal(0, k.Syscall("getrusage", 0, D));
        Assert.Equal(-Errno.EINVAL, k.Syscall("getrusage", 5, D));
        Assert.Equal(-Errno.EFAULT, k.Syscall("getrusage", 0, Bad));
    }

    [Fact]
    public void SchedGetaffinity_OneCpu()
    {
        var k = new KernelMachine();
        Assert.Equal(8, k.Syscall("sched_getaffinity", 0, 128, D));
        Assert.Equal(1UL, k.Read64(D));
        Assert.Equal(-Errno.EINVAL, k.Syscall("sched_getaffinity", 0, 4, D));
        Assert.Equal(-Errno.EFAULT, k.Syscall("sched_getaffinity", 0, 8, Bad));
        Assert.Equal(0, k.Syscall("sched_yield"));
    }

    [Fact]
    public void Sysinfo_WritesStruct()
    {
        var k = new KernelMachine();
        Assert.Equal(0, k.Syscall("sysinfo", D));
        Assert.True(k.Read64(D + 32) > 0); // totalram
        Assert.Equal(-Errno.EFAULT, k.Syscall("sysinfo", Bad));
    }

    [Fact]
    public void Prctl_Name_RoundTripsTruncated()
    {
        var k = new KernelMachine();
        k.Memory.TryWrite(D, Encoding.ASCII.GetBytes("a-very-long-thread-name\0"));
        Assert.Equal(0, k.Syscall("prctl", 15, D));
        Assert.Equal(0, k.Syscall("prctl", 16, D + 64));
        Assert.Equal("a-very-long-thr", Guest.ReadString(k.Memory, D + 64));
        Assert.Equal(-Errno.EFAULT, k.Syscall("prctl", 15, Bad));
        Assert.Equal(-Errno.EINVAL, k.Syscall("prctl", 0x53564d41, 0));
    }

    [Fact]
    public void Getrandom_FillsAndValidates()
    {
        var k = new KernelMachine();
        Assert.Equal(1000, k.Syscall("getrandom", D, 1000, 0));
        Assert.NotEqual(0UL, k.Read64(D) | k.Read64(D + 8) | k.Read64(D + 992));
        Assert.Equal(-Errno.EINVAL, k.Syscall("getrandom", D, 8, 8));
        Assert.Equal(-Errno.EINVAL, k.Syscall("getrandom", D, 8, 6));
        Assert.Equal(-Errno.EFAULT, k.Syscall("getrandom", Bad, 8, 0));
        // Up to the end of the mapping: a short count.
        Assert.Equal(16, k.Syscall("getrandom", D + KernelMachine.DataSize - 16, 64, 1));
    }

    [Fact]
    public void Futex_SingleThreadSemantics()
    {
        var k = new KernelMachine();
        k.Write64(D, 5);
        Assert.Equal(-Errno.EAGAIN, k.Syscall("futex", D, 0 | 128, 4));
        Assert.Equal(-Errno.EDEADLK, k.Syscall("futex", D, 0 | 128, 5));
        k.Write64(D + 16, 0);
        k.Write64(D + 24, 1000);
        Assert.Equal(-Errno.ETIMEDOUT, k.Syscall("futex", D, 0, 5, D + 16));
        Assert.Equal(0, k.Syscall("futex", D, 1 | 128, int.MaxValue));
        Assert.Equal(-Errno.EINVAL, k.Syscall("futex", D + 2, 1, 1));
        Assert.Equal(-Errno.EFAULT, k.Syscall("futex", Bad, 0, 5));
        Assert.Equal(-Errno.EINVAL, k.Syscall("futex", D, 9, 5, 0, 0, 0)); // WAIT_BITSET with an empty bitset
        Assert.Equal(-Errno.EAGAIN, k.Syscall("futex", D, 9, 4, 0, 0, ~0UL));
        Assert.Equal(-Errno.ENOSYS, k.Syscall("futex", D, 6, 0)); // LOCK_PI
    }

    [Fact]
    public void Rseq_RegisterAndUnregister()
    {
        var k = new KernelMachine();
        const ulong area = D + 0x100;
        k.Write64(area, ulong.MaxValue);
        Assert.Equal(0, k.Syscall("rseq", area, 32, 0, 0x53053053));
        Assert.Equal(0UL, k.Read64(area)); // cpu_id_start and cpu_id
        Assert.Equal(-Errno.EBUSY, k.Syscall("rseq", area, 32, 0, 0x53053053));
        Assert.Equal(-Errno.EPERM, k.Syscall("rseq", area, 32, 1, 0x1111));
        Assert.Equal(0, k.Syscall("rseq", area, 32, 1, 0x53053053));
        Assert.Equal(uint.MaxValue, Guest.Read32(k.Memory, area + 4));
        Assert.Equal(-Errno.EINVAL, k.Syscall("rseq", area + 8, 32, 0, 0));
        Assert.Equal(-Errno.EINVAL, k.Syscall("rseq", area, 16, 0, 0));
        Assert.Equal(-Errno.EFAULT, k.Syscall("rseq", Bad, 32, 0, 0));
    }

    [Fact]
    public void RobustList_ValidatesLength()
    {
        var k = new KernelMachine();
        Assert.Equal(-Errno.EINVAL, k.Syscall("set_robust_list", D, 16));
        Assert.Equal(0, k.Syscall("set_robust_list", D, 24));
        Assert.Equal(0, k.Syscall("get_robust_list", 0, D + 64, D + 72));
        Assert.Equal(D, k.Read64(D + 64));
        Assert.Equal(24UL, k.Read64(D + 72));
    }

    [Fact]
    public void Unimplemented_ReturnsEnosys()
    {
        var k = new KernelMachine();
        Assert.Equal(-Errno.ENOSYS, k.Syscall("ptrace"));
        k.State[Gpr.Rax] = 100_000;
        k.Kernel.Syscall(k.Cpu);
        Assert.Equal(-Errno.ENOSYS, (long)k.State[Gpr.Rax]);
    }
}
