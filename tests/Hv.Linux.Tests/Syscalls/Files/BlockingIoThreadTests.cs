using Hv.Core;
using Hv.Core.Execution;
using Hv.Linux.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Linux.Tests.Syscalls.Files;

/// <summary>Guest threads share one vCPU: a read that would block lets another guest thread run instead.</summary>
public sealed class BlockingIoThreadTests
{
    private const ulong D = KernelMachine.Data;
    private const ulong ThreadFlags = 0x100 | 0x200 | 0x400 | 0x800 | 0x1_0000 | 0x4_0000 | 0x8_0000 | 0x10_0000 | 0x20_0000;

    [Fact]
    public void Read_EmptyPipeWithOtherThread_SwitchesAndRetriesSyscall()
    {
        var k = new KernelMachine();
        try
        {
            Assert.Equal(0, k.Syscall("pipe2", D + 128, 0));
            ulong r = Guest.Read32(k.Memory, D + 128), w = Guest.Read32(k.Memory, D + 132);
            k.State.Rip = 0x40_1000;
            long child = k.Syscall("clone", ThreadFlags, D + 0x8000, D, D + 8, 0);
            k.State.Rip = 0x40_2002;
            k.Syscall("read", r, D + 256, 8);
            Assert.Equal(child, k.Syscall("gettid"));  // the reader gave the vCPU away
            Assert.Equal(1, k.Syscall("write", w, D + 512, 1));
            k.Syscall("exit", 0);
            Assert.Equal(Environment.ProcessId, k.Syscall("gettid"));
            Assert.Equal(0x40_2000UL, k.State.Rip);      // back on the SYSCALL, which runs again
            Assert.Equal(1, k.Syscall("read", r, D + 256, 8));
        }
        finally
        {
            k.Kernel.CloseFiles();
        }
    }

    [Fact]
    public void Poll_InfiniteTimeoutWithOtherThread_SwitchesAndRetriesSyscall()
    {
        var k = new KernelMachine();
        try
        {
            Assert.Equal(0, k.Syscall("pipe2", D + 128, 0));
            ulong r = Guest.Read32(k.Memory, D + 128), w = Guest.Read32(k.Memory, D + 132);
            k.State.Rip = 0x40_1000;
            long child = k.Syscall("clone", ThreadFlags, D + 0x8000, D, D + 8, 0);
            Guest.Write64(k.Memory, D + 256, r | (1UL << 32)); // pollfd { fd = r, events = POLLIN }
            k.State.Rip = 0x40_2002;
            k.Syscall("poll", D + 256, 1, ulong.MaxValue);     // timeout -1
            Assert.Equal(child, k.Syscall("gettid"));
            Assert.Equal(1, k.Syscall("write", w, D + 512, 1));
            k.Syscall("exit", 0);
            Assert.Equal(0x40_2000UL, k.State.Rip);
            Assert.Equal(1, k.Syscall("poll", D + 256, 1, ulong.MaxValue));
        }
        finally
        {
            k.Kernel.CloseFiles();
        }
    }

    [Fact]
    public void Read_EmptyPipeSingleThread_BlocksOnHostNotRetried()
    {
        var k = new KernelMachine();
        try
        {
            Assert.Equal(0, k.Syscall("pipe2", D + 128, 0x800)); // O_NONBLOCK: the host's EAGAIN comes back
            ulong r = Guest.Read32(k.Memory, D + 128);
            k.State.Rip = 0x40_1000;
            k.Syscall("clone", ThreadFlags, D + 0x8000, D, D + 8, 0);
            Assert.Equal(-Errno.EAGAIN, k.Syscall("read", r, D + 256, 8));
        }
        finally
        {
            k.Kernel.CloseFiles();
        }
    }

    [Theory]
    [MemberData(nameof(Modes.AllModes), MemberType = typeof(Modes))]
    public void GuestProgram_ReaderThreadWaitsForWriterThread(ExecutionMode mode)
    {
        const ulong fds = ElfBuilder.DataBase, buf = ElfBuilder.DataBase + 16, stackTop = ElfBuilder.DataBase + 0x2000;
        var builder = new ElfBuilder { Data = new byte[32], DataMemorySize = 0x2000 };
        builder.WithCode(a =>
        {
            Label child = a.CreateLabel();
            a.mov(edi, (uint)fds); a.xor(esi, esi); a.mov(eax, 293); a.syscall();           // pipe2(fds, 0)
            a.mov(edi, (uint)ThreadFlags); a.mov(esi, (uint)stackTop); a.xor(edx, edx); a.xor(r10d, r10d); a.xor(r8d, r8d);
            a.mov(eax, 56); a.syscall();                                                    // clone
            a.test(rax, rax);
            a.je(child);
            // Parent: read one byte (blocks until the child writes), exit with it.
            a.mov(edi, __dword_ptr[fds]); a.mov(esi, (uint)buf); a.mov(edx, 1); a.xor(eax, eax); a.syscall();
            a.movzx(edi, __byte_ptr[buf]); a.mov(eax, 231); a.syscall();
            // Child: spin a little, write 42, exit the thread.
            a.Label(ref child);
            a.mov(ecx, 20000);
            Label loop = a.CreateLabel();
            a.Label(ref loop);
            a.dec(ecx);
            a.jne(loop);
            a.mov(__byte_ptr[buf + 8], 42);
            a.mov(edi, __dword_ptr[fds + 4]); a.mov(esi, (uint)(buf + 8)); a.mov(edx, 1); a.mov(eax, 1); a.syscall();
            a.xor(edi, edi); a.mov(eax, 60); a.syscall();
        });
        GuestProcess p = Guest.Create(builder.Build(), mode: mode);
        try
        {
            Assert.Equal(new StopReason(StopKind.Exited, 42), p.Run(5_000_000));
        }
        finally
        {
            p.Kernel.CloseFiles();
        }
    }
}
