namespace Hv.Reporting.Tests;

public sealed class AddressRangeTests
{
    [Fact]
    public void Merge_Overlapping_Joined()
    {
        Assert.Equal([new AddressRange(0x10, 0x20)], AddressRange.Merge([new(0x10, 0x18), new(0x14, 0x20)]));
    }

    [Fact]
    public void Merge_Contained_AbsorbedWithoutShrinking()
    {
        Assert.Equal([new AddressRange(0x10, 0x40)], AddressRange.Merge([new(0x10, 0x40), new(0x18, 0x20), new(0x30, 0x38)]));
    }

    [Fact]
    public void Merge_Touching_KeptApart()
    {
        Assert.Equal([new AddressRange(0x10, 0x14), new AddressRange(0x14, 0x18)], AddressRange.Merge([new(0x14, 0x18), new(0x10, 0x14)]));
    }

    [Fact]
    public void Merge_UnsortedChain_OneRangeInAddressOrder()
    {
        AddressRange[] input = [new(0x30, 0x38), new(0x100, 0x101), new(0x10, 0x20), new(0x1f, 0x31), new(0x10, 0x20)];
        Assert.Equal([new AddressRange(0x10, 0x38), new AddressRange(0x100, 0x101)], AddressRange.Merge(input));
    }

    [Fact]
    public void Merge_Empty_Empty()
    {
        Assert.Empty(AddressRange.Merge([]));
    }

    [Fact]
    public void ToString_Hex()
    {
        Assert.Equal("0x401000-0x40100a", new AddressRange(0x401000, 0x40100a).ToString());
    }
}
