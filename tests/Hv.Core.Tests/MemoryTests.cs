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
