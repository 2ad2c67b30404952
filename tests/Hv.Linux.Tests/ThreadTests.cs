using Hv.Core;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Linux.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Linux.Tests;

public sealed class ThreadTests
{
    private const ulong D = KernelMachine.Data;
    private const ulong ThreadFlags = 0x100 | 0x200 | 0x400 | 0x800 | 0x1_0000 | 0x4_0000 | 0x8_0000 | 0x10_0000 | 0x20_0000;

    [Fact]
    public void Clone_Thread_GetsOwnTidStackAndTls()
    {
        var k = new KernelMachine();
        k.State.Rip = 0x40_1000;
        long tid = k.Syscall("clone", ThreadFlags, D + 0x8000, D, D + 8, 0x7000_0000);
        Assert.True(tid > Environment.ProcessId);
        Assert.Equal((uint)tid, Guest.Read32(k.Memory, D));
        Assert.Equal(2, k.Kernel.ThreadCount);
        // The parent keeps running; preemption hands the vCPU to the child, which sees clone() return 0.
        k.Kernel.Preempt(k.Cpu);
        Assert.Equal(0UL, k.State[Gpr.Rax]);
        Assert.Equal(D + 0x8000, k.State[Gpr.Rsp]);
        Assert.Equal(0x7000_0000UL, k.State.FsBase);
        Assert.Equal(0x40_1000UL, k.State.Rip);
        Assert.Equal(tid, k.Syscall("gettid"));
        Assert.Equal(Environment.ProcessId, k.Syscall("getpid"));
    }

    [Fact]
    public void Clone_NewProcess_NotSupported()
    {
        var k = new KernelMachine();
        Assert.Equal(-Errno.ENOSYS, k.Syscall("clone", 17, 0, 0, 0, 0)); // fork-style SIGCHLD clone
        Assert.Equal(-Errno.ENOSYS, k.Syscall("fork"));
        Assert.Equal(-Errno.EINVAL, k.Syscall("clone", 0x100 | 0x1_0000, D + 0x8000, 0, 0, 0)); // THREAD without SIGHAND
        Assert.Equal(-Errno.EFAULT, k.Syscall("clone3", KernelMachine.Unmapped, 88));
        Assert.Equal(-Errno.EINVAL, k.Syscall("clone3", D, 8));
    }

    [Fact]
    public void FutexWait_WithOtherThread_SwitchesAndWakeResumes()
    {
        var k = new KernelMachine();
        k.State.Rip = 0x40_1000;
        long child = k.Syscall("clone", ThreadFlags, D + 0x8000, D, D + 8, 0);
        k.Write64(D + 64, 1);
        k.State.Rip = 0x40_2000;
        // The main thread waits: the child runs (RIP after its clone).
        Assert.Equal(0, k.Syscall("futex", D + 64, 128, 1));
        Assert.Equal(child, k.Syscall("gettid"));
        Assert.Equal(0x40_1000UL, k.State.Rip);
        // The child wakes the main thread and exits; its clear_child_tid word is zeroed.
        Assert.Equal(1, k.Syscall("futex", D + 64, 1 | 128, 10));
        k.Syscall("exit", 0);
        Assert.Null(k.Cpu.StopReason);
        Assert.Equal(1, k.Kernel.ThreadCount);
        Assert.Equal(0u, Guest.Read32(k.Memory, D + 8));
        Assert.Equal(Environment.ProcessId, k.Syscall("gettid"));
        Assert.Equal(0x40_2000UL, k.State.Rip);
    }

    [Fact]
    public void Exit_AllOthersBlocked_ReportsDeadlock()
    {
        var k = new KernelMachine();
        k.Syscall("clone", ThreadFlags, D + 0x8000, D, D + 8, 0);
        k.Write64(D + 64, 1);
        Assert.Equal(0, k.Syscall("futex", D + 64, 0, 1)); // main sleeps, child runs
        k.Syscall("exit", 0);
        Assert.Equal(StopKind.Killed, k.Cpu.StopReason!.Value.Kind);
    }

    [Fact]
    public void FutexTimedWait_SingleThread_SleepsThenTimesOut()
    {
        var k = new KernelMachine();
        k.Write64(D, 1);
        k.Write64(D + 16, 0);
        k.Write64(D + 24, 20_000_000); // 20 ms
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(-Errno.ETIMEDOUT, k.Syscall("futex", D, 128, 1, D + 16));
        Assert.True(watch.ElapsedMilliseconds >= 15, $"returned after {watch.ElapsedMilliseconds} ms");
        // An absolute WAIT_BITSET deadline in the past times out at once.
        Assert.Equal(-Errno.ETIMEDOUT, k.Syscall("futex", D, 9 | 128, 1, D + 16, 0, ~0UL));
    }

    [Fact]
    public void FutexTimedWait_OtherThreadExits_WaiterResumesWithTimeout()
    {
        var k = new KernelMachine();
        k.State.Rip = 0x40_1000;
        long child = k.Syscall("clone", ThreadFlags, D + 0x8000, D, D + 8, 0);
        k.Write64(D + 64, 1);
        k.Write64(D + 80, 0);
        k.Write64(D + 88, 5_000_000); // 5 ms
        k.State.Rip = 0x40_2000;
        k.Syscall("futex", D + 64, 128, 1, D + 80);
        Assert.Equal(child, k.Syscall("gettid"));
        // A preemption before the deadline leaves the waiter asleep.
        k.Kernel.Preempt(k.Cpu);
        Assert.Equal(child, k.Syscall("gettid"));
        k.Syscall("exit", 0);
        Assert.Null(k.Cpu.StopReason);
        Assert.Equal(0x40_2000UL, k.State.Rip);
        Assert.Equal(-Errno.ETIMEDOUT, (long)k.State[Gpr.Rax]);
    }

    /// <summary>Two guest threads spin on shared memory: only time-slice preemption lets the spinner see progress.</summary>
    [Theory]
    [MemberData(nameof(Modes.AllModes), MemberType = typeof(Modes))]
    public void GuestProgram_SpinningThreads_PreemptedAndJoined(ExecutionMode mode)
    {
        const ulong flag = ElfBuilder.DataBase, stackTop = ElfBuilder.DataBase + 0x2000;
        var builder = new ElfBuilder { Data = new byte[16], DataMemorySize = 0x2000 };
        builder.WithCode(a =>
        {
            Label child = a.CreateLabel(), spin = a.CreateLabel();
            // clone(THREAD flags, stackTop, 0, 0, 0)
            a.push((int)ThreadFlags); a.pop(rdi); a.push((int)stackTop); a.pop(rsi);
            a.push(0); a.pop(rdx); a.push(0); a.pop(r10); a.push(0); a.pop(r8);
            a.push(56); a.pop(rax);
            a.syscall();
            a.test(rax, rax);
            a.je(child);
            // Parent: spin until the child sets the flag, then exit_group(7).
            a.Label(ref spin);
            a.cmp(__qword_ptr[flag], 0);
            a.je(spin);
            a.push(7); a.pop(rdi); a.push(231); a.pop(rax);
            a.syscall();
            // Child: set the flag and exit the thread.
            a.Label(ref child);
            a.mov(__qword_ptr[flag], 1);
            a.push(0); a.pop(rdi); a.push(60); a.pop(rax);
            a.syscall();
        });
        GuestProcess p = Guest.Create(builder.Build(), mode: mode);
        Assert.Equal(new StopReason(StopKind.Exited, 7), p.Run(5_000_000));
    }
}
