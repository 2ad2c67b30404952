using System.Buffers.Binary;
using Iced.Intel;

namespace Hv.Linux.Tests.Support;

/// <summary>
/// Builds small static x86-64 ELF executables in memory: a read-only segment holding the headers at
/// <see cref="HeadersBase"/>, code (RX) at <see cref="CodeBase"/>, data (RW, with bss) at <see cref="DataBase"/>,
/// and a PT_GNU_STACK entry. Tests mutate the result to get malformed files.
/// </summary>
public sealed class ElfBuilder
{
    public const ulong HeadersBase = 0x40_0000;
    public const ulong CodeBase = 0x40_1000;
    public const ulong DataBase = 0x40_3000;
    public const int CodeOffset = 0x1000;
    public const int DataOffset = 0x2000;
    public const int InterpOffset = 0x300;
    public const int PhdrCount = 4;
    public const string Interpreter = "/lib64/ld-linux-x86-64.so.2";

    public byte[] Code { get; set; } = [0xF4]; // hlt
    public byte[] Data { get; set; } = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    public ulong DataMemorySize { get; set; } = 0x2100;
    public bool ExecutableStack { get; set; }
    public bool PositionIndependent { get; set; }

    /// <summary>Assembles <paramref name="build"/> at <see cref="CodeBase"/> as the code segment.</summary>
    public ElfBuilder WithCode(Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        var writer = new BytesWriter();
        a.Assemble(writer, CodeBase);
        Code = writer.ToArray();
        return this;
    }

    /// <summary>Assembles <paramref name="a"/> at <see cref="CodeBase"/> into <paramref name="builder"/>'s code, returning label addresses.</summary>
    public static AssemblerResult Assemble(ElfBuilder builder, Assembler a)
    {
        var writer = new BytesWriter();
        AssemblerResult result = a.Assemble(writer, CodeBase, BlockEncoderOptions.ReturnNewInstructionOffsets);
        builder.Code = writer.ToArray();
        return result;
    }

    public byte[] Build()
    {
        byte[] f = new byte[DataOffset + Data.Length];
        f[0] = 0x7F; f[1] = (byte)'E'; f[2] = (byte)'L'; f[3] = (byte)'F';
        f[4] = 2; f[5] = 1; f[6] = 1;
        U16(f, 16, (ushort)(PositionIndependent ? 3 : 2));
        U16(f, 18, 62);
        U32(f, 20, 1);
        U64(f, 24, CodeBase);
        U64(f, 32, 64);
        U16(f, 52, 64);
        U16(f, 54, 56);
        U16(f, 56, PhdrCount);
        Phdr(f, 0, 1, 4, 0, HeadersBase, (ulong)(64 + 56 * PhdrCount), (ulong)(64 + 56 * PhdrCount));
        Phdr(f, 1, 1, 5, CodeOffset, CodeBase, (ulong)Code.Length, (ulong)Code.Length);
        Phdr(f, 2, 1, 6, DataOffset, DataBase, (ulong)Data.Length, DataMemorySize);
        Phdr(f, 3, 0x6474_e551, ExecutableStack ? 7u : 6u, 0, 0, 0, 0);
        Code.CopyTo(f, CodeOffset);
        Data.CopyTo(f, DataOffset);
        System.Text.Encoding.ASCII.GetBytes(Interpreter).CopyTo(f, InterpOffset);
        return f;
    }

    /// <summary>Offset of program header <paramref name="index"/> in the file.</summary>
    public static int PhdrOffset(int index) => 64 + 56 * index;

    public static void Phdr(byte[] f, int index, uint type, uint flags, ulong offset, ulong vaddr, ulong filesz, ulong memsz, ulong align = 0x1000)
    {
        int o = PhdrOffset(index);
        U32(f, o, type);
        U32(f, o + 4, flags);
        U64(f, o + 8, offset);
        U64(f, o + 16, vaddr);
        U64(f, o + 24, vaddr);
        U64(f, o + 32, filesz);
        U64(f, o + 40, memsz);
        U64(f, o + 48, align);
    }

    public static void U16(byte[] f, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(o), v);
    public static void U32(byte[] f, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(o), v);
    public static void U64(byte[] f, int o, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(o), v);

    private sealed class BytesWriter : CodeWriter
    {
        private readonly List<byte> bytes = [];
        public override void WriteByte(byte value) => bytes.Add(value);
        public byte[] ToArray() => [.. bytes];
    }
}
