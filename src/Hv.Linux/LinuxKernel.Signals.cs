using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Linux.Signals;
using Microsoft.Extensions.Logging;

namespace Hv.Linux;

/// <summary>Signal state and delivery of one guest process (it has one thread).</summary>
public sealed partial class LinuxKernel
{
    /// <summary>ss_flags values.</summary>
    public const uint SsOnStack = 1, SsDisable = 2;

    private readonly SignalAction[] actions = new SignalAction[Signal.Max + 1];
    private readonly SignalInfo[] pendingInfo = new SignalInfo[Signal.Max + 1];

    /// <summary>The current thread's blocked-signal mask (SIGKILL and SIGSTOP are never in it).</summary>
    public ulong BlockedSignals { get => CurrentThread.BlockedSignals; set => CurrentThread.BlockedSignals = value; }

    /// <summary>Set when a signal killed the process (also between time slices, when the vCPU is not running).</summary>
    public StopReason? TerminatedBy { get; private set; }

    /// <summary>Signals sent while blocked, waiting for delivery.</summary>
    public ulong PendingSignals { get; private set; }

    /// <summary>sigaltstack of the current thread: base address (ss_sp).</summary>
    public ulong AltStackBase { get => CurrentThread.AltStackBase; set => CurrentThread.AltStackBase = value; }

    /// <summary>sigaltstack of the current thread: size (ss_size); 0 when disabled.</summary>
    public ulong AltStackSize { get => CurrentThread.AltStackSize; set => CurrentThread.AltStackSize = value; }

    /// <summary>True if a sigaltstack is installed.</summary>
    public bool AltStackEnabled => AltStackSize != 0;

    /// <summary>The disposition of <paramref name="signal"/> (1..64).</summary>
    public ref SignalAction ActionOf(int signal) => ref actions[signal];

    /// <summary>True if <paramref name="sp"/> is on the alternate signal stack.</summary>
    public bool IsOnAltStack(ulong sp) => AltStackEnabled && sp > AltStackBase && sp - AltStackBase <= AltStackSize;

    /// <summary>ss_flags as sigaltstack and uc_stack report them for <paramref name="sp"/>.</summary>
    public uint AltStackFlags(ulong sp) => !AltStackEnabled ? SsDisable : IsOnAltStack(sp) ? SsOnStack : 0;

    /// <summary>Changes the blocked mask, then delivers any signal it unblocked.</summary>
    public void SetBlockedSignals(Vcpu cpu, ulong mask)
    {
        BlockedSignals = mask & ~Signal.Unblockable;
        DeliverPending(cpu);
    }

    /// <summary>The mask to save in the next signal frame instead of the current one (rt_sigsuspend), or null.</summary>
    private ulong? savedSignalMask;

    /// <summary>rt_sigsuspend: blocks <paramref name="mask"/> until the next handler returns, which restores the current mask.</summary>
    internal void SuspendWithMask(ulong mask)
    {
        savedSignalMask = BlockedSignals;
        BlockedSignals = mask;
    }

    /// <summary>Removes pending <paramref name="signal"/> and returns its info (sigwait).</summary>
    internal SignalInfo TakePending(int signal)
    {
        PendingSignals &= ~Signal.Bit(signal);
        return pendingInfo[signal];
    }

    /// <summary>Drops a pending <paramref name="signal"/> (its action became "ignore").</summary>
    public void DiscardPending(int signal) => PendingSignals &= ~Signal.Bit(signal);

    /// <summary>
    /// Marks <paramref name="info"/> pending without delivering it yet (a syscall sending a signal to its own
    /// process: delivery happens when the syscall returns). Ignored signals are dropped at once.
    /// </summary>
    public void QueueSignal(in SignalInfo info)
    {
        int sig = info.Signal;
        SignalAction action = actions[sig];
        if (sig != Signal.SIGKILL && (action.Handler == SignalAction.Ignore ||
            (action.Handler == SignalAction.Default && Signal.DefaultIgnores(sig)))) return;
        if ((PendingSignals & Signal.Bit(sig)) == 0) pendingInfo[sig] = info; // standard signals don't queue twice
        PendingSignals |= Signal.Bit(sig);
    }

    /// <summary>
    /// Sends <paramref name="info"/> to the process (kill/tgkill/raise): ignored, queued while blocked, delivered
    /// to the handler, or the default action (usually terminate). Call when the guest state is at an instruction
    /// boundary (after a syscall's result is in RAX).
    /// </summary>
    public void SendSignal(Vcpu cpu, in SignalInfo info)
    {
        QueueSignal(info);
        DeliverPending(cpu);
    }

    /// <summary>Delivers the lowest-numbered pending, unblocked signal(s) (handlers nest as on Linux).</summary>
    public void DeliverPending(Vcpu cpu)
    {
        // Between time slices the vCPU still reports InstructionLimit; that is not a reason to stop delivering.
        while (TerminatedBy is null && (cpu.StopReason is null || cpu.StopReason.Value.Kind == StopKind.InstructionLimit))
        {
            ulong ready = PendingSignals & ~BlockedSignals;
            if (ready == 0) break;
            int sig = System.Numerics.BitOperations.TrailingZeroCount(ready) + 1;
            PendingSignals &= ~Signal.Bit(sig);
            Dispatch(cpu, pendingInfo[sig], default, null);
        }
        // rt_sigsuspend whose signal ran no handler: the caller's mask comes back now.
        if (savedSignalMask is { } saved)
        {
            BlockedSignals = saved;
            savedSignalMask = null;
        }
    }

    /// <summary>Turns a guest fault into a synchronous signal: handler if one is installed and not blocked, else death.</summary>
    private void RaiseFault(Vcpu cpu, in GuestFault fault)
    {
        CpuState s = cpu.State;
        int sig = SignalOf(fault);
        SignalInfo info = InfoOf(fault, s.Rip, sig);
        SignalFrame.TrapInfo trap = TrapOf(fault);
        // #BP and #DB from INT3/INT1 are traps: the engine passes the address after the instruction.
        if (fault.Kind is FaultKind.Breakpoint or FaultKind.DebugTrap && fault.Address != 0) s.Rip = fault.Address;
        SignalAction action = actions[sig];
        // Like force_sig_info: a blocked or ignored synchronous fault cannot be ignored; it kills.
        if ((BlockedSignals & Signal.Bit(sig)) != 0 || action.Handler == SignalAction.Ignore)
        {
            Kill(cpu, sig, fault);
            return;
        }
        Dispatch(cpu, info, trap, fault);
    }

    private void Dispatch(Vcpu cpu, in SignalInfo info, in SignalFrame.TrapInfo trap, GuestFault? fault)
    {
        int sig = info.Signal;
        SignalAction action = actions[sig];
        if (sig == Signal.SIGKILL || action.Handler == SignalAction.Default)
        {
            if (Signal.DefaultIgnores(sig) && sig != Signal.SIGKILL) return;
            Kill(cpu, sig, fault);
            return;
        }
        if (action.Handler == SignalAction.Ignore) return;

        CpuState s = cpu.State;
        ulong sp = s[Gpr.Rsp];
        ulong top = sp - SignalFrame.RedZone;
        if ((action.Flags & SignalActionFlags.OnStack) != 0 && AltStackEnabled && !IsOnAltStack(sp))
            top = AltStackBase + AltStackSize;
        ulong frameMask = savedSignalMask ?? BlockedSignals;
        savedSignalMask = null;
        ulong frame = SignalFrame.Build(Memory, s, top, info, action, frameMask, trap,
            AltStackBase, AltStackFlags(sp), AltStackSize);
        if (frame == 0)
        {
            // The kernel's force_sigsegv: no room for the frame.
            LinuxLog.SignalFrameFailed(Logger, Signal.Name(sig), top);
            Kill(cpu, Signal.SIGSEGV, fault ?? new GuestFault(FaultKind.PageNotMapped, top, AccessKind.Write, "cannot write the signal frame"));
            return;
        }
        s[Gpr.Rsp] = frame;
        s.Rip = action.Handler;
        s[Gpr.Rdi] = (ulong)sig;
        s[Gpr.Rsi] = frame + SignalFrame.SigInfoOffset;
        s[Gpr.Rdx] = frame + SignalFrame.UContextOffset;
        s[Gpr.Rax] = 0;
        s.RFlags &= ~(0x400UL | 0x100UL | 0x4_0000UL); // DF, TF and AC are clear in a handler
        ulong block = action.Mask;
        if ((action.Flags & SignalActionFlags.NoDefer) == 0) block |= Signal.Bit(sig);
        BlockedSignals = (BlockedSignals | block) & ~Signal.Unblockable;
        if ((action.Flags & SignalActionFlags.ResetHand) != 0) actions[sig] = default;
        cpu.Stats.SignalsDelivered++;
        LinuxLog.SignalDelivered(Logger, Signal.Name(sig), action.Handler, frame);
    }

    /// <summary>rt_sigreturn: restores the state saved by <see cref="Dispatch"/>. Returns false if the frame is bad.</summary>
    internal bool ReturnFromSignal(Vcpu cpu)
    {
        CpuState s = cpu.State;
        ulong frame = s[Gpr.Rsp] - 8; // the handler's RET popped pretcode
        if (!SignalFrame.Restore(Memory, s, frame, out ulong mask, out ulong altSp, out uint altFlags, out ulong altSize))
            return false;
        BlockedSignals = mask & ~Signal.Unblockable;
        // restore_altstack: a handler may change the alternate stack through uc_stack.
        if ((altFlags & SsDisable) != 0) { AltStackBase = 0; AltStackSize = 0; }
        else if (altSize != 0 && !IsOnAltStack(s[Gpr.Rsp])) { AltStackBase = altSp; AltStackSize = altSize; }
        return true;
    }

    private void Kill(Vcpu cpu, int sig, GuestFault? fault)
    {
        string message = fault is { } f ? $"{Signal.Name(sig)}: {cpu.Describe(f)}" : $"{Signal.Name(sig)} (sent by the guest to itself), rip 0x{cpu.State.Rip:x}";
        LinuxLog.SignalKilled(Logger, Signal.Name(sig), cpu.State.Rip);
        var reason = new StopReason(StopKind.Killed, sig, fault, message);
        TerminatedBy = reason;
        cpu.Stop(reason);
    }

    private static SignalInfo InfoOf(in GuestFault fault, ulong rip, int sig) => fault.Kind switch
    {
        FaultKind.PageNotMapped => new SignalInfo(sig, SignalInfo.SEGV_MAPERR, fault.Address),
        FaultKind.PageProtection => new SignalInfo(sig, SignalInfo.SEGV_ACCERR, fault.Address),
        FaultKind.BusError => new SignalInfo(sig, SignalInfo.BUS_ADRERR, fault.Address),
        FaultKind.InvalidOpcode => new SignalInfo(sig, SignalInfo.ILL_ILLOPN, rip),
        FaultKind.DivideError => new SignalInfo(sig, SignalInfo.FPE_INTDIV, rip),
        FaultKind.FloatingPoint => new SignalInfo(sig, SignalInfo.FPE_FLTINV, rip),
        FaultKind.Breakpoint => new SignalInfo(sig, SignalInfo.SI_KERNEL),
        FaultKind.DebugTrap => new SignalInfo(sig, SignalInfo.TRAP_TRACE, rip),
        _ => new SignalInfo(sig, SignalInfo.SI_KERNEL), // #GP: si_addr 0, as the kernel reports it
    };

    private static SignalFrame.TrapInfo TrapOf(in GuestFault fault)
    {
        switch (fault.Kind)
        {
            case FaultKind.PageNotMapped:
            case FaultKind.PageProtection:
            case FaultKind.BusError:
                ulong error = 4; // user mode
                if (fault.Kind == FaultKind.PageProtection) error |= 1;
                if (fault.Access == AccessKind.Write) error |= 2;
                if (fault.Access == AccessKind.Execute) error |= 16;
                return new SignalFrame.TrapInfo(14, error, fault.Address);
            case FaultKind.GeneralProtection: return new SignalFrame.TrapInfo(13, 0, 0);
            case FaultKind.InvalidOpcode: return new SignalFrame.TrapInfo(6, 0, 0);
            case FaultKind.DivideError: return new SignalFrame.TrapInfo(0, 0, 0);
            case FaultKind.Breakpoint: return new SignalFrame.TrapInfo(3, 0, 0);
            case FaultKind.DebugTrap: return new SignalFrame.TrapInfo(1, 0, 0);
            default: return new SignalFrame.TrapInfo(19, 0, 0);
        }
    }
}
