using System.Buffers.Binary;
using Hv.Core.Execution;
using Hv.Linux.Files;
using static Hv.Linux.Files.GuestBuffers;

namespace Hv.Linux.Syscalls;

/// <summary>Time syscalls: the host's clocks, read through (the guest sees real time).</summary>
internal static unsafe class TimeSyscalls
{
    public const int CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1, CLOCK_PROCESS_CPUTIME_ID = 2, CLOCK_THREAD_CPUTIME_ID = 3,
        CLOCK_MONOTONIC_RAW = 4, CLOCK_REALTIME_COARSE = 5, CLOCK_MONOTONIC_COARSE = 6, CLOCK_BOOTTIME = 7,
        CLOCK_REALTIME_ALARM = 8, CLOCK_BOOTTIME_ALARM = 9, CLOCK_TAI = 11;
    public const int TIMER_ABSTIME = 1;

    public static void Register(SyscallRegistry r)
    {
        r.Add("clock_gettime", &ClockGettime);
        r.Add("clock_getres", &ClockGetres);
        r.Add("gettimeofday", &Gettimeofday);
        r.Add("time", &Time);
        r.Add("nanosleep", &Nanosleep);
        r.Add("clock_nanosleep", &ClockNanosleep);
        r.Add("times", &Times);
    }

    /// <summary>
    /// The clocks a guest may read. Negative ids (per-process/per-thread CPU clocks of other pids, dynamic
    /// clocks of fds) would name host objects, so they are rejected.
    /// </summary>
    private static bool IsValidClock(int clock) => clock is >= 0 and <= 11 and not 10;

    private static long ClockGettime(LinuxKernel k, Vcpu cpu)
    {
        int clock = Int(Arg0(cpu));
        if (!IsValidClock(clock)) return -Errno.EINVAL;
        Span<byte> ts = stackalloc byte[16];
        fixed (byte* p = ts)
        {
            long r = Host.Call(Host.ClockGettime, clock, (long)p);
            if (r < 0) return r;
        }
        return k.Memory.TryWrite(Arg1(cpu), ts) ? 0 : -Errno.EFAULT;
    }

    private static long ClockGetres(LinuxKernel k, Vcpu cpu)
    {
        int clock = Int(Arg0(cpu));
        if (!IsValidClock(clock)) return -Errno.EINVAL;
        Span<byte> ts = stackalloc byte[16];
        fixed (byte* p = ts)
        {
            long r = Host.Call(Host.ClockGetres, clock, (long)p);
            if (r < 0) return r;
        }
        ulong address = Arg1(cpu);
        return address == 0 || k.Memory.TryWrite(address, ts) ? 0 : -Errno.EFAULT;
    }

    private static long Gettimeofday(LinuxKernel k, Vcpu cpu)
    {
        ulong tv = Arg0(cpu), tz = Arg1(cpu);
        if (tv != 0)
        {
            Span<byte> ts = stackalloc byte[16];
            fixed (byte* p = ts) Host.Call(Host.ClockGettime, CLOCK_REALTIME, (long)p);
            // timespec → timeval: nanoseconds → microseconds.
            BinaryPrimitives.WriteInt64LittleEndian(ts[8..], BinaryPrimitives.ReadInt64LittleEndian(ts[8..]) / 1000);
            if (!k.Memory.TryWrite(tv, ts)) return -Errno.EFAULT;
        }
        if (tz != 0)
        {
            Span<byte> zone = stackalloc byte[8];
            zone.Clear(); // UTC, no DST
            if (!k.Memory.TryWrite(tz, zone)) return -Errno.EFAULT;
        }
        return 0;
    }

    private static long Time(LinuxKernel k, Vcpu cpu)
    {
        Span<byte> ts = stackalloc byte[16];
        fixed (byte* p = ts) Host.Call(Host.ClockGettime, CLOCK_REALTIME, (long)p);
        long seconds = BinaryPrimitives.ReadInt64LittleEndian(ts);
        ulong address = Arg0(cpu);
        if (address != 0 && !TryWrite64(k.Memory, address, (ulong)seconds)) return -Errno.EFAULT;
        return seconds;
    }

    private static long Nanosleep(LinuxKernel k, Vcpu cpu) => Sleep(k, CLOCK_MONOTONIC, 0, Arg0(cpu), Arg1(cpu));

    private static long ClockNanosleep(LinuxKernel k, Vcpu cpu)
    {
        int clock = Int(Arg0(cpu));
        if (clock is CLOCK_THREAD_CPUTIME_ID) return -Errno.EINVAL;
        if (!IsValidClock(clock)) return -Errno.EINVAL;
        if (clock is not (CLOCK_REALTIME or CLOCK_MONOTONIC or CLOCK_BOOTTIME or CLOCK_TAI or CLOCK_PROCESS_CPUTIME_ID or
            CLOCK_REALTIME_ALARM or CLOCK_BOOTTIME_ALARM))
            return -Errno.EOPNOTSUPP;
        return Sleep(k, clock, Int(Arg1(cpu)), Arg2(cpu), Arg3(cpu));
    }

    /// <summary>
    /// Really sleeps on the host (nanosleep, clock_nanosleep). Host interruptions (the runtime's own signals)
    /// are resumed transparently, since no guest signal caused them.
    /// </summary>
    private static long Sleep(LinuxKernel k, int clock, int flags, ulong request, ulong remain)
    {
        Span<byte> ts = stackalloc byte[16];
        if (!k.Memory.TryRead(request, ts)) return -Errno.EFAULT;
        long sec = BinaryPrimitives.ReadInt64LittleEndian(ts), nsec = BinaryPrimitives.ReadInt64LittleEndian(ts[8..]);
        if (sec < 0 || nsec is < 0 or >= 1_000_000_000) return -Errno.EINVAL;
        if (clock is CLOCK_REALTIME_ALARM or CLOCK_BOOTTIME_ALARM) clock = clock == CLOCK_REALTIME_ALARM ? CLOCK_REALTIME : CLOCK_BOOTTIME;
        bool absolute = (flags & TIMER_ABSTIME) != 0;
        Span<byte> left = stackalloc byte[16];
        fixed (byte* req = ts)
        fixed (byte* rem = left)
        {
            while (true)
            {
                long r = Host.Call(Host.ClockNanosleep, clock, absolute ? TIMER_ABSTIME : 0, (long)req, absolute ? 0 : (long)rem);
                if (r != -Errno.EINTR) return r;
                if (!absolute) left.CopyTo(ts);
            }
        }
    }

    private static long Times(LinuxKernel k, Vcpu cpu)
    {
        Span<byte> tms = stackalloc byte[32];
        long ticks;
        fixed (byte* p = tms) ticks = Host.Call(Host.Times, (long)p);
        ulong address = Arg0(cpu);
        if (address != 0 && !k.Memory.TryWrite(address, tms)) return -Errno.EFAULT;
        return ticks;
    }
}
