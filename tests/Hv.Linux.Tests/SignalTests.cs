using Hv.Core;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Linux.Signals;
using Hv.Linux.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Linux.Tests;

public sealed class SignalTests
{
    private const ulong D = KernelMachine.Data;
    private const ulong Bad = KernelMachine.Unmapped;
    private const ulong Handler = 0x50_0000, Restorer = 0x50_1000;
    private const ulong SaSigInfo = 4, SaRestorer = 0x0400_0000, SaOnStack = 0x0800_0000, SaNoDefer = 0x4000_0000, SaResetHand = 0x8000_0000;

    private static void Install(KernelMachine k, int sig, ulong handler, ulong flags, ulong mask = 0)
    {
        k.Write64(D + 0x800, handler);
        k.Write64(D + 0x808, flags | SaRestorer);
        k.Write64(D + 0x810, Restorer);
        k.Write64(D + 0x818, mask);
        Assert.Equal(0, k.Syscall("rt_sigaction", (ulong)sig, D + 0x800, 0, 8));
    }

    private static void FillRegisters(CpuState s)
    {
        for (int i = 0; i < 16; i++) s.Gpr[i] = 0x1111_0000_0000_0000UL * (ulong)(i + 1) + (ulong)i;
        s[Gpr.Rsp] = KernelMachine.StackTop - 0x1003; // deliberately misaligned
        s.Rip = 0x40_1234;
        s.RFlags = 0x202 | 0x1 | 0x80 | 0x400; // CF SF DF
        s.Xmm(3) = System.Runtime.Intrinsics.Vector128.Create((byte)0x5A);
        s.Fpu.Mxcsr = 0x1F80 | 0x40; // DAZ
    }

    [Fact]
    public void Fault_WithHandler_BuildsKernelFrame()
    {
        var k = new KernelMachine();
        Install(k, Signal.SIGSEGV, Handler, SaSigInfo, Signal.Bit(Signal.SIGUSR1));
        CpuState s = k.State;
        FillRegisters(s);
        ulong oldRsp = s[Gpr.Rsp], oldRax = s[Gpr.Rax];
        k.Kernel.Fault(k.Cpu, new GuestFault(FaultKind.PageNotMapped, 0xdead_b000, AccessKind.Write));

        Assert.Null(k.Cpu.StopReason);
        ulong frame = s[Gpr.Rsp];
        Assert.Equal(0UL, (frame + 8) % 16);
        Assert.True(frame < oldRsp - 128);
        Assert.Equal(Handler, s.Rip);
        Assert.Equal(11UL, s[Gpr.Rdi]);
        Assert.Equal(frame + SignalFrame.SigInfoOffset, s[Gpr.Rsi]);
        Assert.Equal(frame + SignalFrame.UContextOffset, s[Gpr.Rdx]);
        Assert.Equal(0UL, s.RFlags & 0x400); // DF clear in the handler
        Assert.Equal(Restorer, k.Read64(frame));
        // siginfo: signo, code SEGV_MAPERR, address.
        ulong si = s[Gpr.Rsi];
        Assert.Equal(11u, Guest.Read32(k.Memory, si));
        Assert.Equal(1u, Guest.Read32(k.Memory, si + 8));
        Assert.Equal(0xdead_b000UL, k.Read64(si + 16));
        // uc_mcontext gregs in the kernel's order.
        ulong g = s[Gpr.Rdx] + SignalFrame.MContextOffset;
        Assert.Equal(0x1111_0000_0000_0000UL * 9 + 8, k.Read64(g + 0));    // r8
        Assert.Equal(0x1111_0000_0000_0000UL * 8 + 7, k.Read64(g + 8 * 8)); // rdi
        Assert.Equal(oldRax, k.Read64(g + 13 * 8));                          // rax
        Assert.Equal(oldRsp, k.Read64(g + 15 * 8));                          // rsp
        Assert.Equal(0x40_1234UL, k.Read64(g + 16 * 8));                     // rip
        Assert.Equal(0x401UL, k.Read64(g + 17 * 8) & 0x401);                 // eflags CF, DF
        Assert.Equal(14UL, k.Read64(g + 20 * 8));                            // trapno #PF
        Assert.Equal(6UL, k.Read64(g + 19 * 8));                             // err: user, write, not present
        Assert.Equal(0xdead_b000UL, k.Read64(g + 22 * 8));                   // cr2
        ulong fp = k.Read64(g + 23 * 8);
        Assert.Equal(0UL, fp % 64);
        Assert.Equal(0x5A5A_5A5A_5A5A_5A5AUL, k.Read64(fp + 160 + 3 * 16));
        // The handler runs with SIGSEGV and sa_mask blocked.
        Assert.Equal(Signal.Bit(Signal.SIGSEGV) | Signal.Bit(Signal.SIGUSR1), k.Kernel.BlockedSignals);
        Assert.Equal(1L, k.Machine.Stats.SignalsDelivered);
    }

    [Fact]
    public void RtSigreturn_AfterDelivery_RestoresEverything()
    {
        var k = new KernelMachine();
        Install(k, Signal.SIGILL, Handler, SaSigInfo);
        CpuState s = k.State;
        FillRegisters(s);
        var before = new CpuState();
        before.CopyFrom(s);
        k.Kernel.Fault(k.Cpu, new GuestFault(FaultKind.InvalidOpcode, 0, AccessKind.Execute));
        // The handler scribbles over everything, then returns into the restorer (RET pops pretcode).
        ulong frame = s[Gpr.Rsp];
        for (int i = 0; i < 16; i++) s.Gpr[i] ^= 0xFFFF;
        s.Xmm(3) = default;
        s.Fpu.Mxcsr = 0x1F80;
        s.RFlags = 0x202;
        s[Gpr.Rsp] = frame + 8;
        k.Syscall("rt_sigreturn");

        Assert.Null(k.Cpu.StopReason);
        for (int i = 0; i < 16; i++)
        {
            if (i is (int)Gpr.Rcx or (int)Gpr.R11 or (int)Gpr.Rdi or (int)Gpr.Rsi or (int)Gpr.Rdx or (int)Gpr.R10 or (int)Gpr.R8 or (int)Gpr.R9) continue;
            Assert.Equal(before.Gpr[i], s.Gpr[i]);
        }
        Assert.Equal(before.Rip, s.Rip);
        Assert.Equal(before.RFlags, s.RFlags);
        Assert.Equal(before.Xmm(3), s.Xmm(3));
        Assert.Equal(before.Fpu.Mxcsr, s.Fpu.Mxcsr);
        Assert.Equal(0UL, k.Kernel.BlockedSignals);
    }

    [Fact]
    public void Fault_NoHandler_KillsWithDescription()
    {
        var k = new KernelMachine();
        k.Kernel.Fault(k.Cpu, new GuestFault(FaultKind.PageNotMapped, 0x10, AccessKind.Read));
        StopReason stop = k.Cpu.StopReason!.Value;
        Assert.Equal(StopKind.Killed, stop.Kind);
        Assert.Equal(11, stop.Status);
        Assert.Equal(139, stop.ShellStatus);
        Assert.StartsWith("SIGSEGV: unmapped read access at 0x10", stop.Message);
    }

    [Fact]
    public void Fault_BlockedSignal_Kills()
    {
        var k = new KernelMachine();
        Install(k, Signal.SIGFPE, Handler, SaSigInfo);
        k.Write64(D, Signal.Bit(Signal.SIGFPE));
        Assert.Equal(0, k.Syscall("rt_sigprocmask", 0, D, 0, 8));
        k.Kernel.Fault(k.Cpu, new GuestFault(FaultKind.DivideError, 0, AccessKind.Execute));
        Assert.Equal(new StopKind?(StopKind.Killed), k.Cpu.StopReason?.Kind);
        Assert.Equal(8, k.Cpu.StopReason!.Value.Status);
    }

    [Fact]
    public void Fault_StackUnwritable_KillsWithSigsegv()
    {
        var k = new KernelMachine();
        Install(k, Signal.SIGILL, Handler, SaSigInfo);
        k.State[Gpr.Rsp] = Bad + 0x800;
        k.Kernel.Fault(k.Cpu, new GuestFault(FaultKind.InvalidOpcode, 0, AccessKind.Execute));
        Assert.Equal(11, k.Cpu.StopReason!.Value.Status);
    }

    [Fact]
    public void ResetHandAndNoDefer_Honoured()
    {
        var k = new KernelMachine();
        Install(k, Signal.SIGSEGV, Handler, SaSigInfo | SaResetHand | SaNoDefer);
        k.Kernel.Fault(k.Cpu, new GuestFault(FaultKind.GeneralProtection, 0, AccessKind.Execute));
        Assert.Equal(Handler, k.State.Rip);
        Assert.Equal(0UL, k.Kernel.BlockedSignals);
        Assert.Equal(SignalAction.Default, k.Kernel.ActionOf(Signal.SIGSEGV).Handler);
        k.Kernel.Fault(k.Cpu, new GuestFault(FaultKind.GeneralProtection, 0, AccessKind.Execute));
        Assert.Equal(StopKind.Killed, k.Cpu.StopReason!.Value.Kind);
    }

    [Fact]
    public void OnStack_UsesAltStack()
    {
        var k = new KernelMachine();
        const ulong alt = D + 0x4000;
        k.Write64(D, alt);
        k.Write64(D + 8, 0);
        k.Write64(D + 16, 0x4000);
        Assert.Equal(0, k.Syscall("sigaltstack", D, D + 32));
        Assert.Equal(2UL, k.Read64(D + 40)); // the old one was disabled
        Install(k, Signal.SIGSEGV, Handler, SaSigInfo | SaOnStack);
        k.Kernel.Fault(k.Cpu, new GuestFault(FaultKind.GeneralProtection, 0, AccessKind.Execute));
        ulong sp = k.State[Gpr.Rsp];
        Assert.InRange(sp, alt, alt + 0x4000);
        // While on the alternate stack, sigaltstack reports SS_ONSTACK and refuses changes.
        Assert.Equal(0, k.Syscall("sigaltstack", 0, D + 64));
        Assert.Equal(1UL, k.Read64(D + 72));
        Assert.Equal(-Errno.EPERM, k.Syscall("sigaltstack", D, 0));
    }

    [Fact]
    public void Sigaltstack_Validates()
    {
        var k = new KernelMachine();
        k.Write64(D, D + 0x1000);
        k.Write64(D + 8, 0);
        k.Write64(D + 16, 100);
        Assert.Equal(-Errno.ENOMEM, k.Syscall("sigaltstack", D, 0));
        k.Write64(D + 8, 7);
        Assert.Equal(-Errno.EINVAL, k.Syscall("sigaltstack", D, 0));
        Assert.Equal(-Errno.EFAULT, k.Syscall("sigaltstack", Bad, 0));
        Assert.Equal(-Errno.EFAULT, k.Syscall("sigaltstack", 0, Ro()));
    }

    private static ulong Ro() => KernelMachine.ReadOnly;

    [Fact]
    public void RtSigaction_Validates()
    {
        var k = new KernelMachine();
        k.Write64(D, Handler);
        Assert.Equal(-Errno.EINVAL, k.Syscall("rt_sigaction", 9, D, 0, 8));
        Assert.Equal(-Errno.EINVAL, k.Syscall("rt_sigaction", 19, D, 0, 8));
        Assert.Equal(0, k.Syscall("rt_sigaction", 9, 0, D + 64, 8)); // reading SIGKILL's action is fine
        Assert.Equal(-Errno.EINVAL, k.Syscall("rt_sigaction", 0, D, 0, 8));
        Assert.Equal(-Errno.EINVAL, k.Syscall("rt_sigaction", 65, D, 0, 8));
        Assert.Equal(-Errno.EINVAL, k.Syscall("rt_sigaction", 10, D, 0, 16));
        Assert.Equal(-Errno.EFAULT, k.Syscall("rt_sigaction", 10, Bad, 0, 8));
        Assert.Equal(-Errno.EFAULT, k.Syscall("rt_sigaction", 10, 0, Bad, 8));
        // Round trip: the old action comes back.
        k.Write64(D + 8, SaSigInfo | SaRestorer);
        k.Write64(D + 16, Restorer);
        k.Write64(D + 24, Signal.Bit(9) | Signal.Bit(2));
        Assert.Equal(0, k.Syscall("rt_sigaction", 10, D, 0, 8));
        Assert.Equal(0, k.Syscall("rt_sigaction", 10, 0, D + 64, 8));
        Assert.Equal(Handler, k.Read64(D + 64));
        Assert.Equal(SaSigInfo | SaRestorer, k.Read64(D + 72));
        Assert.Equal(Restorer, k.Read64(D + 80));
        Assert.Equal(Signal.Bit(2), k.Read64(D + 88)); // SIGKILL cannot be in sa_mask
    }

    [Fact]
    public void RtSigprocmask_BlockUnblockAndOld()
    {
        var k = new KernelMachine();
        k.Write64(D, Signal.Bit(10) | Signal.Bit(9));
        Assert.Equal(0, k.Syscall("rt_sigprocmask", 0, D, D + 8, 8));
        Assert.Equal(0UL, k.Read64(D + 8));
        Assert.Equal(Signal.Bit(10), k.Kernel.BlockedSignals);
        Assert.Equal(0, k.Syscall("rt_sigprocmask", 1, D, D + 8, 8));
        Assert.Equal(Signal.Bit(10), k.Read64(D + 8));
        Assert.Equal(0UL, k.Kernel.BlockedSignals);
        Assert.Equal(-Errno.EINVAL, k.Syscall("rt_sigprocmask", 7, D, 0, 8));
        Assert.Equal(-Errno.EINVAL, k.Syscall("rt_sigprocmask", 0, D, 0, 4));
        Assert.Equal(-Errno.EFAULT, k.Syscall("rt_sigprocmask", 0, Bad, 0, 8));
        Assert.Equal(-Errno.EFAULT, k.Syscall("rt_sigprocmask", 0, 0, Bad, 8));
    }

    [Fact]
    public void Kill_Self_DefaultActions()
    {
        var k = new KernelMachine();
        Assert.Equal(0, k.Syscall("kill", (ulong)Environment.ProcessId, 0));
        Assert.Equal(-Errno.ESRCH, k.Syscall("kill", 1, 15));
        Assert.Equal(-Errno.EINVAL, k.Syscall("kill", 0, 99));
        Assert.Equal(0, k.Syscall("kill", 0, (ulong)Signal.SIGCHLD)); // ignored by default
        Assert.Equal(0, k.Syscall("tgkill", (ulong)Environment.ProcessId, (ulong)Environment.ProcessId, (ulong)Signal.SIGWINCH));
        Assert.Null(k.Cpu.StopReason);
        Assert.Equal(-Errno.ESRCH, k.Syscall("tgkill", 1, 1, 15));
        Assert.Equal(-Errno.EINVAL, k.Syscall("tgkill", 0, 1, 15));
        k.Syscall("tgkill", (ulong)Environment.ProcessId, (ulong)Environment.ProcessId, (ulong)Signal.SIGABRT);
        Assert.Equal(StopKind.Killed, k.Cpu.StopReason!.Value.Kind);
        Assert.Equal(134, k.Cpu.StopReason!.Value.ShellStatus);
    }

    [Fact]
    public void Kill_BlockedThenUnblocked_DeliveredAfterSyscallResult()
    {
        var k = new KernelMachine();
        Install(k, Signal.SIGUSR1, Handler, SaSigInfo);
        k.Write64(D, Signal.Bit(Signal.SIGUSR1));
        k.Syscall("rt_sigprocmask", 0, D, 0, 8);
        Assert.Equal(0, k.Syscall("kill", 0, (ulong)Signal.SIGUSR1));
        Assert.NotEqual(Handler, k.State.Rip);
        Assert.Equal(0, k.Syscall("rt_sigpending", D + 8, 8));
        Assert.Equal(Signal.Bit(Signal.SIGUSR1), k.Read64(D + 8));
        k.State.Rip = 0x40_2000;
        k.Syscall("rt_sigprocmask", 1, D, 0, 8);
        Assert.Equal(Handler, k.State.Rip);
        ulong g = k.State[Gpr.Rdx] + SignalFrame.MContextOffset;
        Assert.Equal(0UL, k.Read64(g + 13 * 8)); // the syscall's result (0) is the saved RAX
        Assert.Equal(0x40_2000UL, k.Read64(g + 16 * 8));
        Assert.Equal(0u, Guest.Read32(k.Memory, k.State[Gpr.Rsi] + 8)); // SI_USER
    }

    [Fact]
    public void RtSigreturn_BadFrame_KillsWithSigsegv()
    {
        var k = new KernelMachine();
        k.State[Gpr.Rsp] = Bad + 8;
        k.Syscall("rt_sigreturn");
        Assert.Equal(11, k.Cpu.StopReason!.Value.Status);
    }

    /// <summary>
    /// A real guest: installs a SIGSEGV handler, faults with HLT (#GP); the handler records its arguments, moves
    /// the saved RIP past the HLT and clobbers RBX; the restorer calls rt_sigreturn; the program exits with RBX,
    /// which must be the value from before the fault.
    /// </summary>
    [Theory]
    [MemberData(nameof(Modes.AllModes), MemberType = typeof(Modes))]
    public void GuestProgram_SignalHandlerRoundTrip_ResumesWithRegistersRestored(ExecutionMode mode)
    {
        const ulong act = ElfBuilder.DataBase + 0x100, record = ElfBuilder.DataBase + 0x200;
        var data = new byte[0x120];
        var builder = new ElfBuilder { Data = data, DataMemorySize = 0x1000 };
        // Two passes: PUSH imm32 has a fixed size, so label addresses from the first pass are final.
        ulong handlerAt = 0x40_0000, restorerAt = 0x40_0000, resumeAt = 0x40_0000;
        for (int pass = 0; pass < 2; pass++)
        {
            var a = new Assembler(64);
            Label handler = a.CreateLabel(), restorer = a.CreateLabel(), resume = a.CreateLabel();
            // act = { handler, SA_SIGINFO|SA_RESTORER, restorer, 0 }, built with PUSH/POP only.
            a.push((int)handlerAt); a.pop(__qword_ptr[act]);
            a.push((int)(SaSigInfo | SaRestorer)); a.pop(__qword_ptr[act + 8]);
            a.push((int)restorerAt); a.pop(__qword_ptr[act + 16]);
            a.push(13); a.pop(rax); a.push(11); a.pop(rdi); a.push((int)act); a.pop(rsi); a.push(0); a.pop(rdx); a.push(8); a.pop(r10);
            a.syscall();
            a.push(42); a.pop(rbx);
            a.hlt();
            a.Label(ref resume);
            a.push(rbx); a.pop(rdi); a.push(231); a.pop(rax);
            a.syscall();
            a.Label(ref handler);
            a.push(rdi); a.pop(__qword_ptr[record]);
            a.push(rsp); a.pop(__qword_ptr[record + 8]);
            a.push((int)resumeAt); a.pop(__qword_ptr[rdx + SignalFrame.MContextOffset + 16 * 8]);
            a.push(7); a.pop(rbx);
            a.ret();
            a.Label(ref restorer);
            a.push(15); a.pop(rax);
            a.syscall();
            AssemblerResult result = ElfBuilder.Assemble(builder, a);
            handlerAt = result.GetLabelRIP(handler);
            restorerAt = result.GetLabelRIP(restorer);
            resumeAt = result.GetLabelRIP(resume);
        }
        GuestProcess p = Guest.Create(builder.Build(), mode: mode);
        StopReason stop = p.Run(100_000);
        Assert.Equal(new StopReason(StopKind.Exited, 42), stop);
        AddressSpace m = p.Machine.AddressSpace;
        Assert.Equal(11UL, Guest.Read64(m, record));
        Assert.Equal(0UL, (Guest.Read64(m, record + 8) + 8) % 16);
        Assert.Equal(1L, p.Machine.Stats.SignalsDelivered);
    }

    [Theory]
    [MemberData(nameof(Modes.AllModes), MemberType = typeof(Modes))]
    public void GuestProgram_RaiseSigabrtNoHandler_Killed(ExecutionMode mode)
    {
        var builder = new ElfBuilder().WithCode(a =>
        {
            a.push(62); a.pop(rax); a.push(0); a.pop(rdi); a.push(6); a.pop(rsi);
            a.syscall();
            a.push(0); a.pop(rdi); a.push(231); a.pop(rax);
            a.syscall();
        });
        StopReason stop = Guest.Create(builder.Build(), mode: mode).Run(10_000);
        Assert.Equal(StopKind.Killed, stop.Kind);
        Assert.Equal(Signal.SIGABRT, stop.Status);
    }
}
