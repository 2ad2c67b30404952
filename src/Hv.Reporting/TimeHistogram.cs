namespace Hv.Reporting;

/// <summary>
/// Events per time bucket in bounded memory for a log of any length: a fixed number of buckets from time 0
/// whose width doubles (neighbouring buckets merge) whenever an event falls past the last one.
/// </summary>
public sealed class TimeHistogram
{
    private readonly long[] events;
    private readonly long[] nanoseconds;
    private long width = 1;
    private int used;

    /// <summary>A histogram of at most <paramref name="capacity"/> buckets (even, at least 2).</summary>
    public TimeHistogram(int capacity = 512)
    {
        if (capacity < 2 || capacity % 2 != 0) throw new ArgumentOutOfRangeException(nameof(capacity), "an even count of at least 2");
        events = new long[capacity];
        nanoseconds = new long[capacity];
    }

    /// <summary>Current bucket width in microseconds.</summary>
    public long WidthMicroseconds => width;

    /// <summary>Counts one event at <paramref name="microseconds"/> (negative times count as 0).</summary>
    public void Add(long microseconds, long handlingNanoseconds)
    {
        long t = Math.Max(0, microseconds);
        while (t / width >= events.Length) Coarsen();
        int i = (int)(t / width);
        events[i]++;
        nanoseconds[i] += handlingNanoseconds;
        if (i >= used) used = i + 1;
    }

    /// <summary>The buckets from time 0 up to the last one holding an event.</summary>
    public List<TimeBucket> Buckets()
    {
        var list = new List<TimeBucket>(used);
        for (int i = 0; i < used; i++) list.Add(new TimeBucket(i * width, width, events[i], nanoseconds[i]));
        return list;
    }

    private void Coarsen()
    {
        int half = events.Length / 2;
        for (int i = 0; i < half; i++)
        {
            events[i] = events[2 * i] + events[2 * i + 1];
            nanoseconds[i] = nanoseconds[2 * i] + nanoseconds[2 * i + 1];
        }
        Array.Clear(events, half, half);
        Array.Clear(nanoseconds, half, half);
        used = (used + 1) / 2;
        width *= 2;
    }
}
