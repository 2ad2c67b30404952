using Hv.Linux.Elf;
using Hv.Linux.Tests.Support;

namespace Hv.Linux.Tests;

public sealed class ElfImageTests
{
    private static byte[] Valid() => new ElfBuilder().Build();

    private static string Error(byte[] file)
    {
        Assert.False(ElfImage.TryParse(file, out ElfImage? image, out string? error));
        Assert.Null(image);
        return error!;
    }

    [Fact]
    public void TryParse_ValidStaticExecutable_ExposesSegments()
    {
        Assert.True(ElfImage.TryParse(Valid(), out ElfImage? image, out string? error), error);
        Assert.False(image!.IsPositionIndependent);
        Assert.Equal(ElfBuilder.CodeBase, image.Entry);
        Assert.Equal(ElfBuilder.PhdrCount, image.Segments.Count);
        Assert.Equal(ElfBuilder.HeadersBase + 64, image.ProgramHeaderAddress);
        Assert.False(image.ExecutableStack);
        Assert.Equal(ElfBuilder.DataBase + 0x2100, image.HighestAddress);
    }

    [Fact]
    public void TryParse_StaticPie_IsPositionIndependent()
    {
        Assert.True(ElfImage.TryParse(new ElfBuilder { PositionIndependent = true }.Build(), out ElfImage? image, out _));
        Assert.True(image!.IsPositionIndependent);
    }

    [Fact]
    public void TryParse_Empty_BadMagic() => Assert.Equal("not an ELF file (bad magic)", Error([]));

    [Fact]
    public void TryParse_TruncatedHeader_ReportsLength() =>
        Assert.Equal("truncated ELF header (40 bytes, need 64)", Error(Valid()[..40]));

    [Fact]
    public void TryParse_BadMagic_Refused()
    {
        byte[] f = Valid();
        f[1] = (byte)'X';
        Assert.Equal("not an ELF file (bad magic)", Error(f));
    }

    [Fact]
    public void TryParse_Class32_Refused()
    {
        byte[] f = Valid();
        f[4] = 1;
        Assert.Equal("32-bit ELF (ELFCLASS32); only x86-64 (ELFCLASS64) is supported", Error(f));
    }

    [Fact]
    public void TryParse_BigEndian_Refused()
    {
        byte[] f = Valid();
        f[5] = 2;
        Assert.Equal("big-endian ELF (ELFDATA2MSB); only little-endian x86-64 is supported", Error(f));
    }

    [Fact]
    public void TryParse_Relocatable_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.U16(f, 16, 1);
        Assert.Equal("relocatable object file (ET_REL), not an executable", Error(f));
    }

    [Fact]
    public void TryParse_WrongMachine_NamesIt()
    {
        byte[] f = Valid();
        ElfBuilder.U16(f, 18, 183);
        Assert.Equal("wrong architecture: AArch64 (e_machine 183); only x86-64 is supported", Error(f));
    }

    [Fact]
    public void TryParse_BadHeaderSize_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.U16(f, 52, 52);
        Assert.Equal("bad ELF header size 52 (expected 64)", Error(f));
    }

    [Fact]
    public void TryParse_BadProgramHeaderSize_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.U16(f, 54, 32);
        Assert.Equal("bad program header size 32 (expected 56)", Error(f));
    }

    [Fact]
    public void TryParse_Interpreter_SaysLinkStatic()
    {
        byte[] f = Valid();
        ElfBuilder.Phdr(f, 3, 3, 4, ElfBuilder.InterpOffset, 0x400300, (ulong)ElfBuilder.Interpreter.Length + 1, (ulong)ElfBuilder.Interpreter.Length + 1, 1);
        Assert.Equal("dynamically linked (PT_INTERP /lib64/ld-linux-x86-64.so.2); link with -static", Error(f));
    }

    [Fact]
    public void TryParse_ProgramHeadersOutsideFile_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.U64(f, 32, (ulong)f.Length - 100);
        Assert.Equal($"program headers outside the file (offset 0x{f.Length - 100:x}, 4 entries, file is {f.Length} bytes)", Error(f));
    }

    [Fact]
    public void TryParse_HugeProgramHeaderCount_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.U16(f, 56, 0xFFFF);
        Assert.Equal("too many program headers (65535, at most 1170)", Error(f));
    }

    [Fact]
    public void TryParse_NoProgramHeaders_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.U16(f, 56, 0);
        Assert.Equal("no program headers", Error(f));
    }

    [Fact]
    public void TryParse_MisalignedSegment_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.Phdr(f, 2, 1, 6, ElfBuilder.DataOffset, ElfBuilder.DataBase + 8, 16, 0x2100);
        Assert.Equal("segment 2: misaligned (offset 0x2000 and address 0x403008 differ modulo the page size)", Error(f));
    }

    [Fact]
    public void TryParse_FileSizeAboveMemorySize_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.Phdr(f, 2, 1, 6, ElfBuilder.DataOffset, ElfBuilder.DataBase, 16, 8);
        Assert.Equal("segment 2: file size 0x10 exceeds memory size 0x8", Error(f));
    }

    [Fact]
    public void TryParse_TruncatedFile_SegmentOutsideFile()
    {
        byte[] f = Valid()[..0x2008];
        Assert.Equal("segment 2: file data (offset 0x2000, size 0x10) outside the file (8200 bytes)", Error(f));
    }

    [Fact]
    public void TryParse_OverlappingSegments_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.Phdr(f, 2, 1, 6, ElfBuilder.CodeOffset, ElfBuilder.CodeBase, 1, 0x100);
        Assert.Equal("segment 2: overlaps or precedes the previous loadable segment (0x401000 < 0x401001)", Error(f));
    }

    [Fact]
    public void TryParse_SegmentBeyond47Bits_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.Phdr(f, 2, 1, 6, ElfBuilder.DataOffset, 0x7FFF_FFFF_F000, 16, 0x2000);
        Assert.Equal("segment 2: 0x7ffffffff000+0x2000 is outside the 47-bit address space", Error(f));
    }

    [Fact]
    public void TryParse_EntryInDataSegment_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.U64(f, 24, ElfBuilder.DataBase);
        Assert.Equal("entry point 0x403000 is not inside an executable segment", Error(f));
    }

    [Fact]
    public void TryParse_BadAlignment_Refused()
    {
        byte[] f = Valid();
        ElfBuilder.Phdr(f, 2, 1, 6, ElfBuilder.DataOffset, ElfBuilder.DataBase, 16, 0x2100, 0x3000);
        Assert.Equal("segment 2: alignment 0x3000 is not a power of two", Error(f));
    }

    [Fact]
    public void TryParse_ExecutableGnuStack_Reported()
    {
        Assert.True(ElfImage.TryParse(new ElfBuilder { ExecutableStack = true }.Build(), out ElfImage? image, out _));
        Assert.True(image!.ExecutableStack);
    }

    [Fact]
    public void TryParse_RandomCorruption_NeverThrows()
    {
        byte[] valid = Valid();
        var random = new Random(1234);
        int accepted = 0;
        for (int i = 0; i < 3000; i++)
        {
            byte[] f = (byte[])valid.Clone();
            int flips = random.Next(1, 6);
            for (int j = 0; j < flips; j++)
            {
                // Mostly header and program headers, where the interesting fields are.
                int at = random.Next(4) == 0 ? random.Next(f.Length) : random.Next(64 + 56 * ElfBuilder.PhdrCount);
                f[at] = (byte)random.Next(256);
            }
            if (random.Next(8) == 0) f = f[..random.Next(f.Length)];
            bool ok = ElfImage.TryParse(f, out ElfImage? image, out string? error);
            Assert.Equal(ok, image is not null);
            Assert.Equal(ok, error is null);
            if (ok) accepted++;
        }
        Assert.InRange(accepted, 1, 2999);
    }
}
