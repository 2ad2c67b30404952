using Hv.Core.Cpu;
using Hv.Core.Memory;
using Hv.Linux.Loading;
using Hv.Linux.Tests.Support;

namespace Hv.Linux.Tests;

public sealed class LoaderTests
{
    private static Dictionary<ulong, ulong> Auxv(AddressSpace m, ulong sp, int argc, int envc, out ulong auxStart)
    {
        auxStart = sp + 8 + (ulong)(argc + 1 + envc + 1) * 8;
        var aux = new Dictionary<ulong, ulong>();
        for (ulong p = auxStart; ; p += 16)
        {
            ulong key = Guest.Read64(m, p);
            aux[key] = Guest.Read64(m, p + 8);
            if (key == ImageLoader.AtNull) break;
        }
        return aux;
    }

    [Fact]
    public void Load_InitialStack_MatchesKernelLayout()
    {
        var env = new List<KeyValuePair<string, string>> { new("A", "1"), new("PATH", "/bin"), new("EMPTY", "") };
        GuestProcess p = Guest.Create(new ElfBuilder().Build(), ["-c", "héllo"], env, path: "./prog");
        AddressSpace m = p.Machine.AddressSpace;
        CpuState s = p.Machine.Cpu.State;
        ulong sp = s[Gpr.Rsp];

        Assert.Equal(0UL, sp % 16);
        Assert.Equal(ElfBuilder.CodeBase, s.Rip);
        Assert.Equal(0UL, s[Gpr.Rdx]);
        Assert.Equal(3UL, Guest.Read64(m, sp));
        Assert.Equal("./prog", Guest.ReadString(m, Guest.Read64(m, sp + 8)));
        Assert.Equal("-c", Guest.ReadString(m, Guest.Read64(m, sp + 16)));
        Assert.Equal("héllo", Guest.ReadString(m, Guest.Read64(m, sp + 24)));
        Assert.Equal(0UL, Guest.Read64(m, sp + 32));
        Assert.Equal("A=1", Guest.ReadString(m, Guest.Read64(m, sp + 40)));
        Assert.Equal("PATH=/bin", Guest.ReadString(m, Guest.Read64(m, sp + 48)));
        Assert.Equal("EMPTY=", Guest.ReadString(m, Guest.Read64(m, sp + 56)));
        Assert.Equal(0UL, Guest.Read64(m, sp + 64));

        Dictionary<ulong, ulong> aux = Auxv(m, sp, 3, 3, out _);
        Assert.Equal(ElfBuilder.HeadersBase + 64, aux[ImageLoader.AtPhdr]);
        Assert.Equal(56UL, aux[ImageLoader.AtPhent]);
        Assert.Equal((ulong)ElfBuilder.PhdrCount, aux[ImageLoader.AtPhnum]);
        Assert.Equal(4096UL, aux[ImageLoader.AtPagesz]);
        Assert.Equal(0UL, aux[ImageLoader.AtBase]);
        Assert.Equal(ElfBuilder.CodeBase, aux[ImageLoader.AtEntry]);
        Assert.Equal(100UL, aux[ImageLoader.AtClktck]);
        Assert.Equal(0UL, aux[ImageLoader.AtSecure]);
        Assert.Equal((ulong)ImageLoader.HwCap, aux[ImageLoader.AtHwcap]);
        Assert.Equal(0UL, aux[ImageLoader.AtHwcap2]);
        Assert.Equal((ulong)p.Kernel.Ids.Uid, aux[ImageLoader.AtUid]);
        Assert.Equal((ulong)p.Kernel.Ids.Egid, aux[ImageLoader.AtEgid]);
        Assert.Equal("./prog", Guest.ReadString(m, aux[ImageLoader.AtExecfn]));
        Assert.Equal("x86_64", Guest.ReadString(m, aux[ImageLoader.AtPlatform]));
        Assert.True(aux.ContainsKey(ImageLoader.AtMinsigstksz));
        Assert.False(aux.ContainsKey(33)); // no AT_SYSINFO_EHDR: there is no vDSO
        ulong random = aux[ImageLoader.AtRandom];
        Assert.True(random > sp && random < ImageLoader.StackTop);
        // Strings sit at the top of the stack, the file name last.
        Assert.True(aux[ImageLoader.AtExecfn] > Guest.Read64(m, sp + 56));
        Assert.Equal(0x0780_8111u, 0x0780_8111u & ImageLoader.HwCap); // FPU TSC CX8 CMOV MMX FXSR SSE SSE2
    }

    [Fact]
    public void Load_Segments_HaveElfPermissions()
    {
        GuestProcess p = Guest.Create(new ElfBuilder().Build());
        AddressSpace m = p.Machine.AddressSpace;
        Assert.Equal(PagePermissions.Read, m.FindRegion(ElfBuilder.HeadersBase)!.Permissions);
        Assert.Equal(PagePermissions.ReadExecute, m.FindRegion(ElfBuilder.CodeBase)!.Permissions);
        Assert.Equal(PagePermissions.ReadWrite, m.FindRegion(ElfBuilder.DataBase)!.Permissions);
        Assert.Equal(PagePermissions.ReadWrite, m.FindRegion(p.Machine.Cpu.State[Gpr.Rsp])!.Permissions);
        Assert.Null(m.FindRegion(ElfBuilder.CodeBase + 0x1000)); // the gap between code and data stays unmapped
    }

    [Fact]
    public void Load_ExecutableGnuStack_StackIsExecutable()
    {
        GuestProcess p = Guest.Create(new ElfBuilder { ExecutableStack = true }.Build());
        Assert.Equal(PagePermissions.All, p.Machine.AddressSpace.FindRegion(p.Machine.Cpu.State[Gpr.Rsp])!.Permissions);
    }

    [Fact]
    public void Load_DataAndBss_CopiedAndZeroed()
    {
        GuestProcess p = Guest.Create(new ElfBuilder().Build());
        AddressSpace m = p.Machine.AddressSpace;
        Assert.Equal(0x0807060504030201UL, Guest.Read64(m, ElfBuilder.DataBase));
        Assert.Equal(0x100F0E0D0C0B0A09UL, Guest.Read64(m, ElfBuilder.DataBase + 8));
        for (ulong a = ElfBuilder.DataBase + 16; a < ElfBuilder.DataBase + 0x2100; a += 8) Assert.Equal(0UL, Guest.Read64(m, a));
        // The code page's tail after the last file byte is zero too.
        Assert.Equal(0UL, Guest.Read64(m, ElfBuilder.CodeBase + 8));
    }

    [Fact]
    public void Load_Brk_IsPageAlignedEndOfImage()
    {
        GuestProcess p = Guest.Create(new ElfBuilder().Build());
        Assert.Equal(0x40_6000UL, p.Kernel.BrkStart);
        Assert.Equal(p.Kernel.BrkStart, p.Kernel.BrkCurrent);
        Assert.Equal(ImageLoader.StackTop, p.Kernel.StackTop);
    }

    [Fact]
    public void Load_StaticPie_PlacedAtKernelBase()
    {
        GuestProcess p = Guest.Create(new ElfBuilder { PositionIndependent = true }.Build());
        ulong bias = ImageLoader.PieBase - ElfBuilder.HeadersBase;
        Assert.Equal(bias, p.Loaded.LoadBias);
        Assert.Equal(bias + ElfBuilder.CodeBase, p.Machine.Cpu.State.Rip);
        Assert.Equal(PagePermissions.ReadExecute, p.Machine.AddressSpace.FindRegion(bias + ElfBuilder.CodeBase)!.Permissions);
        Assert.Equal(AddressSpace.PageAlignUp(bias + ElfBuilder.DataBase + 0x2100), p.Kernel.BrkStart);
    }

    [Fact]
    public void Load_SharedBoundaryPage_GetsBothPermissions()
    {
        // Data starting on the code segment's last page (allowed when they don't overlap in bytes).
        var b = new ElfBuilder();
        byte[] f = b.Build();
        ElfBuilder.Phdr(f, 2, 1, 6, ElfBuilder.CodeOffset + 0x800, ElfBuilder.CodeBase + 0x800, 0, 0x100);
        GuestProcess p = Guest.Create(f);
        Assert.Equal(PagePermissions.All, p.Machine.AddressSpace.FindRegion(ElfBuilder.CodeBase)!.Permissions);
    }

    [Fact]
    public void TryCreate_MissingFile_NotFound()
    {
        Assert.False(GuestProcess.TryCreate(Hv.Core.HvOptions.Default, "/nonexistent/prog", [], [], GuestStdio.Host,
            out GuestProcess? p, out LoadError error));
        Assert.Null(p);
        Assert.Equal(LoadErrorKind.NotFound, error.Kind);
    }

    [Fact]
    public void TryCreate_HugeEnvironment_Refused()
    {
        var env = new List<KeyValuePair<string, string>> { new("BIG", new string('x', 3 << 20)) };
        Assert.False(GuestProcess.TryCreate(Hv.Core.HvOptions.Default, new ElfBuilder().Build(), "p", [], env, GuestStdio.Host,
            out _, out LoadError error));
        Assert.Equal(LoadErrorKind.BadArguments, error.Kind);
        Assert.StartsWith("argument list too long", error.Message);
    }
}
