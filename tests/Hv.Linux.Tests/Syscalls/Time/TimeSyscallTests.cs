using System.Diagnostics;

namespace Hv.Linux.Tests.Syscalls.Time;

public sealed class TimeSyscallTests
{
    private const int EINVAL = 22, EFAULT = 14;

    private static long Nanos(SyscallHarness h, long ts) => h.Read64(ts) * 1_000_000_000 + h.Read64(ts + 8);

    [Fact]
    public void ClockGettime_Monotonic_Increases()
    {
        using var h = new SyscallHarness();
        long ts = h.Alloc(16);
        Assert.Equal(0, h.Call("clock_gettime", 1, ts));
        long first = Nanos(h, ts);
        Thread.Sleep(2);
        Assert.Equal(0, h.Call("clock_gettime", 1, ts));
        Assert.True(Nanos(h, ts) > first);
        foreach (int clock in new[] { 0, 2, 3, 4, 5, 6, 7 }) Assert.Equal(0, h.Call("clock_gettime", clock, ts));
    }

    [Fact]
    public void ClockGettime_BadClockOrPointer_Fails()
    {
        using var h = new SyscallHarness();
        long ts = h.Alloc(16);
        Assert.Equal(-EINVAL, h.Call("clock_gettime", 99, ts));
        Assert.Equal(-EINVAL, h.Call("clock_gettime", -2, ts));
        Assert.Equal(-EFAULT, h.Call("clock_gettime", 0, 8));
        Assert.Equal(0, h.Call("clock_getres", 1, 0));
        Assert.Equal(0, h.Call("clock_getres", 1, ts));
        Assert.True(Nanos(h, ts) is > 0 and <= 10_000_000);
    }

    [Fact]
    public void Gettimeofday_AndTime_MatchHostClock()
    {
        using var h = new SyscallHarness();
        long tv = h.Alloc(16), tz = h.Alloc(8), t = h.Alloc(8);
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.Equal(0, h.Call("gettimeofday", tv, tz));
        Assert.InRange(h.Read64(tv), now - 2, now + 2);
        Assert.InRange(h.Read64(tv + 8), 0, 999_999);
        long seconds = h.Call("time", t);
        Assert.InRange(seconds, now - 2, now + 2);
        Assert.Equal(seconds, h.Read64(t));
        Assert.True(h.Call("times", h.Alloc(32)) > 0);
    }

    [Fact]
    public void Nanosleep_RelativeAndAbsolute_SleepAtLeastRequested()
    {
        using var h = new SyscallHarness();
        long req = h.Alloc(16);
        h.Memory.TryWrite((ulong)req, [.. BitConverter.GetBytes(0L), .. BitConverter.GetBytes(20_000_000L)]);
        var sw = Stopwatch.StartNew();
        Assert.Equal(0, h.Call("nanosleep", req, 0));
        Assert.True(sw.ElapsedMilliseconds >= 19);

        long now = h.Alloc(16);
        Assert.Equal(0, h.Call("clock_gettime", 1, now));
        long deadline = Nanos(h, now) + 20_000_000;
        h.Memory.TryWrite((ulong)req, [.. BitConverter.GetBytes(deadline / 1_000_000_000), .. BitConverter.GetBytes(deadline % 1_000_000_000)]);
        sw.Restart();
        Assert.Equal(0, h.Call("clock_nanosleep", 1, 1 /* TIMER_ABSTIME */, req, 0));
        Assert.True(sw.ElapsedMilliseconds >= 15);

        h.Memory.TryWrite((ulong)req, [.. BitConverter.GetBytes(0L), .. BitConverter.GetBytes(1_000_000_000L)]);
        Assert.Equal(-EINVAL, h.Call("nanosleep", req, 0));
        Assert.Equal(-EINVAL, h.Call("clock_nanosleep", 3, 0, req, 0));
    }
}
