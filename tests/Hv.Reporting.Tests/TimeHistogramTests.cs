namespace Hv.Reporting.Tests;

public sealed class TimeHistogramTests
{
    [Fact]
    public void Add_PastLastBucket_WidthDoublesAndTotalsKept()
    {
        var h = new TimeHistogram(capacity: 4);
        h.Add(0, 1);
        h.Add(3, 2);
        h.Add(9, 4); // 9 needs width 4 (buckets 0-3, 4-7, 8-11, 12-15)
        Assert.Equal(4, h.WidthMicroseconds);
        Assert.Equal([new TimeBucket(0, 4, 2, 3), new TimeBucket(4, 4, 0, 0), new TimeBucket(8, 4, 1, 4)], h.Buckets());
    }

    [Fact]
    public void Add_NegativeTime_CountsAsZero()
    {
        var h = new TimeHistogram(capacity: 2);
        h.Add(-5, 7);
        Assert.Equal([new TimeBucket(0, 1, 1, 7)], h.Buckets());
    }

    [Fact]
    public void Add_MillionsOfMicroseconds_BoundedBuckets()
    {
        var h = new TimeHistogram(capacity: 8);
        for (long t = 0; t < 10_000_000; t += 9_999) h.Add(t, 1);
        List<TimeBucket> buckets = h.Buckets();
        Assert.InRange(buckets.Count, 1, 8);
        Assert.Equal(1001, buckets.Sum(b => b.Events));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void Constructor_BadCapacity_Throws(int capacity)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimeHistogram(capacity));
    }
}
