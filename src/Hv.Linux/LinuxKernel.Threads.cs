using System.Diagnostics;
using Hv.Core.Cpu;
using Hv.Core.Execution;

namespace Hv.Linux;

/// <summary>One guest thread: its saved registers while it is not running, and per-thread kernel state.</summary>
public sealed class GuestThread
{
    internal GuestThread(int tid) => Tid = tid;

    /// <summary>The thread id.</summary>
    public int Tid { get; }

    /// <summary>Registers while the thread is switched out.</summary>
    internal CpuState Context { get; } = new();

    /// <summary>set_tid_address / CLONE_CHILD_CLEARTID: zeroed and futex-woken when the thread exits.</summary>
    public ulong ClearChildTid { get; set; }

    /// <summary>The thread's blocked-signal mask.</summary>
    public ulong BlockedSignals { get; set; }

    /// <summary>sigaltstack base.</summary>
    public ulong AltStackBase { get; set; }

    /// <summary>sigaltstack size (0: disabled).</summary>
    public ulong AltStackSize { get; set; }

    /// <summary>set_robust_list head.</summary>
    public ulong RobustListHead { get; set; }

    /// <summary>set_robust_list length.</summary>
    public ulong RobustListLength { get; set; }

    /// <summary>The registered rseq area, or 0.</summary>
    public ulong RseqArea { get; set; }

    /// <summary>Length of the rseq area.</summary>
    public uint RseqLength { get; set; }

    /// <summary>rseq signature.</summary>
    public uint RseqSignature { get; set; }

    /// <summary>The futex word the thread sleeps on, when <see cref="Waiting"/>.</summary>
    internal ulong WaitAddress;

    /// <summary>The FUTEX_WAIT_BITSET mask of the wait.</summary>
    internal uint WaitBitset;

    /// <summary>True while blocked in futex wait.</summary>
    internal bool Waiting;

    /// <summary>When a timed wait expires (a <see cref="System.Diagnostics.Stopwatch"/> timestamp), or long.MaxValue.</summary>
    internal long WaitDeadline = long.MaxValue;
}

/// <summary>
/// Threads (CLONE_THREAD) run one at a time on the machine's single vCPU, switched by the kernel: when a thread
/// blocks in futex, yields or exits, and every time slice (<see cref="GuestProcess.Run"/> preempts). Switching
/// copies registers in and out of the vCPU. Scheduling is round-robin and deterministic.
/// </summary>
public sealed partial class LinuxKernel
{
    private readonly List<GuestThread> threads = [];
    private GuestThread? current;
    private int nextTid = 1;
    private bool switchedInSyscall;

    /// <summary>The running thread.</summary>
    public GuestThread CurrentThread => current ??= CreateMainThread();

    /// <summary>Live threads.</summary>
    public int ThreadCount => Math.Max(1, threads.Count);

    private GuestThread CreateMainThread()
    {
        var main = new GuestThread(Pid);
        threads.Add(main);
        return main;
    }

    /// <summary>Creates a thread whose registers start as <paramref name="context"/> (already adjusted by clone).</summary>
    internal GuestThread CreateThread(CpuState context)
    {
        _ = CurrentThread;
        var t = new GuestThread(Pid + nextTid++) { BlockedSignals = CurrentThread.BlockedSignals };
        t.Context.CopyFrom(context);
        threads.Add(t);
        return t;
    }

    /// <summary>
    /// Time-slice preemption: switches to the next runnable thread, if any. Called between runs of the vCPU,
    /// at an instruction boundary.
    /// </summary>
    public void Preempt(Vcpu cpu)
    {
        if (threads.Count < 2) return;
        ExpireTimedWaits(Stopwatch.GetTimestamp());
        GuestThread? next = NextRunnable();
        if (next is not null) SwitchTo(cpu, next);
    }

    /// <summary>How a futex wait ended for the caller.</summary>
    internal enum WaitOutcome
    {
        /// <summary>Another thread runs now; the waiter returns 0 when woken (or -ETIMEDOUT).</summary>
        Switched,
        /// <summary>Nothing else could run, the wait's own deadline passed (the host slept until then).</summary>
        TimedOut,
        /// <summary>Nothing could ever end the wait.</summary>
        Deadlock,
    }

    /// <summary>
    /// Blocks the current thread in futex wait on <paramref name="address"/> until woken or until
    /// <paramref name="deadline"/> (a Stopwatch timestamp; long.MaxValue for none). When no thread can run, the
    /// host sleeps until the earliest timed wait expires.
    /// </summary>
    internal WaitOutcome BlockOnFutex(Vcpu cpu, ulong address, uint bitset, long deadline)
    {
        GuestThread self = CurrentThread;
        self.Waiting = true;
        self.WaitAddress = address;
        self.WaitBitset = bitset;
        self.WaitDeadline = deadline;
        cpu.State[Gpr.Rax] = 0; // the result FUTEX_WAIT returns once woken
        GuestThread? next = NextRunnableOrSleep();
        if (next == self)
        {
            return WaitOutcome.TimedOut;
        }
        if (next is null)
        {
            self.Waiting = false;
            self.WaitDeadline = long.MaxValue;
            return WaitOutcome.Deadlock;
        }
        SwitchTo(cpu, next);
        switchedInSyscall = true;
        return WaitOutcome.Switched;
    }

    /// <summary>
    /// The next runnable thread; if none, sleeps on the host until the earliest timed wait (possibly the
    /// caller's) expires and returns that thread. Null: every thread waits forever.
    /// </summary>
    private GuestThread? NextRunnableOrSleep()
    {
        GuestThread? next = NextRunnable();
        if (next is not null) return next;
        GuestThread? earliest = null;
        foreach (GuestThread t in threads)
            if (t.Waiting && t.WaitDeadline != long.MaxValue && (earliest is null || t.WaitDeadline < earliest.WaitDeadline)) earliest = t;
        if (earliest is null) return null;
        // Nothing can run until then: the host sleeps (in pieces Thread.Sleep accepts).
        for (long left; (left = earliest.WaitDeadline - Stopwatch.GetTimestamp()) > 0;)
        {
            double ms = Math.Ceiling(left * 1000.0 / Stopwatch.Frequency);
            Thread.Sleep((int)Math.Min(ms, int.MaxValue - 1));
        }
        Expire(earliest);
        return earliest;
    }

    /// <summary>Ends every timed wait whose deadline has passed: those threads return -ETIMEDOUT.</summary>
    private void ExpireTimedWaits(long now)
    {
        foreach (GuestThread t in threads)
            if (t.Waiting && t.WaitDeadline <= now && t != current) Expire(t);
    }

    private void Expire(GuestThread t)
    {
        t.Waiting = false;
        t.WaitDeadline = long.MaxValue;
        if (t != current) t.Context[Gpr.Rax] = unchecked((ulong)-Errno.ETIMEDOUT);
    }

    /// <summary>Wakes up to <paramref name="count"/> threads waiting on <paramref name="address"/>; returns how many.</summary>
    internal int WakeFutex(ulong address, int count, uint bitset = uint.MaxValue)
    {
        int woken = 0;
        foreach (GuestThread t in threads)
        {
            if (woken >= count) break;
            if (t.Waiting && t.WaitAddress == address && (t.WaitBitset & bitset) != 0)
            {
                t.Waiting = false;
                t.WaitDeadline = long.MaxValue;
                woken++;
            }
        }
        return woken;
    }

    /// <summary>Moves up to <paramref name="count"/> waiters from one futex word to another; returns how many.</summary>
    internal int RequeueFutex(ulong from, ulong to, int count)
    {
        int moved = 0;
        foreach (GuestThread t in threads)
        {
            if (moved >= count) break;
            if (t.Waiting && t.WaitAddress == from)
            {
                t.WaitAddress = to;
                moved++;
            }
        }
        return moved;
    }

    /// <summary>sched_yield: lets the next runnable thread run (RAX of the caller becomes 0).</summary>
    internal void Yield(Vcpu cpu)
    {
        GuestThread? next = NextRunnable();
        if (next is null) return;
        cpu.State[Gpr.Rax] = 0;
        SwitchTo(cpu, next);
        switchedInSyscall = true;
    }

    /// <summary>
    /// exit: ends the current thread (clearing and waking its clear_child_tid). The last thread's exit ends the
    /// process with <paramref name="status"/>.
    /// </summary>
    internal void ExitThread(Vcpu cpu, int status)
    {
        GuestThread self = CurrentThread;
        if (self.ClearChildTid != 0 && Memory.TryWrite(self.ClearChildTid, stackalloc byte[4]))
            WakeFutex(self.ClearChildTid, 1);
        if (threads.Count <= 1)
        {
            LinuxLog.GuestExited(Logger, status);
            cpu.Stop(new StopReason(StopKind.Exited, status));
            return;
        }
        threads.Remove(self);
        GuestThread? next = NextRunnableOrSleep();
        if (next is null)
        {
            // Every remaining thread sleeps on a futex nobody can wake: a real kernel would hang forever.
            cpu.Stop(new StopReason(StopKind.Killed, Signals.Signal.SIGKILL, null,
                "SIGKILL: deadlock: every remaining guest thread is blocked in futex wait"));
            return;
        }
        current = next;
        cpu.State.CopyFrom(next.Context);
        switchedInSyscall = true;
    }

    /// <summary>True (once) if the syscall just handled switched threads, so its result must not touch RAX.</summary>
    private bool TakeSwitchedInSyscall()
    {
        bool switched = switchedInSyscall;
        switchedInSyscall = false;
        return switched;
    }

    private GuestThread? NextRunnable()
    {
        GuestThread self = CurrentThread;
        int start = threads.IndexOf(self);
        for (int i = 1; i <= threads.Count; i++)
        {
            GuestThread t = threads[(start + i) % threads.Count];
            if (t != self && !t.Waiting) return t;
        }
        return null;
    }

    private void SwitchTo(Vcpu cpu, GuestThread next)
    {
        GuestThread self = CurrentThread;
        self.Context.CopyFrom(cpu.State);
        cpu.State.CopyFrom(next.Context);
        current = next;
    }

    /// <summary>A live thread with id <paramref name="tid"/>, or null.</summary>
    internal GuestThread? FindThread(int tid)
    {
        _ = CurrentThread;
        foreach (GuestThread t in threads) if (t.Tid == tid) return t;
        return null;
    }
}
