using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Linux.Files;
using static Hv.Linux.Files.GuestBuffers;

namespace Hv.Linux.Syscalls;

/// <summary>
/// Memory syscalls over the guest <see cref="AddressSpace"/>: mmap and friends, brk, memfd_create. Argument
/// checks follow the kernel's order so errno values match.
/// </summary>
internal static unsafe class MemorySyscalls
{
    public const int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4, PROT_SEM = 8, PROT_GROWSDOWN = 0x0100_0000, PROT_GROWSUP = 0x0200_0000;
    public const int MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_SHARED_VALIDATE = 3, MAP_TYPE = 0xF, MAP_FIXED = 0x10,
        MAP_ANONYMOUS = 0x20, MAP_32BIT = 0x40, MAP_FIXED_NOREPLACE = 0x10_0000;
    public const int MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2, MREMAP_DONTUNMAP = 4;
    public const int MADV_DONTNEED = 4;

    /// <summary>vm.mmap_min_addr: nothing is mapped below it.</summary>
    public const ulong MmapMinAddr = 0x1_0000;

    private const ulong PageMask = PhysicalPage.OffsetMask;

    public static void Register(SyscallRegistry r)
    {
        r.Add("mmap", &Mmap);
        r.Add("munmap", &Munmap);
        r.Add("mprotect", &Mprotect);
        r.Add("mremap", &Mremap);
        r.Add("brk", &Brk);
        r.Add("madvise", &Madvise);
        r.Add("msync", &Msync);
        r.Add("mincore", &Mincore);
        r.Add("memfd_create", &MemfdCreate);
        r.Add("mlock", &Accept);
        r.Add("munlock", &Accept);
        r.Add("mlockall", &Accept);
        r.Add("munlockall", &Accept);
    }

    /// <summary>The guest permissions of PROT bits: on x86, writable or executable pages are also readable.</summary>
    public static PagePermissions ToPermissions(int prot)
    {
        PagePermissions p = PagePermissions.None;
        if ((prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) != 0) p |= PagePermissions.Read;
        if ((prot & PROT_WRITE) != 0) p |= PagePermissions.Write;
        if ((prot & PROT_EXEC) != 0) p |= PagePermissions.Execute;
        return p;
    }

    private static long Accept(LinuxKernel k, Vcpu cpu) => 0;

    private static long Mmap(LinuxKernel k, Vcpu cpu) =>
        Map(k, Arg0(cpu), Arg1(cpu), Int(Arg2(cpu)), Int(Arg3(cpu)), Int(Arg4(cpu)), Arg5(cpu));

    /// <summary>mmap(2). Returns the address or -errno.</summary>
    public static long Map(LinuxKernel k, ulong address, ulong length, int prot, int flags, int fd, ulong offset)
    {
        AddressSpace mem = k.Memory;
        if ((offset & PageMask) != 0) return -Errno.EINVAL;
        if (length == 0) return -Errno.EINVAL;
        ulong size = AddressSpace.PageAlignUp(length);
        if (size == 0 || size > AddressSpace.Limit) return -Errno.ENOMEM;
        int type = flags & MAP_TYPE;
        if (type is not (MAP_SHARED or MAP_PRIVATE or MAP_SHARED_VALIDATE)) return -Errno.EINVAL;
        bool shared = type != MAP_PRIVATE;
        bool anonymous = (flags & MAP_ANONYMOUS) != 0;

        FileDescription? file = null;
        string name = "";
        if (!anonymous)
        {
            file = k.Files.Get(fd);
            if (file is null) return -Errno.EBADF;
            // Shared frames are indexed by int page numbers: offsets past a memfd's largest size cannot be mapped.
            if (offset + size < offset || offset + size > MemoryFile.MaxSize) return -Errno.EOVERFLOW;
            long mode = file.GetStatusFlags();
            if (mode < 0) return mode;
            int access = (int)mode & OpenFlags.O_ACCMODE;
            if (access == OpenFlags.O_WRONLY || (mode & OpenFlags.O_PATH) != 0) return -Errno.EACCES;
            if (shared && (prot & PROT_WRITE) != 0 && access != OpenFlags.O_RDWR) return -Errno.EACCES;
            if (!file.IsRegular)
            {
                // Character devices (/dev/zero) map as anonymous memory; pipes and directories cannot be mapped.
                Span<byte> st = stackalloc byte[144];
                if (file.Stat(st) < 0 || (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(st[24..]) & OpenFlags.S_IFMT) != 0x2000)
                    return -Errno.ENODEV;
                anonymous = true;
                file = null;
            }
            else
            {
                name = NameOf(file);
            }
        }

        ulong at;
        if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0)
        {
            if ((address & PageMask) != 0) return -Errno.EINVAL;
            if (address + size < address || address + size > AddressSpace.Limit) return -Errno.ENOMEM;
            if (address < MmapMinAddr) return -Errno.EPERM;
            if ((flags & MAP_FIXED) == 0 && !IsFree(mem, address, address + size)) return -Errno.EEXIST;
            at = address;
        }
        else if ((flags & MAP_32BIT) != 0)
        {
            // x86-64 MAP_32BIT: somewhere in the second GiB, so the address fits a sign-extended imm32.
            if (!k.Memory.TryFindFree(size, 0x4000_0000, 0x8000_0000, out at)) return -Errno.ENOMEM;
        }
        else if (!TryPlace(k, address, size, out at))
        {
            return -Errno.ENOMEM;
        }

        PagePermissions permissions = ToPermissions(prot);
        k.WriteBackSharedFiles(at, at + size);
        if (file is null)
        {
            if (shared && size > MemoryFile.MaxSize) return -Errno.ENOMEM;
            SharedMemoryObject? obj = shared ? new SharedMemoryObject(size) : null;
            mem.Map(at, size, permissions, shared ? "/dev/zero (deleted)" : "", obj);
            return (long)at;
        }
        if (shared)
        {
            SharedMemoryObject? obj;
            if (file is MemoryFile memfd)
            {
                obj = memfd.Object;
            }
            else
            {
                long r = k.GetSharedFileObject((HostFile)file, offset, size, out obj);
                if (r < 0) return r;
            }
            mem.Map(at, size, permissions, name, obj, offset);
            return (long)at;
        }
        mem.Map(at, size, permissions, name);
        long copied = FillFromFile(mem, at, size, file, offset);
        if (copied < 0)
        {
            mem.Unmap(at, size);
            return copied;
        }
        // Whole pages past the end of the file are not backed: touching them is SIGBUS, as on Linux.
        mem.MarkBeyondEndOfFile(at + AddressSpace.PageAlignUp((ulong)copied), at + size);
        return (long)at;
    }

    /// <summary>Copies a private file mapping's bytes from the file (the rest of the mapping stays zero); returns the bytes copied.</summary>
    private static long FillFromFile(AddressSpace mem, ulong at, ulong size, FileDescription file, ulong offset)
    {
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Chunk);
        try
        {
            ulong done = 0;
            while (done < size)
            {
                int want = (int)Math.Min((ulong)Chunk, size - done);
                long n = file.ReadAt(buffer.AsSpan(0, want), (long)(offset + done));
                if (n < 0) return n;
                if (n == 0) break;
                mem.TryWrite(at + done, buffer.AsSpan(0, (int)n), checkPermissions: false);
                done += (ulong)n;
            }
            return (long)done;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A name for a file mapping (/proc/self/maps style).</summary>
    private static string NameOf(FileDescription file)
    {
        if (file is MemoryFile m) return "/" + m.Name + " (deleted)";
        byte[]? path = LinuxKernel.ReadProcFdLink(file.HostFd);
        return path is null ? "" : System.Text.Encoding.UTF8.GetString(path);
    }

    /// <summary>Picks an address: the hint if that range is free, else the highest free range below mmap_base.</summary>
    private static bool TryPlace(LinuxKernel k, ulong hint, ulong size, out ulong at)
    {
        AddressSpace mem = k.Memory;
        hint = AddressSpace.PageAlignUp(hint);
        if (hint >= MmapMinAddr && hint + size >= hint && hint + size <= AddressSpace.Limit && IsFree(mem, hint, hint + size))
        {
            at = hint;
            return true;
        }
        return mem.TryFindFree(size, MmapMinAddr, k.MmapBase, out at);
    }

    /// <summary>True if no region intersects [start, end).</summary>
    public static bool IsFree(AddressSpace mem, ulong start, ulong end)
    {
        IReadOnlyList<MemoryRegion> regions = mem.Regions;
        int lo = 0, hi = regions.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (regions[mid].End <= start) lo = mid + 1; else hi = mid;
        }
        return lo >= regions.Count || regions[lo].Start >= end;
    }

    private static long Munmap(LinuxKernel k, Vcpu cpu)
    {
        ulong address = Arg0(cpu), length = Arg1(cpu);
        if ((address & PageMask) != 0 || length == 0) return -Errno.EINVAL;
        ulong size = AddressSpace.PageAlignUp(length);
        if (size == 0 || address >= AddressSpace.Limit || size > AddressSpace.Limit - address) return -Errno.EINVAL;
        k.WriteBackSharedFiles(address, address + size);
        k.Memory.Unmap(address, size);
        return 0;
    }

    private static long Mprotect(LinuxKernel k, Vcpu cpu)
    {
        ulong address = Arg0(cpu), length = Arg1(cpu);
        int prot = Int(Arg2(cpu));
        if ((address & PageMask) != 0) return -Errno.EINVAL;
        if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_GROWSDOWN | PROT_GROWSUP)) != 0) return -Errno.EINVAL;
        if ((prot & PROT_GROWSDOWN) != 0 && (prot & PROT_GROWSUP) != 0) return -Errno.EINVAL;
        if (length == 0) return 0;
        ulong size = AddressSpace.PageAlignUp(length);
        if (size == 0 || address >= AddressSpace.Limit || size > AddressSpace.Limit - address) return -Errno.ENOMEM;
        return k.Memory.Protect(address, size, ToPermissions(prot)) ? 0 : -Errno.ENOMEM;
    }

    private static long Mremap(LinuxKernel k, Vcpu cpu) =>
        Remap(k, Arg0(cpu), Arg1(cpu), Arg2(cpu), Int(Arg3(cpu)), Arg4(cpu));

    /// <summary>mremap(2): shrink, grow in place, or move (frames move; nothing is copied).</summary>
    public static long Remap(LinuxKernel k, ulong oldAddress, ulong oldLength, ulong newLength, int flags, ulong newAddress)
    {
        AddressSpace mem = k.Memory;
        if ((oldAddress & PageMask) != 0) return -Errno.EINVAL;
        if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) != 0) return -Errno.EINVAL;
        bool mayMove = (flags & MREMAP_MAYMOVE) != 0, fixedTarget = (flags & MREMAP_FIXED) != 0;
        bool dontUnmap = (flags & MREMAP_DONTUNMAP) != 0;
        if ((fixedTarget || dontUnmap) && !mayMove) return -Errno.EINVAL;
        ulong oldSize = AddressSpace.PageAlignUp(oldLength), newSize = AddressSpace.PageAlignUp(newLength);
        if (newSize == 0 || newSize > AddressSpace.Limit || oldSize > AddressSpace.Limit) return -Errno.EINVAL;
        if (oldAddress >= AddressSpace.Limit || oldSize > AddressSpace.Limit - oldAddress) return -Errno.EINVAL;
        if (fixedTarget)
        {
            if ((newAddress & PageMask) != 0 || newAddress >= AddressSpace.Limit || newSize > AddressSpace.Limit - newAddress)
                return -Errno.EINVAL;
            if (newAddress < oldAddress + oldSize && oldAddress < newAddress + newSize) return -Errno.EINVAL;
        }

        MemoryRegion? first = mem.FindRegion(oldAddress);
        if (first is null) return -Errno.EFAULT;
        ulong sharedOffset = first.Shared is null ? 0 : first.SharedOffset + (oldAddress - first.Start);
        if (oldSize == 0)
        {
            // Duplicating a shared mapping: only shared memory can be duplicated.
            if (first.Shared is null || !mayMove) return -Errno.EINVAL;
            if (sharedOffset + newSize > MemoryFile.MaxSize) return -Errno.ENOMEM;
            long loaded = k.LoadSharedFilePages(first.Shared, sharedOffset, newSize);
            if (loaded < 0) return loaded;
            if (!Place(k, fixedTarget, newAddress, newSize, out ulong dup)) return -Errno.ENOMEM;
            mem.Map(dup, newSize, first.Permissions, first.Name, first.Shared, sharedOffset);
            return (long)dup;
        }
        if (!IsOneMapping(mem, first, oldAddress, oldAddress + oldSize)) return -Errno.EFAULT;
        if (first.Shared is not null)
        {
            if (sharedOffset + newSize > MemoryFile.MaxSize) return -Errno.ENOMEM;
            if (newSize > oldSize)
            {
                long loaded = k.LoadSharedFilePages(first.Shared, sharedOffset + oldSize, newSize - oldSize);
                if (loaded < 0) return loaded;
            }
        }

        if (!fixedTarget && newSize <= oldSize)
        {
            if (newSize < oldSize)
            {
                k.WriteBackSharedFiles(oldAddress + newSize, oldAddress + oldSize);
                mem.Unmap(oldAddress + newSize, oldSize - newSize);
            }
            return (long)oldAddress;
        }
        ulong oldEnd = oldAddress + oldSize;
        if (!fixedTarget && !dontUnmap && newSize - oldSize <= AddressSpace.Limit - oldEnd &&
            IsFree(mem, oldEnd, oldAddress + newSize))
        {
            Extend(mem, first, oldEnd, newSize - oldSize, sharedOffset + oldSize);
            return (long)oldAddress;
        }
        if (!mayMove) return -Errno.ENOMEM;
        if (!Place(k, fixedTarget, newAddress, newSize, out ulong target)) return -Errno.ENOMEM;

        PagePermissions permissions = first.Permissions;
        string name = first.Name;
        SharedMemoryObject? shared = first.Shared;
        ulong moved = Math.Min(oldSize, newSize);
        k.WriteBackSharedFiles(target, target + newSize);
        mem.Move(oldAddress, moved, target);
        if (newSize > oldSize) Extend(mem, first, target + oldSize, newSize - oldSize, sharedOffset + oldSize, permissions, name, shared);
        if (oldSize > newSize)
        {
            k.WriteBackSharedFiles(oldAddress + newSize, oldEnd);
            mem.Unmap(oldAddress + newSize, oldSize - newSize);
        }
        if (dontUnmap) mem.Map(oldAddress, oldSize, permissions, name, shared, sharedOffset);
        return (long)target;
    }

    private static void Extend(AddressSpace mem, MemoryRegion like, ulong at, ulong size, ulong sharedOffset) =>
        Extend(mem, like, at, size, sharedOffset, like.Permissions, like.Name, like.Shared);

    private static void Extend(AddressSpace mem, MemoryRegion like, ulong at, ulong size, ulong sharedOffset,
        PagePermissions permissions, string name, SharedMemoryObject? shared) =>
        mem.Map(at, size, permissions, name, shared, shared is null ? 0 : sharedOffset);

    private static bool Place(LinuxKernel k, bool fixedTarget, ulong address, ulong size, out ulong at)
    {
        if (fixedTarget)
        {
            at = address;
            k.WriteBackSharedFiles(address, address + size);
            return true;
        }
        return k.Memory.TryFindFree(size, MmapMinAddr, k.MmapBase, out at);
    }

    /// <summary>
    /// True if [start, end) is covered by regions that the kernel would have merged into one VMA (contiguous,
    /// same permissions, name and backing): earlier in-place grows leave such neighbours behind.
    /// </summary>
    private static bool IsOneMapping(AddressSpace mem, MemoryRegion first, ulong start, ulong end)
    {
        MemoryRegion r = first;
        while (r.End < end)
        {
            MemoryRegion? next = mem.FindRegion(r.End);
            if (next is null || next.Permissions != first.Permissions || next.Name != first.Name ||
                !ReferenceEquals(next.Shared, first.Shared) ||
                (first.Shared is not null && next.SharedOffset != r.SharedOffset + r.Length))
                return false;
            r = next;
        }
        return start >= first.Start;
    }

    private static long Brk(LinuxKernel k, Vcpu cpu)
    {
        ulong requested = Arg0(cpu);
        ulong current = k.BrkCurrent;
        if (k.BrkStart == 0 || requested < k.BrkStart || requested >= AddressSpace.Limit) return (long)current;
        ulong oldEnd = AddressSpace.PageAlignUp(current), newEnd = AddressSpace.PageAlignUp(requested);
        if (newEnd > oldEnd)
        {
            if (newEnd > AddressSpace.Limit || !IsFree(k.Memory, oldEnd, newEnd)) return (long)current;
            k.Memory.Map(oldEnd, newEnd - oldEnd, PagePermissions.ReadWrite, "[heap]");
        }
        else if (newEnd < oldEnd)
        {
            k.Memory.Unmap(newEnd, oldEnd - newEnd);
        }
        k.BrkCurrent = requested;
        return (long)requested;
    }

    private static long Madvise(LinuxKernel k, Vcpu cpu)
    {
        ulong address = Arg0(cpu), length = Arg1(cpu);
        int advice = Int(Arg2(cpu));
        if ((address & PageMask) != 0) return -Errno.EINVAL;
        if (advice is 100 or 101) return -Errno.EPERM;
        if (advice is not ((>= 0 and <= 4) or (>= 8 and <= 25))) return -Errno.EINVAL;
        if (length == 0) return 0;
        ulong size = AddressSpace.PageAlignUp(length);
        if (size == 0 || address >= AddressSpace.Limit || size > AddressSpace.Limit - address) return -Errno.EINVAL;
        ulong end = address + size;
        if (advice == MADV_DONTNEED) ZeroPrivatePages(k.Memory, address, end);
        return k.Memory.IsFullyMapped(address, end) ? 0 : -Errno.ENOMEM;
    }

    /// <summary>MADV_DONTNEED: private pages in [start, end) read as zeros afterwards (fresh frames); shared ones keep their data.</summary>
    private static void ZeroPrivatePages(AddressSpace mem, ulong start, ulong end)
    {
        List<(ulong Start, ulong End, PagePermissions Permissions, string Name)> pieces = [];
        foreach (MemoryRegion r in mem.Regions)
        {
            if (r.Start >= end) break;
            if (r.End <= start || r.Shared is not null) continue;
            pieces.Add((Math.Max(start, r.Start), Math.Min(end, r.End), r.Permissions, r.Name));
        }
        foreach (var p in pieces) mem.Map(p.Start, p.End - p.Start, p.Permissions, p.Name);
    }

    private static long Msync(LinuxKernel k, Vcpu cpu)
    {
        ulong address = Arg0(cpu), length = Arg1(cpu);
        int flags = Int(Arg2(cpu));
        if ((address & PageMask) != 0 || (flags & ~7) != 0 || (flags & 5) == 5) return -Errno.EINVAL;
        ulong size = AddressSpace.PageAlignUp(length);
        if (address + size < address || address + size > AddressSpace.Limit) return -Errno.ENOMEM;
        if (size == 0) return 0;
        if (!k.Memory.IsFullyMapped(address, address + size)) return -Errno.ENOMEM;
        k.WriteBackSharedFiles(address, address + size);
        return 0;
    }

    private static long Mincore(LinuxKernel k, Vcpu cpu)
    {
        ulong address = Arg0(cpu), length = Arg1(cpu), vector = Arg2(cpu);
        if ((address & PageMask) != 0) return -Errno.EINVAL;
        ulong size = AddressSpace.PageAlignUp(length);
        if (address + size < address || address + size > AddressSpace.Limit) return -Errno.ENOMEM;
        if (!k.Memory.IsFullyMapped(address, address + size)) return -Errno.ENOMEM;
        Span<byte> ones = stackalloc byte[256];
        ones.Fill(1);
        for (ulong page = 0, pages = size >> PhysicalPage.Shift; page < pages; page += 256)
        {
            int n = (int)Math.Min(256, pages - page);
            if (!k.Memory.TryWrite(vector + page, ones[..n])) return -Errno.EFAULT;
        }
        return 0;
    }

    private static long MemfdCreate(LinuxKernel k, Vcpu cpu)
    {
        const int MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2, MFD_HUGETLB = 4, MFD_NOEXEC_SEAL = 8, MFD_EXEC = 0x10;
        int flags = Int(Arg1(cpu));
        int known = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
        if ((flags & MFD_HUGETLB) != 0) known |= 0x3F << 26; // hugetlb page-size bits
        if ((flags & ~known) != 0) return -Errno.EINVAL;
        if ((flags & MFD_NOEXEC_SEAL) != 0 && (flags & MFD_EXEC) != 0) return -Errno.EINVAL;
        Span<byte> name = stackalloc byte[250]; // 249 characters + NUL
        int n = ReadString(k.Memory, Arg0(cpu), name);
        if (n == -Errno.ENAMETOOLONG) return -Errno.EINVAL;
        if (n < 0) return n;
        var file = new MemoryFile(k.Memory, "memfd:" + System.Text.Encoding.UTF8.GetString(name[..n]), k.NextInode(),
            allowSealing: (flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL)) != 0);
        return k.Files.Add(file, cloexec: (flags & MFD_CLOEXEC) != 0);
    }
}
