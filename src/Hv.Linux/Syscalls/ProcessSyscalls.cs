using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Hv.Core.Cpu;
using Hv.Core.Execution;

namespace Hv.Linux.Syscalls;

/// <summary>
/// Process syscalls: exit, identity, limits, arch_prctl, TLS/robust-list/rseq registration, uname, getrandom
/// and a single-threaded futex. Every guest pointer is checked: a bad one gives -EFAULT, never a host fault.
/// </summary>
internal static unsafe class ProcessSyscalls
{
    public static void Register(SyscallRegistry r)
    {
        r.Add("exit", &Exit);
        r.Add("exit_group", &Exit);
        r.Add("arch_prctl", &ArchPrctl);
        r.Add("set_tid_address", &SetTidAddress);
        r.Add("set_robust_list", &SetRobustList);
        r.Add("get_robust_list", &GetRobustList);
        r.Add("rseq", &Rseq);
        r.Add("uname", &Uname);
        r.Add("getpid", &GetPid);
        r.Add("gettid", &GetPid);
        r.Add("getpgrp", &GetPid);
        r.Add("getppid", &GetPpid);
        r.Add("getuid", &GetUid);
        r.Add("geteuid", &GetEuid);
        r.Add("getgid", &GetGid);
        r.Add("getegid", &GetEgid);
        r.Add("getresuid", &GetResUid);
        r.Add("getresgid", &GetResGid);
        r.Add("getpgid", &GetPgid);
        r.Add("getsid", &GetPgid);
        r.Add("setpgid", &SetPgid);
        r.Add("setsid", &SetSid);
        r.Add("getgroups", &GetGroups);
        r.Add("prlimit64", &Prlimit64);
        r.Add("getrlimit", &GetRlimit);
        r.Add("setrlimit", &SetRlimit);
        r.Add("getrusage", &GetRusage);
        r.Add("sched_getaffinity", &SchedGetAffinity);
        r.Add("sched_setaffinity", &SchedSetAffinity);
        r.Add("sched_yield", &Zero);
        r.Add("sysinfo", &SysInfo);
        r.Add("prctl", &Prctl);
        r.Add("getrandom", &GetRandom);
        r.Add("futex", &Futex);
    }

    // ---- guest memory helpers (permission-checked; false means -EFAULT) ----

    internal static bool Read<T>(LinuxKernel k, ulong address, out T value) where T : unmanaged
    {
        value = default;
        return k.Memory.TryRead(address, MemoryMarshal.AsBytes(new Span<T>(ref value)));
    }

    internal static bool Write<T>(LinuxKernel k, ulong address, T value) where T : unmanaged =>
        k.Memory.TryWrite(address, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(ref value)));

    internal static ulong Arg(Vcpu cpu, int index) => index switch
    {
        0 => cpu.State[Gpr.Rdi],
        1 => cpu.State[Gpr.Rsi],
        2 => cpu.State[Gpr.Rdx],
        3 => cpu.State[Gpr.R10],
        4 => cpu.State[Gpr.R8],
        _ => cpu.State[Gpr.R9],
    };

    private static bool IsSelf(LinuxKernel k, ulong pid) => (int)pid == 0 || (int)pid == k.Pid;

    // ---- exit ----

    private static long Exit(LinuxKernel k, Vcpu cpu)
    {
        int status = (int)(Arg(cpu, 0) & 0xFF);
        // The thread's exit clears *clear_child_tid (and would wake a joiner); failures are ignored like the kernel's.
        if (k.ClearChildTid != 0) Write(k, k.ClearChildTid, 0u);
        LinuxLog.GuestExited(k.Logger, status);
        cpu.Stop(new StopReason(StopKind.Exited, status));
        return 0;
    }

    // ---- arch_prctl, TLS-ish registrations ----

    private const int ArchSetGs = 0x1001, ArchSetFs = 0x1002, ArchGetFs = 0x1003, ArchGetGs = 0x1004;

    private static long ArchPrctl(LinuxKernel k, Vcpu cpu)
    {
        ulong addr = Arg(cpu, 1);
        CpuState s = cpu.State;
        switch ((int)Arg(cpu, 0))
        {
            case ArchSetFs:
                if (addr >= Hv.Core.Memory.AddressSpace.Limit) return -Errno.EPERM;
                s.FsBase = addr;
                return 0;
            case ArchSetGs:
                if (addr >= Hv.Core.Memory.AddressSpace.Limit) return -Errno.EPERM;
                s.GsBase = addr;
                return 0;
            case ArchGetFs: return Write(k, addr, s.FsBase) ? 0 : -Errno.EFAULT;
            case ArchGetGs: return Write(k, addr, s.GsBase) ? 0 : -Errno.EFAULT;
            default: return -Errno.EINVAL;
        }
    }

    private static long SetTidAddress(LinuxKernel k, Vcpu cpu)
    {
        k.ClearChildTid = Arg(cpu, 0);
        return k.Pid;
    }

    private const ulong RobustListHeadSize = 24;

    private static long SetRobustList(LinuxKernel k, Vcpu cpu)
    {
        if (Arg(cpu, 1) != RobustListHeadSize) return -Errno.EINVAL;
        k.RobustListHead = Arg(cpu, 0);
        k.RobustListLength = Arg(cpu, 1);
        return 0;
    }

    private static long GetRobustList(LinuxKernel k, Vcpu cpu)
    {
        if (!IsSelf(k, Arg(cpu, 0))) return -Errno.ESRCH;
        if (!Write(k, Arg(cpu, 2), RobustListHeadSize)) return -Errno.EFAULT;
        return Write(k, Arg(cpu, 1), k.RobustListHead) ? 0 : -Errno.EFAULT;
    }

    private const uint RseqFlagUnregister = 1, RseqMinSize = 32;

    private static long Rseq(LinuxKernel k, Vcpu cpu)
    {
        ulong area = Arg(cpu, 0);
        uint length = (uint)Arg(cpu, 1);
        uint flags = (uint)Arg(cpu, 2);
        uint signature = (uint)Arg(cpu, 3);
        if (flags == RseqFlagUnregister)
        {
            if (k.RseqArea != area || k.RseqArea == 0) return -Errno.EINVAL;
            if (length != k.RseqLength) return -Errno.EINVAL;
            if (signature != k.RseqSignature) return -Errno.EPERM;
            if (!Write(k, area + 4, uint.MaxValue)) return -Errno.EFAULT; // cpu_id = RSEQ_CPU_ID_UNINITIALIZED
            k.RseqArea = 0;
            k.RseqLength = 0;
            k.RseqSignature = 0;
            return 0;
        }
        if (flags != 0) return -Errno.EINVAL;
        if (k.RseqArea != 0)
        {
            if (area != k.RseqArea || length != k.RseqLength) return -Errno.EINVAL;
            return signature != k.RseqSignature ? -Errno.EPERM : -Errno.EBUSY;
        }
        if (length < RseqMinSize || (area & 31) != 0) return -Errno.EINVAL;
        if (!k.Memory.IsAccessible(area, length, Hv.Core.Memory.PagePermissions.ReadWrite)) return -Errno.EFAULT;
        // One CPU: cpu_id_start, cpu_id, node_id and mm_cid are all 0.
        Write(k, area, 0UL);
        Write(k, area + 20, 0UL);
        k.RseqArea = area;
        k.RseqLength = length;
        k.RseqSignature = signature;
        return 0;
    }

    // ---- identity ----

    private const int UtsFieldLength = 65;

    private static long Uname(LinuxKernel k, Vcpu cpu)
    {
        Span<byte> uts = stackalloc byte[UtsFieldLength * 6];
        uts.Clear();
        Field(uts, 0, "Linux");
        Field(uts, 1, "hv");
        Field(uts, 2, "6.1.0-hv");
        Field(uts, 3, "#1 SMP PREEMPT_DYNAMIC Hv");
        Field(uts, 4, "x86_64");
        Field(uts, 5, "(none)");
        return k.Memory.TryWrite(Arg(cpu, 0), uts) ? 0 : -Errno.EFAULT;

        static void Field(Span<byte> uts, int index, string value) =>
            Encoding.ASCII.GetBytes(value, uts.Slice(index * UtsFieldLength, UtsFieldLength - 1));
    }

    private static long GetPid(LinuxKernel k, Vcpu cpu) => k.Pid;
    private static long GetPpid(LinuxKernel k, Vcpu cpu) => k.ParentPid;
    private static long GetUid(LinuxKernel k, Vcpu cpu) => k.Ids.Uid;
    private static long GetEuid(LinuxKernel k, Vcpu cpu) => k.Ids.Euid;
    private static long GetGid(LinuxKernel k, Vcpu cpu) => k.Ids.Gid;
    private static long GetEgid(LinuxKernel k, Vcpu cpu) => k.Ids.Egid;
    private static long Zero(LinuxKernel k, Vcpu cpu) => 0;

    private static long GetResUid(LinuxKernel k, Vcpu cpu) => WriteTriple(k, cpu, k.Ids.Uid, k.Ids.Euid, k.Ids.Euid);
    private static long GetResGid(LinuxKernel k, Vcpu cpu) => WriteTriple(k, cpu, k.Ids.Gid, k.Ids.Egid, k.Ids.Egid);

    private static long WriteTriple(LinuxKernel k, Vcpu cpu, uint a, uint b, uint c) =>
        Write(k, Arg(cpu, 0), a) && Write(k, Arg(cpu, 1), b) && Write(k, Arg(cpu, 2), c) ? 0 : -Errno.EFAULT;

    private static long GetPgid(LinuxKernel k, Vcpu cpu) => IsSelf(k, Arg(cpu, 0)) ? k.Pid : -Errno.ESRCH;

    private static long SetPgid(LinuxKernel k, Vcpu cpu)
    {
        if (!IsSelf(k, Arg(cpu, 0))) return -Errno.ESRCH;
        if ((long)Arg(cpu, 1) < 0) return -Errno.EINVAL;
        return IsSelf(k, Arg(cpu, 1)) ? 0 : -Errno.EPERM;
    }

    // The guest is its own process-group and session leader (like a shell's child would look to itself).
    private static long SetSid(LinuxKernel k, Vcpu cpu) => -Errno.EPERM;

    private static long GetGroups(LinuxKernel k, Vcpu cpu)
    {
        int size = (int)Arg(cpu, 0);
        if (size < 0) return -Errno.EINVAL;
        // Supplementary groups are not modelled: the guest belongs to its primary group only.
        if (size == 0) return 1;
        return Write(k, Arg(cpu, 1), k.Ids.Gid) ? 1 : -Errno.EFAULT;
    }

    // ---- resource limits ----

    private static long Prlimit64(LinuxKernel k, Vcpu cpu)
    {
        if (!IsSelf(k, Arg(cpu, 0))) return -Errno.ESRCH;
        return Limit(k, (uint)Arg(cpu, 1), Arg(cpu, 2), Arg(cpu, 3));
    }

    private static long GetRlimit(LinuxKernel k, Vcpu cpu) => Limit(k, (uint)Arg(cpu, 0), 0, Arg(cpu, 1));

    private static long SetRlimit(LinuxKernel k, Vcpu cpu)
    {
        if (Arg(cpu, 1) == 0) return -Errno.EFAULT;
        return Limit(k, (uint)Arg(cpu, 0), Arg(cpu, 1), 0);
    }

    private static long Limit(LinuxKernel k, uint resource, ulong newPtr, ulong oldPtr)
    {
        if (resource >= LinuxKernel.ResourceLimitCount) return -Errno.EINVAL;
        ResourceLimit current = k.Limits[resource];
        ResourceLimit next = current;
        if (newPtr != 0)
        {
            if (!Read(k, newPtr, out next)) return -Errno.EFAULT;
            if (next.Soft > next.Hard) return -Errno.EINVAL;
            if (next.Hard > current.Hard) return -Errno.EPERM; // unprivileged: the hard limit only goes down
            if (resource == 7 && next.Hard > 1024 * 1024) return -Errno.EPERM; // RLIMIT_NOFILE above nr_open
        }
        if (oldPtr != 0 && !Write(k, oldPtr, current)) return -Errno.EFAULT;
        k.Limits[resource] = next;
        return 0;
    }

    private const int RusageSize = 144;

    private static long GetRusage(LinuxKernel k, Vcpu cpu)
    {
        int who = (int)Arg(cpu, 0);
        if (who is not (0 or -1 or 1)) return -Errno.EINVAL;
        Span<long> ru = stackalloc long[RusageSize / 8];
        ru.Clear();
        if (who != -1)
        {
            // The host's own CPU times stand in for the guest's (the guest is the host process's main work).
            using var self = System.Diagnostics.Process.GetCurrentProcess();
            TimeSpan user = self.UserProcessorTime, system = self.PrivilegedProcessorTime;
            ru[0] = (long)user.TotalSeconds;
            ru[1] = user.Microseconds + user.Milliseconds * 1000L;
            ru[2] = (long)system.TotalSeconds;
            ru[3] = system.Microseconds + system.Milliseconds * 1000L;
            ru[4] = Environment.WorkingSet / 1024; // ru_maxrss in KiB
        }
        return k.Memory.TryWrite(Arg(cpu, 1), MemoryMarshal.AsBytes(ru)) ? 0 : -Errno.EFAULT;
    }

    // ---- scheduling, system information ----

    private static long SchedGetAffinity(LinuxKernel k, Vcpu cpu)
    {
        if (!IsSelf(k, Arg(cpu, 0))) return -Errno.ESRCH;
        ulong length = Arg(cpu, 1);
        if (length < 8 || (length & 7) != 0) return -Errno.EINVAL;
        return Write(k, Arg(cpu, 2), 1UL) ? 8 : -Errno.EFAULT; // one CPU
    }

    private static long SchedSetAffinity(LinuxKernel k, Vcpu cpu)
    {
        if (!IsSelf(k, Arg(cpu, 0))) return -Errno.ESRCH;
        if (Arg(cpu, 1) < 1) return -Errno.EINVAL;
        if (!Read(k, Arg(cpu, 2), out byte first)) return -Errno.EFAULT;
        return (first & 1) != 0 ? 0 : -Errno.EINVAL;
    }

    private const int SysInfoSize = 112;

    private static long SysInfo(LinuxKernel k, Vcpu cpu)
    {
        Span<byte> b = stackalloc byte[SysInfoSize];
        b.Clear();
        Span<ulong> w = MemoryMarshal.Cast<byte, ulong>(b);
        ulong total = (ulong)GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        w[0] = (ulong)(Environment.TickCount64 / 1000); // uptime
        w[4] = total;                                 // totalram
        w[5] = total / 2;                             // freeram
        b[80] = 1;                                    // procs
        b[104] = 1;                                   // mem_unit
        return k.Memory.TryWrite(Arg(cpu, 0), b) ? 0 : -Errno.EFAULT;
    }

    private const int PrSetPdeathsig = 1, PrGetPdeathsig = 2, PrGetDumpable = 3, PrSetDumpable = 4, PrSetName = 15,
        PrGetName = 16, PrGetTimerslack = 30, PrSetTimerslack = 29, PrSetNoNewPrivs = 38, PrGetNoNewPrivs = 39;

    private static long Prctl(LinuxKernel k, Vcpu cpu)
    {
        ulong arg2 = Arg(cpu, 1);
        switch ((int)Arg(cpu, 0))
        {
            case PrSetName:
            {
                Span<byte> name = stackalloc byte[16];
                int n = 0;
                while (n < 15 && Read(k, arg2 + (ulong)n, out byte c) && c != 0) name[n++] = c;
                if (n < 15 && !Read(k, arg2 + (ulong)n, out byte _)) return -Errno.EFAULT;
                k.ThreadName = name[..n].ToArray();
                return 0;
            }
            case PrGetName:
            {
                Span<byte> name = stackalloc byte[16];
                name.Clear();
                k.ThreadName.CopyTo(name);
                return k.Memory.TryWrite(arg2, name) ? 0 : -Errno.EFAULT;
            }
            case PrSetPdeathsig: return arg2 <= 64 ? 0 : -Errno.EINVAL;
            case PrGetPdeathsig: return Write(k, arg2, 0) ? 0 : -Errno.EFAULT;
            case PrGetDumpable: return 1;
            case PrSetDumpable: return arg2 <= 1 ? 0 : -Errno.EINVAL;
            case PrGetTimerslack: return 50_000;
            case PrSetTimerslack: return 0;
            case PrSetNoNewPrivs: return arg2 == 1 ? 0 : -Errno.EINVAL;
            case PrGetNoNewPrivs: return 0;
            default: return -Errno.EINVAL; // PR_SET_VMA and the rest are not supported
        }
    }

    private const uint GrndNonblock = 1, GrndRandom = 2, GrndInsecure = 4;

    private static long GetRandom(LinuxKernel k, Vcpu cpu)
    {
        ulong buffer = Arg(cpu, 0);
        ulong length = Math.Min(Arg(cpu, 1), (ulong)int.MaxValue >> 6 << 6);
        uint flags = (uint)Arg(cpu, 2);
        if ((flags & ~(GrndNonblock | GrndRandom | GrndInsecure)) != 0) return -Errno.EINVAL;
        if ((flags & (GrndRandom | GrndInsecure)) == (GrndRandom | GrndInsecure)) return -Errno.EINVAL;
        Span<byte> chunk = stackalloc byte[256];
        ulong done = 0;
        while (done < length)
        {
            // Chunks never cross a page, so a fault leaves an exact count of bytes written.
            ulong pageLeft = 4096 - ((buffer + done) & 4095);
            int n = (int)Math.Min(Math.Min((ulong)chunk.Length, length - done), pageLeft);
            RandomNumberGenerator.Fill(chunk[..n]);
            if (!k.Memory.TryWrite(buffer + done, chunk[..n]))
            {
                // Partial success reports the bytes written, like copy_to_user.
                return done == 0 ? -Errno.EFAULT : (long)done;
            }
            done += (ulong)n;
        }
        return (long)done;
    }

    // ---- futex (one thread) ----

    private const int FutexWait = 0, FutexWake = 1, FutexRequeue = 3, FutexCmpRequeue = 4, FutexWakeOp = 5,
        FutexWaitBitset = 9, FutexWakeBitset = 10, FutexPrivate = 128, FutexClockRealtime = 256;

    /// <summary>
    /// futex with exactly one thread: nobody else can change the word or wake a waiter. WAIT returns -EAGAIN
    /// when the word differs; a WAIT that would sleep returns -ETIMEDOUT at once if it has a timeout and
    /// -EDEADLK if it would sleep forever (a real kernel would hang the process). WAKE finds no waiters.
    /// </summary>
    private static long Futex(LinuxKernel k, Vcpu cpu)
    {
        ulong uaddr = Arg(cpu, 0);
        int op = (int)Arg(cpu, 1);
        uint val = (uint)Arg(cpu, 2);
        ulong timeout = Arg(cpu, 3);
        ulong uaddr2 = Arg(cpu, 4);
        uint val3 = (uint)Arg(cpu, 5);
        int cmd = op & ~(FutexPrivate | FutexClockRealtime);
        if ((op & FutexClockRealtime) != 0 && cmd is not (FutexWait or FutexWaitBitset)) return -Errno.ENOSYS;
        if ((uaddr & 3) != 0) return -Errno.EINVAL;
        switch (cmd)
        {
            case FutexWait:
            case FutexWaitBitset:
                if (cmd == FutexWaitBitset && val3 == 0) return -Errno.EINVAL;
                if (!Read(k, uaddr, out uint current)) return -Errno.EFAULT;
                if (current != val) return -Errno.EAGAIN;
                if (timeout != 0)
                {
                    if (!Read(k, timeout, out long seconds) || !Read(k, timeout + 8, out long nanos)) return -Errno.EFAULT;
                    if (seconds < 0 || (ulong)nanos >= 1_000_000_000) return -Errno.EINVAL;
                    return -Errno.ETIMEDOUT;
                }
                LinuxLog.FutexDeadlock(k.Logger, uaddr);
                return -Errno.EDEADLK;
            case FutexWake:
                return 0;
            case FutexWakeBitset:
                return val3 == 0 ? -Errno.EINVAL : 0;
            case FutexRequeue:
                return 0;
            case FutexCmpRequeue:
            {
                if ((uaddr2 & 3) != 0) return -Errno.EINVAL;
                if (!Read(k, uaddr, out uint word)) return -Errno.EFAULT;
                return word != val3 ? -Errno.EAGAIN : 0;
            }
            case FutexWakeOp:
                return WakeOp(k, uaddr2, val3);
            default:
                return -Errno.ENOSYS; // PI futexes and the rest
        }
    }

    private static long WakeOp(LinuxKernel k, ulong uaddr2, uint encoded)
    {
        if ((uaddr2 & 3) != 0) return -Errno.EINVAL;
        int op = (int)(encoded >> 28) & 7;
        bool shift = (encoded >> 31) != 0;
        int oparg = (int)(encoded << 8) >> 20;
        if (shift) oparg = 1 << (oparg & 31);
        if (!Read(k, uaddr2, out uint old)) return -Errno.EFAULT;
        uint value = op switch
        {
            0 => (uint)oparg,
            1 => old + (uint)oparg,
            2 => old | (uint)oparg,
            3 => old & ~(uint)oparg,
            4 => old ^ (uint)oparg,
            _ => old,
        };
        if (op > 4) return -Errno.ENOSYS;
        if (!Write(k, uaddr2, value)) return -Errno.EFAULT;
        return 0; // nobody waits on either word
    }
}
