using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace Hv.Linux.Elf;

/// <summary>ELF program header types Hv looks at.</summary>
public enum ElfSegmentType : uint
{
    /// <summary>Unused entry.</summary>
    Null = 0,
    /// <summary>A loadable segment.</summary>
    Load = 1,
    /// <summary>Dynamic linking information.</summary>
    Dynamic = 2,
    /// <summary>The program interpreter (dynamic linker) path.</summary>
    Interp = 3,
    /// <summary>Auxiliary notes.</summary>
    Note = 4,
    /// <summary>The program header table itself.</summary>
    Phdr = 6,
    /// <summary>Thread-local storage template.</summary>
    Tls = 7,
    /// <summary>Stack executability (GNU extension).</summary>
    GnuStack = 0x6474_e551,
}

/// <summary>Segment permission bits (p_flags).</summary>
[Flags]
public enum ElfSegmentFlags : uint
{
    /// <summary>No access.</summary>
    None = 0,
    /// <summary>Executable.</summary>
    Execute = 1,
    /// <summary>Writable.</summary>
    Write = 2,
    /// <summary>Readable.</summary>
    Read = 4,
}

/// <summary>One program header.</summary>
/// <param name="Type">p_type.</param>
/// <param name="Flags">p_flags.</param>
/// <param name="Offset">p_offset: where the segment's bytes start in the file.</param>
/// <param name="VirtualAddress">p_vaddr (before the static-PIE load bias).</param>
/// <param name="FileSize">p_filesz.</param>
/// <param name="MemorySize">p_memsz.</param>
/// <param name="Alignment">p_align.</param>
public readonly record struct ElfSegment(ElfSegmentType Type, ElfSegmentFlags Flags, ulong Offset, ulong VirtualAddress,
    ulong FileSize, ulong MemorySize, ulong Alignment);

/// <summary>
/// A validated static x86-64 ELF executable (ET_EXEC, or ET_DYN without PT_INTERP: static PIE). Create it with
/// <see cref="TryParse"/>, which checks every field the loader relies on and never throws on bad input.
/// </summary>
public sealed class ElfImage
{
    /// <summary>The page size segments are aligned to.</summary>
    public const ulong PageSize = 4096;
    /// <summary>Size of an ELF64 header.</summary>
    public const int HeaderSize = 64;
    /// <summary>Size of an ELF64 program header.</summary>
    public const int ProgramHeaderSize = 56;
    /// <summary>Most program headers accepted (the kernel caps the table at 64 KiB).</summary>
    public const int MaxProgramHeaders = 65536 / ProgramHeaderSize;
    /// <summary>First address past the 47-bit user address space.</summary>
    public const ulong AddressLimit = 1UL << 47;

    private const ushort EtRel = 1, EtExec = 2, EtDyn = 3, EtCore = 4, EmX86_64 = 62;

    private readonly byte[] data;
    private readonly ElfSegment[] segments;

    private ElfImage(byte[] data, ElfSegment[] segments, bool pie, ulong entry, ulong phOffset, int phCount,
        bool executableStack, ulong lowest, ulong highest, ulong maxAlign)
    {
        this.data = data;
        this.segments = segments;
        IsPositionIndependent = pie;
        Entry = entry;
        ProgramHeaderOffset = phOffset;
        ProgramHeaderCount = phCount;
        ExecutableStack = executableStack;
        LowestAddress = lowest;
        HighestAddress = highest;
        MaxAlignment = maxAlign;
    }

    /// <summary>The file's bytes.</summary>
    public ReadOnlySpan<byte> Data => data;

    /// <summary>Every program header, in file order.</summary>
    public IReadOnlyList<ElfSegment> Segments => segments;

    /// <summary>True for a static PIE (ET_DYN): the loader picks a base address.</summary>
    public bool IsPositionIndependent { get; }

    /// <summary>e_entry (before the load bias).</summary>
    public ulong Entry { get; }

    /// <summary>e_phoff.</summary>
    public ulong ProgramHeaderOffset { get; }

    /// <summary>e_phnum.</summary>
    public int ProgramHeaderCount { get; }

    /// <summary>True if PT_GNU_STACK asks for an executable stack.</summary>
    /// <remarks>A missing PT_GNU_STACK means a non-executable stack here, as on current x86-64 kernels.</remarks>
    public bool ExecutableStack { get; }

    /// <summary>Page-aligned lowest address of a PT_LOAD segment (before the load bias).</summary>
    public ulong LowestAddress { get; }

    /// <summary>End of the highest PT_LOAD segment in memory (p_vaddr + p_memsz, before the load bias).</summary>
    public ulong HighestAddress { get; }

    /// <summary>The largest PT_LOAD alignment.</summary>
    public ulong MaxAlignment { get; }

    /// <summary>
    /// The address of the program headers in memory relative to the load bias (PT_PHDR, or the PT_LOAD that
    /// contains e_phoff), or 0 if they are not loaded.
    /// </summary>
    public ulong ProgramHeaderAddress
    {
        get
        {
            foreach (ElfSegment s in segments) if (s.Type == ElfSegmentType.Phdr) return s.VirtualAddress;
            foreach (ElfSegment s in segments)
            {
                if (s.Type == ElfSegmentType.Load && ProgramHeaderOffset >= s.Offset &&
                    ProgramHeaderOffset + (ulong)(ProgramHeaderCount * ProgramHeaderSize) <= s.Offset + s.FileSize)
                    return s.VirtualAddress + (ProgramHeaderOffset - s.Offset);
            }
            return 0;
        }
    }

    /// <summary>Parses and validates <paramref name="file"/>. On failure <paramref name="error"/> says why, for the user.</summary>
    public static bool TryParse(ReadOnlySpan<byte> file, [NotNullWhen(true)] out ElfImage? image, [NotNullWhen(false)] out string? error)
    {
        image = null;
        error = Validate(file, out ElfSegment[]? segments, out ulong entry, out ulong phOffset, out int phCount,
            out bool execStack, out ulong lowest, out ulong highest, out ulong maxAlign, out bool pie);
        if (error is not null) return false;
        image = new ElfImage(file.ToArray(), segments!, pie, entry, phOffset, phCount, execStack, lowest, highest, maxAlign);
        return true;
    }

    private static string? Validate(ReadOnlySpan<byte> f, out ElfSegment[]? segments, out ulong entry, out ulong phOffset,
        out int phCount, out bool execStack, out ulong lowest, out ulong highest, out ulong maxAlign, out bool pie)
    {
        segments = null;
        entry = phOffset = lowest = highest = 0;
        maxAlign = PageSize;
        phCount = 0;
        execStack = pie = false;

        if (f.Length < 4 || f[0] != 0x7F || f[1] != (byte)'E' || f[2] != (byte)'L' || f[3] != (byte)'F')
            return "not an ELF file (bad magic)";
        if (f.Length < HeaderSize) return $"truncated ELF header ({f.Length} bytes, need {HeaderSize})";
        switch (f[4])
        {
            case 2: break;
            case 1: return "32-bit ELF (ELFCLASS32); only x86-64 (ELFCLASS64) is supported";
            default: return $"invalid ELF class {f[4]}";
        }
        switch (f[5])
        {
            case 1: break;
            case 2: return "big-endian ELF (ELFDATA2MSB); only little-endian x86-64 is supported";
            default: return $"invalid ELF data encoding {f[5]}";
        }
        if (f[6] != 1) return $"invalid ELF identification version {f[6]}";

        ushort type = U16(f, 16);
        ushort machine = U16(f, 18);
        uint version = U32(f, 20);
        entry = U64(f, 24);
        phOffset = U64(f, 32);
        ushort ehSize = U16(f, 52);
        ushort phEntSize = U16(f, 54);
        ushort phNum = U16(f, 56);

        switch (type)
        {
            case EtExec: break;
            case EtDyn: pie = true; break;
            case EtRel: return "relocatable object file (ET_REL), not an executable";
            case EtCore: return "core dump (ET_CORE), not an executable";
            default: return $"unsupported ELF type {type}";
        }
        if (machine != EmX86_64) return $"wrong architecture: {MachineName(machine)} (e_machine {machine}); only x86-64 is supported";
        if (version != 1) return $"invalid ELF version {version}";
        if (ehSize != HeaderSize) return $"bad ELF header size {ehSize} (expected {HeaderSize})";
        if (phNum == 0) return "no program headers";
        if (phEntSize != ProgramHeaderSize) return $"bad program header size {phEntSize} (expected {ProgramHeaderSize})";
        if (phNum > MaxProgramHeaders) return $"too many program headers ({phNum}, at most {MaxProgramHeaders})";
        ulong phBytes = (ulong)phNum * ProgramHeaderSize;
        if (phOffset > (ulong)f.Length || (ulong)f.Length - phOffset < phBytes)
            return $"program headers outside the file (offset 0x{phOffset:x}, {phNum} entries, file is {f.Length} bytes)";
        phCount = phNum;

        var list = new ElfSegment[phNum];
        int loads = 0;
        bool entryOk = false;
        lowest = ulong.MaxValue;
        ulong previousEnd = 0;
        for (int i = 0; i < phNum; i++)
        {
            ReadOnlySpan<byte> p = f.Slice((int)(phOffset + (ulong)i * ProgramHeaderSize), ProgramHeaderSize);
            var s = new ElfSegment((ElfSegmentType)U32(p, 0), (ElfSegmentFlags)U32(p, 4), U64(p, 8), U64(p, 16),
                U64(p, 32), U64(p, 40), U64(p, 48));
            list[i] = s;
            switch (s.Type)
            {
                case ElfSegmentType.Interp:
                    return $"dynamically linked (PT_INTERP {InterpreterPath(f, s)}); link with -static";
                case ElfSegmentType.GnuStack:
                    execStack = (s.Flags & ElfSegmentFlags.Execute) != 0;
                    break;
                case ElfSegmentType.Load:
                    if (s.FileSize > s.MemorySize)
                        return $"segment {i}: file size 0x{s.FileSize:x} exceeds memory size 0x{s.MemorySize:x}";
                    if (s.Offset > (ulong)f.Length || (ulong)f.Length - s.Offset < s.FileSize)
                        return $"segment {i}: file data (offset 0x{s.Offset:x}, size 0x{s.FileSize:x}) outside the file ({f.Length} bytes)";
                    if (s.Alignment > 1 && (s.Alignment & (s.Alignment - 1)) != 0)
                        return $"segment {i}: alignment 0x{s.Alignment:x} is not a power of two";
                    if (s.Alignment > 1UL << 30)
                        return $"segment {i}: alignment 0x{s.Alignment:x} is too large";
                    if (s.Offset % PageSize != s.VirtualAddress % PageSize)
                        return $"segment {i}: misaligned (offset 0x{s.Offset:x} and address 0x{s.VirtualAddress:x} differ modulo the page size)";
                    if (s.VirtualAddress >= AddressLimit || AddressLimit - s.VirtualAddress < s.MemorySize)
                        return $"segment {i}: 0x{s.VirtualAddress:x}+0x{s.MemorySize:x} is outside the 47-bit address space";
                    if (s.MemorySize == 0) break;
                    if (s.VirtualAddress < previousEnd)
                        return $"segment {i}: overlaps or precedes the previous loadable segment (0x{s.VirtualAddress:x} < 0x{previousEnd:x})";
                    previousEnd = s.VirtualAddress + s.MemorySize;
                    if (!pie && s.VirtualAddress < PageSize * 16)
                        return $"segment {i}: address 0x{s.VirtualAddress:x} is below the minimum mappable address 0x10000";
                    lowest = Math.Min(lowest, s.VirtualAddress & ~(PageSize - 1));
                    highest = Math.Max(highest, previousEnd);
                    maxAlign = Math.Max(maxAlign, s.Alignment);
                    if ((s.Flags & ElfSegmentFlags.Execute) != 0 && entry >= s.VirtualAddress && entry - s.VirtualAddress < s.MemorySize)
                        entryOk = true;
                    loads++;
                    break;
            }
        }
        if (loads == 0) return "no loadable segments";
        if (pie && highest - lowest > AddressLimit / 4) return $"static PIE image spans 0x{highest - lowest:x} bytes, too large";
        if (!entryOk) return $"entry point 0x{entry:x} is not inside an executable segment";
        segments = list;
        return null;
    }

    private static string InterpreterPath(ReadOnlySpan<byte> f, ElfSegment s)
    {
        if (s.Offset >= (ulong)f.Length || s.FileSize == 0) return "<outside the file>";
        int length = (int)Math.Min(Math.Min(s.FileSize, (ulong)f.Length - s.Offset), 256);
        ReadOnlySpan<byte> path = f.Slice((int)s.Offset, length);
        int nul = path.IndexOf((byte)0);
        if (nul >= 0) path = path[..nul];
        var chars = new char[path.Length];
        for (int i = 0; i < path.Length; i++) chars[i] = path[i] is >= 0x20 and < 0x7F ? (char)path[i] : '?';
        return new string(chars);
    }

    private static string MachineName(ushort machine) => machine switch
    {
        3 => "i386",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        40 => "ARM",
        43 => "SPARC V9",
        50 => "IA-64",
        183 => "AArch64",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => "unknown machine",
    };

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
