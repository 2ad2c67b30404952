using System.Buffers.Binary;
using System.Text;
using Hv.Core.Cpu;

namespace Hv.Core.Debugging.Gdb;

/// <summary>
/// The x86-64 register file as gdb sees it: the order of the <c>g</c> packet (and <c>p</c>/<c>P</c> numbers)
/// is the order of the target description, which <see cref="TargetXml"/> builds from the same table.
/// </summary>
internal static class GdbRegisters
{
    private enum Source : byte { Gpr, Rip, Eflags, Segment, FsBase, GsBase, St, X87Control, Xmm, Mxcsr }

    private readonly record struct Register(string Name, int Size, string Type, string Feature, Source Source, int Index, string? Group = null);

    private const string Core = "org.gnu.gdb.i386.core", Sse = "org.gnu.gdb.i386.sse", Segments = "org.gnu.gdb.i386.segments";

    // gdb's amd64 order of the general registers, as indices into CpuState.Gpr.
    private static readonly (string Name, Gpr Gpr)[] GeneralRegisters =
    [
        ("rax", Gpr.Rax), ("rbx", Gpr.Rbx), ("rcx", Gpr.Rcx), ("rdx", Gpr.Rdx), ("rsi", Gpr.Rsi), ("rdi", Gpr.Rdi),
        ("rbp", Gpr.Rbp), ("rsp", Gpr.Rsp), ("r8", Gpr.R8), ("r9", Gpr.R9), ("r10", Gpr.R10), ("r11", Gpr.R11),
        ("r12", Gpr.R12), ("r13", Gpr.R13), ("r14", Gpr.R14), ("r15", Gpr.R15),
    ];

    // Selectors a Linux x86-64 process sees: user CS 0x33, SS 0x2b, the others null.
    private static readonly (string Name, uint Value)[] SegmentSelectors = [("cs", 0x33), ("ss", 0x2b), ("ds", 0), ("es", 0), ("fs", 0), ("gs", 0)];

    private static readonly string[] X87ControlNames = ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"];

    private static readonly Register[] Table = BuildTable();

    private static readonly int[] Offsets = BuildOffsets();

    /// <summary>Bytes in a <c>g</c> packet.</summary>
    public static readonly int TotalSize = Offsets[^1] + Table[^1].Size;

    /// <summary>Number of registers.</summary>
    public static int Count => Table.Length;

    private static Register[] BuildTable()
    {
        var t = new List<Register>();
        for (int i = 0; i < GeneralRegisters.Length; i++)
            t.Add(new(GeneralRegisters[i].Name, 8, i is 6 or 7 ? "data_ptr" : "int64", Core, Source.Gpr, (int)GeneralRegisters[i].Gpr, "general"));
        t.Add(new("rip", 8, "code_ptr", Core, Source.Rip, 0, "general"));
        t.Add(new("eflags", 4, "hv_eflags", Core, Source.Eflags, 0, "general"));
        for (int i = 0; i < SegmentSelectors.Length; i++) t.Add(new(SegmentSelectors[i].Name, 4, "int32", Core, Source.Segment, i, "general"));
        for (int i = 0; i < 8; i++) t.Add(new($"st{i}", 10, "i387_ext", Core, Source.St, i, "float"));
        for (int i = 0; i < X87ControlNames.Length; i++) t.Add(new(X87ControlNames[i], 4, "int", Core, Source.X87Control, i, "float"));
        for (int i = 0; i < 16; i++) t.Add(new($"xmm{i}", 16, "hv_vec128", Sse, Source.Xmm, i, "vector"));
        t.Add(new("mxcsr", 4, "hv_mxcsr", Sse, Source.Mxcsr, 0, "vector"));
        t.Add(new("fs_base", 8, "int", Segments, Source.FsBase, 0));
        t.Add(new("gs_base", 8, "int", Segments, Source.GsBase, 0));
        return [.. t];
    }

    private static int[] BuildOffsets()
    {
        var offsets = new int[Table.Length];
        int total = 0;
        for (int i = 0; i < Table.Length; i++)
        {
            offsets[i] = total;
            total += Table[i].Size;
        }
        return offsets;
    }

    /// <summary>Size in bytes of register <paramref name="number"/>, or 0 if there is no such register.</summary>
    public static int SizeOf(int number) => number >= 0 && number < Table.Length ? Table[number].Size : 0;

    /// <summary>All registers in <c>g</c> packet order.</summary>
    public static byte[] ReadAll(CpuState state)
    {
        var bytes = new byte[TotalSize];
        for (int i = 0; i < Table.Length; i++) Read(state, i, bytes.AsSpan(Offsets[i], Table[i].Size));
        return bytes;
    }

    /// <summary>Writes every register from a <c>G</c> packet's bytes (which must be <see cref="TotalSize"/> long).</summary>
    public static void WriteAll(CpuState state, ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < Table.Length; i++) Write(state, i, bytes.Slice(Offsets[i], Table[i].Size));
    }

    /// <summary>Reads register <paramref name="number"/> (little-endian) into <paramref name="value"/> (<see cref="SizeOf"/> bytes).</summary>
    public static void Read(CpuState state, int number, Span<byte> value)
    {
        Register r = Table[number];
        Span<byte> fx = state.Fpu.Area;
        switch (r.Source)
        {
            case Source.Gpr: BinaryPrimitives.WriteUInt64LittleEndian(value, state.Gpr[r.Index]); break;
            case Source.Rip: BinaryPrimitives.WriteUInt64LittleEndian(value, state.Rip); break;
            case Source.Eflags: BinaryPrimitives.WriteUInt32LittleEndian(value, (uint)state.RFlags); break;
            case Source.Segment: BinaryPrimitives.WriteUInt32LittleEndian(value, SegmentSelectors[r.Index].Value); break;
            case Source.FsBase: BinaryPrimitives.WriteUInt64LittleEndian(value, state.FsBase); break;
            case Source.GsBase: BinaryPrimitives.WriteUInt64LittleEndian(value, state.GsBase); break;
            case Source.St: fx.Slice(FpuState.StOffset + 16 * r.Index, 10).CopyTo(value); break;
            case Source.X87Control: BinaryPrimitives.WriteUInt32LittleEndian(value, ReadX87Control(fx, r.Index)); break;
            case Source.Xmm: fx.Slice(FpuState.XmmOffset + 16 * r.Index, 16).CopyTo(value); break;
            default: BinaryPrimitives.WriteUInt32LittleEndian(value, state.Fpu.Mxcsr); break;
        }
    }

    /// <summary>Writes register <paramref name="number"/> from <see cref="SizeOf"/> little-endian bytes. Selectors are fixed and ignore writes.</summary>
    public static void Write(CpuState state, int number, ReadOnlySpan<byte> value)
    {
        Register r = Table[number];
        Span<byte> fx = state.Fpu.Area;
        switch (r.Source)
        {
            case Source.Gpr: state.Gpr[r.Index] = BinaryPrimitives.ReadUInt64LittleEndian(value); break;
            case Source.Rip: state.Rip = BinaryPrimitives.ReadUInt64LittleEndian(value); break;
            case Source.Eflags: state.RFlags = BinaryPrimitives.ReadUInt32LittleEndian(value); break;
            case Source.Segment: break;
            case Source.FsBase: state.FsBase = BinaryPrimitives.ReadUInt64LittleEndian(value); break;
            case Source.GsBase: state.GsBase = BinaryPrimitives.ReadUInt64LittleEndian(value); break;
            case Source.St: value.CopyTo(fx.Slice(FpuState.StOffset + 16 * r.Index, 10)); break;
            case Source.X87Control: WriteX87Control(fx, r.Index, BinaryPrimitives.ReadUInt32LittleEndian(value)); break;
            case Source.Xmm: value.CopyTo(fx.Slice(FpuState.XmmOffset + 16 * r.Index, 16)); break;
            default: state.Fpu.Mxcsr = BinaryPrimitives.ReadUInt32LittleEndian(value); break;
        }
    }

    // FXSAVE keeps FCW, FSW, an abridged tag byte, FOP, FIP (offset 8: offset, 12: selector) and FDP (16, 20).
    private static uint ReadX87Control(ReadOnlySpan<byte> fx, int index) => index switch
    {
        0 => BinaryPrimitives.ReadUInt16LittleEndian(fx[FpuState.FcwOffset..]),
        1 => BinaryPrimitives.ReadUInt16LittleEndian(fx[FpuState.FswOffset..]),
        2 => FullTagWord(fx),
        3 => BinaryPrimitives.ReadUInt16LittleEndian(fx[12..]),
        4 => BinaryPrimitives.ReadUInt32LittleEndian(fx[8..]),
        5 => BinaryPrimitives.ReadUInt16LittleEndian(fx[20..]),
        6 => BinaryPrimitives.ReadUInt32LittleEndian(fx[16..]),
        _ => BinaryPrimitives.ReadUInt16LittleEndian(fx[6..]) & 0x7FFu,
    };

    private static void WriteX87Control(Span<byte> fx, int index, uint v)
    {
        switch (index)
        {
            case 0: BinaryPrimitives.WriteUInt16LittleEndian(fx[FpuState.FcwOffset..], (ushort)v); break;
            case 1: BinaryPrimitives.WriteUInt16LittleEndian(fx[FpuState.FswOffset..], (ushort)v); break;
            case 2:
                byte abridged = 0;
                for (int p = 0; p < 8; p++) if (((v >> (2 * p)) & 3) != 3) abridged |= (byte)(1 << p);
                fx[FpuState.FtwOffset] = abridged;
                break;
            case 3: BinaryPrimitives.WriteUInt16LittleEndian(fx[12..], (ushort)v); break;
            case 4: BinaryPrimitives.WriteUInt32LittleEndian(fx[8..], v); break;
            case 5: BinaryPrimitives.WriteUInt16LittleEndian(fx[20..], (ushort)v); break;
            case 6: BinaryPrimitives.WriteUInt32LittleEndian(fx[16..], v); break;
            default: BinaryPrimitives.WriteUInt16LittleEndian(fx[6..], (ushort)(v & 0x7FF)); break;
        }
    }

    /// <summary>The full x87 tag word (2 bits per physical register: valid, zero, special, empty) from FXSAVE's abridged one.</summary>
    private static uint FullTagWord(ReadOnlySpan<byte> fx)
    {
        int top = (BinaryPrimitives.ReadUInt16LittleEndian(fx[FpuState.FswOffset..]) >> 11) & 7;
        byte abridged = fx[FpuState.FtwOffset];
        uint tags = 0;
        for (int p = 0; p < 8; p++)
        {
            uint tag = 3;
            if ((abridged & (1 << p)) != 0)
            {
                ReadOnlySpan<byte> st = fx.Slice(FpuState.StOffset + 16 * ((p - top) & 7), 10);
                ulong mantissa = BinaryPrimitives.ReadUInt64LittleEndian(st);
                int exponent = BinaryPrimitives.ReadUInt16LittleEndian(st[8..]) & 0x7FFF;
                tag = exponent == 0x7FFF || (exponent != 0 && (mantissa >> 63) == 0) ? 2u
                    : exponent == 0 ? (mantissa == 0 ? 1u : 2u)
                    : 0u;
            }
            tags |= tag << (2 * p);
        }
        return tags;
    }

    private static string BuildTargetXml()
    {
        var sb = new StringBuilder();
        sb.Append("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n");
        sb.Append("<architecture>i386:x86-64</architecture>\n<osabi>GNU/Linux</osabi>\n");
        string? feature = null;
        for (int i = 0; i < Table.Length; i++)
        {
            Register r = Table[i];
            if (r.Feature != feature)
            {
                if (feature is not null) sb.Append("</feature>\n");
                feature = r.Feature;
                sb.Append($"<feature name=\"{feature}\">\n");
                if (feature == Core) sb.Append(EflagsType);
                if (feature == Sse) sb.Append(SseTypes);
            }
            sb.Append($"<reg name=\"{r.Name}\" bitsize=\"{8 * r.Size}\" type=\"{r.Type}\" regnum=\"{i}\"");
            if (r.Group is not null) sb.Append($" group=\"{r.Group}\"");
            sb.Append("/>\n");
        }
        sb.Append("</feature>\n</target>\n");
        return sb.ToString();
    }

    private static string Flags(string id, (string Name, int Bit)[] fields)
    {
        var sb = new StringBuilder($"<flags id=\"{id}\" size=\"4\">");
        foreach (var (name, bit) in fields) sb.Append($"<field name=\"{name}\" start=\"{bit}\" end=\"{bit}\"/>");
        return sb.Append("</flags>\n").ToString();
    }

    private static readonly string EflagsType = Flags("hv_eflags",
    [
        ("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9), ("DF", 10), ("OF", 11),
        ("NT", 14), ("RF", 16), ("VM", 17), ("AC", 18), ("VIF", 19), ("VIP", 20), ("ID", 21),
    ]);

    private static readonly string SseTypes =
        "<vector id=\"hv_v4f\" type=\"ieee_single\" count=\"4\"/>\n<vector id=\"hv_v2d\" type=\"ieee_double\" count=\"2\"/>\n" +
        "<vector id=\"hv_v16i8\" type=\"int8\" count=\"16\"/>\n<vector id=\"hv_v8i16\" type=\"int16\" count=\"8\"/>\n" +
        "<vector id=\"hv_v4i32\" type=\"int32\" count=\"4\"/>\n<vector id=\"hv_v2i64\" type=\"int64\" count=\"2\"/>\n" +
        "<union id=\"hv_vec128\"><field name=\"v4_float\" type=\"hv_v4f\"/><field name=\"v2_double\" type=\"hv_v2d\"/>" +
        "<field name=\"v16_int8\" type=\"hv_v16i8\"/><field name=\"v8_int16\" type=\"hv_v8i16\"/>" +
        "<field name=\"v4_int32\" type=\"hv_v4i32\"/><field name=\"v2_int64\" type=\"hv_v2i64\"/>" +
        "<field name=\"uint128\" type=\"uint128\"/></union>\n" +
        Flags("hv_mxcsr",
        [
            ("IE", 0), ("DE", 1), ("ZE", 2), ("OE", 3), ("UE", 4), ("PE", 5), ("DAZ", 6), ("IM", 7), ("DM", 8), ("ZM", 9),
            ("OM", 10), ("UM", 11), ("PM", 12), ("FZ", 15),
        ]);

    /// <summary>Register number of rip (for tests).</summary>
    public static int RipNumber => Array.FindIndex(Table, r => r.Source == Source.Rip);

    // Last: static initializers run in textual order and this one needs the type strings above.
    /// <summary>The target description gdb reads with <c>qXfer:features:read:target.xml</c>.</summary>
    public static readonly string TargetXml = BuildTargetXml();
}
