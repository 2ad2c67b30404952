using System.Buffers.Binary;
using System.Text;
using Hv.Core.Memory;
using Hv.Linux.Elf;

namespace Hv.Linux.Loading;

/// <summary>What the loader puts in the new process besides the image: the initial stack's contents.</summary>
/// <param name="Arguments">argv, argv[0] first.</param>
/// <param name="Environment">envp entries, "NAME=value", in order.</param>
/// <param name="ExecFileName">The string AT_EXECFN points at (the path as given).</param>
/// <param name="Random">The 16 bytes AT_RANDOM points at.</param>
/// <param name="Ids">The real/effective user and group ids for AT_UID..AT_EGID.</param>
public readonly record struct StartupInfo(IReadOnlyList<string> Arguments, IReadOnlyList<string> Environment,
    string ExecFileName, ReadOnlyMemory<byte> Random, HostIds Ids);

/// <summary>User and group ids of the (host) process, reported to the guest.</summary>
/// <param name="Uid">Real user id.</param>
/// <param name="Euid">Effective user id.</param>
/// <param name="Gid">Real group id.</param>
/// <param name="Egid">Effective group id.</param>
public readonly record struct HostIds(uint Uid, uint Euid, uint Gid, uint Egid);

/// <summary>Where the loader put things.</summary>
/// <param name="LoadBias">Added to every p_vaddr (0 for ET_EXEC).</param>
/// <param name="Entry">The entry point (RIP at start).</param>
/// <param name="BrkStart">The initial program break: the page-aligned end of the highest segment.</param>
/// <param name="StackTop">One past the highest stack byte.</param>
/// <param name="StackBottom">The lowest mapped stack address.</param>
/// <param name="StackPointer">RSP at start: points at argc, 16-byte aligned.</param>
/// <param name="ProgramHeaders">AT_PHDR.</param>
public readonly record struct LoadedImage(ulong LoadBias, ulong Entry, ulong BrkStart, ulong StackTop, ulong StackBottom,
    ulong StackPointer, ulong ProgramHeaders);

/// <summary>
/// Maps a validated static ELF image and builds the initial stack exactly as the Linux kernel's ELF loader
/// does (minus the vDSO and address randomization, for determinism).
/// </summary>
public static class ImageLoader
{
    /// <summary>Where a static PIE is placed (the kernel's ELF_ET_DYN_BASE without randomization).</summary>
    public const ulong PieBase = 0x5555_5555_4000;
    /// <summary>One past the top of the stack (the kernel's STACK_TOP without randomization).</summary>
    public const ulong StackTop = 0x7fff_ffff_f000;
    /// <summary>Reserved stack size (the default RLIMIT_STACK).</summary>
    public const ulong StackSize = 8UL << 20;
    /// <summary>Unmapped gap kept below the stack so overflows fault instead of hitting mmap'ed memory.</summary>
    public const ulong StackGuardGap = 256UL << 20;
    /// <summary>The top of the mmap area (searched downwards), below the stack and its guard gap.</summary>
    public const ulong MmapBase = StackTop - StackSize - StackGuardGap;
    /// <summary>Most bytes of argument and environment strings accepted (the kernel allows a quarter of the stack).</summary>
    public const int MaxStringBytes = (int)(StackSize / 4);

    /// <summary>CPUID.1:EDX as Hv's CPUID model advertises it; the kernel passes this word as AT_HWCAP.</summary>
    public const uint HwCap = Hv.Core.Interpretation.CpuidModel.Leaf1Edx;

    /// <summary>Auxiliary vector keys.</summary>
#pragma warning disable CS1591 // The names are the kernel's.
    public const ulong AtNull = 0, AtPhdr = 3, AtPhent = 4, AtPhnum = 5, AtPagesz = 6, AtBase = 7, AtFlags = 8, AtEntry = 9,
        AtUid = 11, AtEuid = 12, AtGid = 13, AtEgid = 14, AtPlatform = 15, AtHwcap = 16, AtClktck = 17, AtSecure = 23,
        AtRandom = 25, AtHwcap2 = 26, AtExecfn = 31, AtMinsigstksz = 51;
#pragma warning restore CS1591

    private const ulong Page = ElfImage.PageSize;

    /// <summary>Maps <paramref name="image"/> into <paramref name="space"/> and builds the stack.</summary>
    /// <returns>Null on success, or a message (e.g. argument list too long).</returns>
    public static string? TryLoad(AddressSpace space, ElfImage image, in StartupInfo info, out LoadedImage loaded)
    {
        loaded = default;
        ulong bias = 0;
        if (image.IsPositionIndependent)
        {
            bias = PieBase - image.LowestAddress;
            if (image.MaxAlignment > Page) bias &= ~(image.MaxAlignment - 1);
        }
        ulong highest = bias + image.HighestAddress;
        if (highest > MmapBase - StackGuardGap) return $"image ends at 0x{highest:x}, too close to the stack";

        MapSegments(space, image, bias);

        ulong brk = AddressSpace.PageAlignUp(highest);
        PagePermissions stackPerms = image.ExecutableStack ? PagePermissions.All : PagePermissions.ReadWrite;
        space.Map(StackTop - StackSize, StackSize, stackPerms, "[stack]");

        ulong phdr = image.ProgramHeaderAddress == 0 ? 0 : bias + image.ProgramHeaderAddress;
        string? error = BuildStack(space, image, info, bias, phdr, out ulong sp);
        if (error is not null) return error;
        loaded = new LoadedImage(bias, bias + image.Entry, brk, StackTop, StackTop - StackSize, sp, phdr);
        return null;
    }

    private static void MapSegments(AddressSpace space, ElfImage image, ulong bias)
    {
        ReadOnlySpan<byte> data = image.Data;
        foreach (ElfSegment s in image.Segments)
        {
            if (s.Type != ElfSegmentType.Load || s.MemorySize == 0) continue;
            ulong start = (bias + s.VirtualAddress) & ~(Page - 1);
            ulong end = AddressSpace.PageAlignUp(bias + s.VirtualAddress + s.MemorySize);
            PagePermissions perms = PermissionsOf(s.Flags);
            // Segments may share a page at their boundary: the shared page keeps its bytes and gets both permissions.
            if (space.FindRegion(start) is { } shared)
            {
                space.Protect(start, Page, shared.Permissions | perms);
                start += Page;
            }
            if (end > start) space.Map(start, end - start, perms, "image");
            // Fresh pages are zero, so bss (and the tail of the last file page) needs no explicit clearing.
            if (s.FileSize > 0)
                space.TryWrite(bias + s.VirtualAddress, data.Slice((int)s.Offset, (int)s.FileSize), checkPermissions: false);
        }
    }

    /// <summary>Guest page permissions for ELF p_flags.</summary>
    public static PagePermissions PermissionsOf(ElfSegmentFlags flags)
    {
        var p = PagePermissions.None;
        if ((flags & ElfSegmentFlags.Read) != 0) p |= PagePermissions.Read;
        if ((flags & ElfSegmentFlags.Write) != 0) p |= PagePermissions.Write;
        if ((flags & ElfSegmentFlags.Execute) != 0) p |= PagePermissions.Execute;
        return p;
    }

    private static string? BuildStack(AddressSpace space, ElfImage image, in StartupInfo info, ulong bias, ulong phdr, out ulong sp)
    {
        sp = 0;
        int stringBytes = 0;
        foreach (string a in info.Arguments) stringBytes += Encoding.UTF8.GetByteCount(a) + 1;
        foreach (string e in info.Environment) stringBytes += Encoding.UTF8.GetByteCount(e) + 1;
        stringBytes += Encoding.UTF8.GetByteCount(info.ExecFileName) + 1;
        if (stringBytes > MaxStringBytes) return $"argument list too long ({stringBytes} bytes of arguments and environment)";

        // Like the kernel: an 8-byte end marker at the very top, then the file name, the environment strings
        // and the argument strings below it (argv[0] lowest).
        ulong p = StackTop - 8;
        p -= (ulong)(Encoding.UTF8.GetByteCount(info.ExecFileName) + 1);
        ulong execfn = p;
        WriteString(space, execfn, info.ExecFileName);
        ulong[] envPtrs = new ulong[info.Environment.Count];
        ulong[] argPtrs = new ulong[info.Arguments.Count];
        ulong stringsEnd = p;
        foreach (string a in info.Arguments) stringsEnd -= (ulong)(Encoding.UTF8.GetByteCount(a) + 1);
        foreach (string e in info.Environment) stringsEnd -= (ulong)(Encoding.UTF8.GetByteCount(e) + 1);
        ulong cursor = stringsEnd;
        for (int i = 0; i < argPtrs.Length; i++) cursor += (ulong)WriteString(space, argPtrs[i] = cursor, info.Arguments[i]);
        for (int i = 0; i < envPtrs.Length; i++) cursor += (ulong)WriteString(space, envPtrs[i] = cursor, info.Environment[i]);
        p = stringsEnd;

        // create_elf_tables: the platform string, then 16 random bytes, then the tables, 16-byte aligned.
        p -= 7;
        ulong platform = p;
        WriteString(space, platform, "x86_64");
        p &= ~15UL;
        p -= 16;
        ulong random = p;
        Span<byte> rnd = stackalloc byte[16];
        info.Random.Span[..Math.Min(16, info.Random.Length)].CopyTo(rnd);
        space.TryWrite(random, rnd, checkPermissions: false);

        Span<ulong> aux =
        [
            AtMinsigstksz, (ulong)Signals.SignalFrame.MinSignalStackSize,
            AtHwcap, HwCap,
            AtPagesz, Page,
            AtClktck, 100,
            AtPhdr, phdr,
            AtPhent, ElfImage.ProgramHeaderSize,
            AtPhnum, (ulong)image.ProgramHeaderCount,
            AtBase, 0,
            AtFlags, 0,
            AtEntry, bias + image.Entry,
            AtUid, info.Ids.Uid,
            AtEuid, info.Ids.Euid,
            AtGid, info.Ids.Gid,
            AtEgid, info.Ids.Egid,
            AtSecure, 0,
            AtRandom, random,
            AtHwcap2, 0,
            AtExecfn, execfn,
            AtPlatform, platform,
            AtNull, 0,
        ];
        int words = 1 + argPtrs.Length + 1 + envPtrs.Length + 1 + aux.Length;
        sp = (p - (ulong)words * 8) & ~15UL;
        if (sp < StackTop - StackSize + Page) return "argument list too long for the stack";

        byte[] table = new byte[words * 8];
        int w = 0;
        void Put(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(table.AsSpan(w * 8), v); w++; }
        Put((ulong)argPtrs.Length);
        foreach (ulong a in argPtrs) Put(a);
        Put(0);
        foreach (ulong e in envPtrs) Put(e);
        Put(0);
        foreach (ulong v in aux) Put(v);
        space.TryWrite(sp, table, checkPermissions: false);
        return null;
    }

    private static int WriteString(AddressSpace space, ulong address, string value)
    {
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, bytes);
        space.TryWrite(address, bytes, checkPermissions: false);
        return bytes.Length;
    }
}
