using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Linux.Signals;
using static Hv.Linux.Syscalls.ProcessSyscalls;

namespace Hv.Linux.Syscalls;

/// <summary>
/// Signal syscalls. Signals sent to the process itself are queued here and delivered by
/// <see cref="LinuxKernel.Syscall"/> once the syscall's result is in RAX, as the kernel does on its way back to
/// user mode. Other processes do not exist: their pids give -ESRCH.
/// </summary>
internal static unsafe class SignalSyscalls
{
    public static void Register(SyscallRegistry r)
    {
        r.Add("rt_sigaction", &RtSigaction);
        r.Add("rt_sigprocmask", &RtSigprocmask);
        r.Add("rt_sigpending", &RtSigpending);
        r.Add("rt_sigreturn", &RtSigreturn);
        r.Add("rt_sigsuspend", &RtSigsuspend);
        r.Add("sigaltstack", &Sigaltstack);
        r.Add("kill", &Kill);
        r.Add("tgkill", &Tgkill);
        r.Add("tkill", &Tkill);
        r.Add("pause", &Pause);
    }

    private const ulong SigSetSize = 8;

    private static long RtSigaction(LinuxKernel k, Vcpu cpu)
    {
        int sig = (int)Arg(cpu, 0);
        ulong act = Arg(cpu, 1), oldAct = Arg(cpu, 2);
        if (Arg(cpu, 3) != SigSetSize) return -Errno.EINVAL;
        if (sig < 1 || sig > Signal.Max) return -Errno.EINVAL;
        if (act != 0 && (sig == Signal.SIGKILL || sig == Signal.SIGSTOP)) return -Errno.EINVAL;
        SignalAction next = default;
        if (act != 0)
        {
            if (!Read(k, act, out ulong handler) || !Read(k, act + 8, out ulong flags) ||
                !Read(k, act + 16, out ulong restorer) || !Read(k, act + 24, out ulong mask))
                return -Errno.EFAULT;
            next = new SignalAction(handler, (SignalActionFlags)flags, restorer, mask & ~Signal.Unblockable);
        }
        ref SignalAction current = ref k.ActionOf(sig);
        if (oldAct != 0)
        {
            if (!Write(k, oldAct, current.Handler) || !Write(k, oldAct + 8, (ulong)current.Flags) ||
                !Write(k, oldAct + 16, current.Restorer) || !Write(k, oldAct + 24, current.Mask))
                return -Errno.EFAULT;
        }
        if (act != 0)
        {
            current = next;
            // POSIX: setting SIG_IGN (or SIG_DFL for a default-ignored signal) discards a pending one.
            if (next.Handler == SignalAction.Ignore || (next.Handler == SignalAction.Default && Signal.DefaultIgnores(sig)))
                k.DiscardPending(sig);
        }
        return 0;
    }

    private const int SigBlock = 0, SigUnblock = 1, SigSetMask = 2;

    private static long RtSigprocmask(LinuxKernel k, Vcpu cpu)
    {
        int how = (int)Arg(cpu, 0);
        ulong set = Arg(cpu, 1), oldSet = Arg(cpu, 2);
        if (Arg(cpu, 3) != SigSetSize) return -Errno.EINVAL;
        ulong old = k.BlockedSignals;
        ulong next = old;
        if (set != 0)
        {
            if (!Read(k, set, out ulong mask)) return -Errno.EFAULT;
            switch (how)
            {
                case SigBlock: next = old | mask; break;
                case SigUnblock: next = old & ~mask; break;
                case SigSetMask: next = mask; break;
                default: return -Errno.EINVAL;
            }
        }
        if (oldSet != 0 && !Write(k, oldSet, old)) return -Errno.EFAULT;
        // Newly unblocked pending signals are delivered after the result is stored.
        k.BlockedSignals = next & ~Signal.Unblockable;
        return 0;
    }

    private static long RtSigpending(LinuxKernel k, Vcpu cpu)
    {
        ulong size = Arg(cpu, 1);
        if (size > SigSetSize) return -Errno.EINVAL;
        ulong pending = k.PendingSignals & k.BlockedSignals;
        Span<byte> bytes = stackalloc byte[8];
        BitConverter.TryWriteBytes(bytes, pending);
        return k.Memory.TryWrite(Arg(cpu, 0), bytes[..(int)size]) ? 0 : -Errno.EFAULT;
    }

    private static long RtSigreturn(LinuxKernel k, Vcpu cpu)
    {
        if (!k.ReturnFromSignal(cpu))
        {
            var fault = new GuestFault(FaultKind.PageNotMapped, cpu.State[Gpr.Rsp] - 8, AccessKind.Read, "rt_sigreturn with a bad signal frame");
            cpu.Stop(new StopReason(StopKind.Killed, Signal.SIGSEGV, fault, $"SIGSEGV: rt_sigreturn found no readable signal frame at 0x{cpu.State[Gpr.Rsp] - 8:x}"));
            return 0;
        }
        return (long)cpu.State[Gpr.Rax]; // the syscall "returns" the interrupted RAX
    }

    /// <summary>
    /// rt_sigsuspend: with one thread only an already-pending signal can end the wait. It is delivered under
    /// the temporary mask, with the caller's mask saved in the frame (restored by rt_sigreturn), and the call
    /// returns -EINTR. If nothing can arrive the wait would last forever: -EDEADLK (documented deviation).
    /// </summary>
    private static long RtSigsuspend(LinuxKernel k, Vcpu cpu)
    {
        if (Arg(cpu, 1) != SigSetSize) return -Errno.EINVAL;
        if (!Read(k, Arg(cpu, 0), out ulong mask)) return -Errno.EFAULT;
        mask &= ~Signal.Unblockable;
        if ((k.PendingSignals & ~mask) == 0) return -Errno.EDEADLK;
        k.SuspendWithMask(mask);
        return -Errno.EINTR;
    }

    private static long Pause(LinuxKernel k, Vcpu cpu) =>
        (k.PendingSignals & ~k.BlockedSignals) != 0 ? -Errno.EINTR : -Errno.EDEADLK;

    private const uint SsAutoDisarm = 1u << 31;

    private static long Sigaltstack(LinuxKernel k, Vcpu cpu)
    {
        ulong ss = Arg(cpu, 0), oldSs = Arg(cpu, 1);
        ulong sp = cpu.State[Gpr.Rsp];
        ulong newBase = 0, newSize = 0;
        uint newFlags = 0;
        if (ss != 0)
        {
            if (!Read(k, ss, out newBase) || !Read(k, ss + 8, out newFlags) || !Read(k, ss + 16, out newSize))
                return -Errno.EFAULT;
            if (k.IsOnAltStack(sp)) return -Errno.EPERM;
            uint mode = newFlags & ~SsAutoDisarm;
            if (mode is not (0 or LinuxKernel.SsOnStack or LinuxKernel.SsDisable)) return -Errno.EINVAL;
            if (mode == LinuxKernel.SsDisable) { newBase = 0; newSize = 0; }
            else if (newSize < SignalFrame.MinSignalStackSize) return -Errno.ENOMEM;
        }
        if (oldSs != 0)
        {
            if (!Write(k, oldSs, k.AltStackBase) || !Write(k, oldSs + 8, (ulong)k.AltStackFlags(sp)) ||
                !Write(k, oldSs + 16, k.AltStackSize))
                return -Errno.EFAULT;
        }
        if (ss != 0)
        {
            k.AltStackBase = newBase;
            k.AltStackSize = newSize;
        }
        return 0;
    }

    private static long Kill(LinuxKernel k, Vcpu cpu)
    {
        long pid = (int)Arg(cpu, 0);
        // pid 0, -1 and -pgrp reach this process too; it is alone in its group and session.
        if (pid != k.Pid && pid != 0 && pid != -1 && pid != -k.Pid) return -Errno.ESRCH;
        return Send(k, cpu, (int)Arg(cpu, 1), SignalInfo.SI_USER);
    }

    private static long Tgkill(LinuxKernel k, Vcpu cpu)
    {
        int tgid = (int)Arg(cpu, 0), tid = (int)Arg(cpu, 1);
        if (tgid <= 0 || tid <= 0) return -Errno.EINVAL;
        if (tgid != k.Pid || tid != k.Pid) return -Errno.ESRCH;
        return Send(k, cpu, (int)Arg(cpu, 2), SignalInfo.SI_TKILL);
    }

    private static long Tkill(LinuxKernel k, Vcpu cpu)
    {
        int tid = (int)Arg(cpu, 0);
        if (tid <= 0) return -Errno.EINVAL;
        if (tid != k.Pid) return -Errno.ESRCH;
        return Send(k, cpu, (int)Arg(cpu, 1), SignalInfo.SI_TKILL);
    }

    private static long Send(LinuxKernel k, Vcpu cpu, int sig, int code)
    {
        if (sig < 0 || sig > Signal.Max) return -Errno.EINVAL;
        if (sig == 0) return 0; // existence check
        k.QueueSignal(new SignalInfo(sig, code, 0, k.Pid, k.Ids.Uid));
        return 0;
    }
}
