using Hv.Core.Execution;
using Hv.Core.Memory;

namespace Hv.Core.Tests;

public sealed class MemoryTests
{
    [Fact]
    public void ReadWrite_StraddlingPages_RoundTrips()
    {
        var space = new AddressSpace();
        space.Map(0x10000, 0x2000, PagePermissions.ReadWrite, "t");
        var mem = new GuestMemory(space);
        mem.Write64(0x10FFC, 0x1122334455667788);
        Assert.Equal(0x1122334455667788UL, mem.Read64(0x10FFC));
        Assert.Equal(0x55667788u, mem.Read32(0x10FFC));
        Assert.Equal(0x11223344u, mem.Read32(0x11000));
    }

    /// <summary>Consecutive pages never share a TLB slot (translated code's one-compare page check relies on it).</summary>
    [Theory]
    [InlineData(0UL)]
    [InlineData(0x7FFUL)]                        // a carry out of the low ten bits
    [InlineData((511UL << 10) | 1023)]           // where a plain xor of the two ten-bit halves would collide
    [InlineData(0x7FFF_FFFF_EUL)]
    [InlineData(ulong.MaxValue >> 12)]
    public void TlbIndex_NextPage_OtherSlot(ulong vpn)
    {
        for (ulong v = vpn - Math.Min(vpn, 2048); v < vpn + 2048 && v < ulong.MaxValue >> 12; v++)
            Assert.NotEqual(SoftTlb.Index(v), SoftTlb.Index(v + 1));
    }

    /// <summary>
    /// The stack's top page and the first mmap below the stack sit just under round addresses with equal low
    /// page bits: they must not evict each other (every access to one used to take the slow path).
    /// </summary>
    [Fact]
    public void Tlb_StackTopAndMmapBelowIt_BothStayCached()
    {
        const ulong stackPage = 0x7FFF_FFFF_E000, mmapPage = 0x7FFF_EF7F_E000;
        var space = new AddressSpace();
        space.Map(stackPage, 0x1000, PagePermissions.ReadWrite, "[stack]");
        space.Map(mmapPage, 0x1000, PagePermissions.ReadWrite, "mmap");
        var mem = new GuestMemory(space);
        mem.Write64(stackPage + 8, 1);
        mem.Write64(mmapPage + 8, 2);
        Assert.Equal(1UL, mem.Read64(stackPage + 8));
        Assert.Equal(2UL, mem.Read64(mmapPage + 8));
        Assert.Equal(stackPage >> 12, mem.Tlb.Read[SoftTlb.Index(stackPage >> 12)].Vpn);
        Assert.Equal(mmapPage >> 12, mem.Tlb.Read[SoftTlb.Index(mmapPage >> 12)].Vpn);
    }

    [Fact]
    public void Write_ToReadOnlyPage_FaultsWithProtection()
    {
        var space = new AddressSpace();
        space.Map(0x10000, 0x1000, PagePermissions.Read, "ro");
        var mem = new GuestMemory(space);
        var e = Assert.Throws<GuestFaultException>(() => mem.Write8(0x10010, 1));
        Assert.Equal(FaultKind.PageProtection, e.Fault.Kind);
        Assert.Equal(0x10010UL, e.Fault.Address);
        Assert.Equal(AccessKind.Write, e.Fault.Access);
    }

    [Fact]
    public void StraddlingWrite_SecondPageReadOnly_LeavesFirstPageUnchanged()
    {
        var space = new AddressSpace();
        space.Map(0x10000, 0x1000, PagePermissions.ReadWrite, "rw");
        space.Map(0x11000, 0x1000, PagePermissions.Read, "ro");
        var mem = new GuestMemory(space);
        Assert.Throws<GuestFaultException>(() => mem.Write64(0x10FFC, ulong.MaxValue));
        Assert.Equal(0u, mem.Read32(0x10FFC));
    }

    [Theory]
    [InlineData(0x0UL)]
    [InlineData(0x7FFF_FFFF_F000UL)]
    [InlineData(0xFFFF_FFFF_FFFF_FFF0UL)]
    [InlineData(0x8000_0000_0000UL)]
    public void Read_WildAddress_FaultsNeverHostException(ulong address)
    {
        var mem = new GuestMemory(new AddressSpace());
        var e = Assert.Throws<GuestFaultException>(() => mem.Read64(address));
        Assert.True(e.Fault.Kind is FaultKind.PageNotMapped or FaultKind.GeneralProtection);
    }

    [Fact]
    public void Protect_DropsTlbEntries()
    {
        var space = new AddressSpace();
        space.Map(0x10000, 0x1000, PagePermissions.ReadWrite, "rw");
        var mem = new GuestMemory(space);
        mem.Write8(0x10000, 7); // fills the write TLB entry
        Assert.True(space.Protect(0x10000, 0x1000, PagePermissions.Read));
        Assert.Throws<GuestFaultException>(() => mem.Write8(0x10000, 8));
        Assert.Equal(7, mem.Read8(0x10000));
    }

    [Fact]
    public void SharedObject_TwoMappings_SeeSameBytes()
    {
        var space = new AddressSpace();
        var shared = new SharedMemoryObject(0x1000);
        space.Map(0x10000, 0x1000, PagePermissions.ReadWrite, "rw", shared);
        space.Map(0x20000, 0x1000, PagePermissions.ReadExecute, "rx", shared);
        var mem = new GuestMemory(space);
        mem.Write32(0x10010, 0xCAFEBABE);
        Assert.Equal(0xCAFEBABEu, mem.Read32(0x20010));
    }

    [Fact]
    public void Unmap_MiddleOfRegion_SplitsIt()
    {
        var space = new AddressSpace();
        space.Map(0x10000, 0x3000, PagePermissions.ReadWrite, "rw");
        space.Unmap(0x11000, 0x1000);
        Assert.Equal(2, space.Regions.Count);
        Assert.False(space.IsFullyMapped(0x10000, 0x13000));
        Assert.True(space.TryFindFree(0x1000, 0x10000, 0x13000, out ulong free));
        Assert.Equal(0x11000UL, free);
    }
}
