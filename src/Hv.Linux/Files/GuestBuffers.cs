using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;

namespace Hv.Linux.Files;

/// <summary>
/// Syscall-side access to guest memory: arguments, NUL-terminated paths and the accessible part of buffers.
/// Everything is copied through <see cref="AddressSpace"/> with guest permission checks; a bad pointer is an
/// errno, never a host access.
/// </summary>
internal static class GuestBuffers
{
    /// <summary>PATH_MAX, including the NUL.</summary>
    public const int PathMax = 4096;

    /// <summary>Host-side chunk for large I/O (pooled, so hot paths do not allocate).</summary>
    public const int Chunk = 64 * 1024;

    /// <summary>MAX_RW_COUNT: the kernel clamps one read/write to this.</summary>
    public const long MaxRwCount = 0x7FFF_F000;

    /// <summary>Syscall argument 0 (rdi).</summary>
    public static ulong Arg0(Vcpu cpu) => cpu.State.Gpr[(int)Gpr.Rdi];
    /// <summary>Syscall argument 1 (rsi).</summary>
    public static ulong Arg1(Vcpu cpu) => cpu.State.Gpr[(int)Gpr.Rsi];
    /// <summary>Syscall argument 2 (rdx).</summary>
    public static ulong Arg2(Vcpu cpu) => cpu.State.Gpr[(int)Gpr.Rdx];
    /// <summary>Syscall argument 3 (r10).</summary>
    public static ulong Arg3(Vcpu cpu) => cpu.State.Gpr[(int)Gpr.R10];
    /// <summary>Syscall argument 4 (r8).</summary>
    public static ulong Arg4(Vcpu cpu) => cpu.State.Gpr[(int)Gpr.R8];
    /// <summary>Syscall argument 5 (r9).</summary>
    public static ulong Arg5(Vcpu cpu) => cpu.State.Gpr[(int)Gpr.R9];

    /// <summary>An int argument, as the kernel truncates it (fds, flags).</summary>
    public static int Int(ulong arg) => unchecked((int)arg);

    /// <summary>
    /// Reads the NUL-terminated string at <paramref name="address"/> into <paramref name="buffer"/> (which gets
    /// the NUL too). Returns its length, -EFAULT for an unreadable byte before the NUL, or -ENAMETOOLONG.
    /// </summary>
    public static int ReadString(AddressSpace memory, ulong address, Span<byte> buffer)
    {
        int pos = 0;
        while (pos < buffer.Length)
        {
            ulong at = address + (ulong)pos;
            int chunk = Math.Min(buffer.Length - pos, PhysicalPage.Size - (int)(at & PhysicalPage.OffsetMask));
            Span<byte> part = buffer.Slice(pos, chunk);
            if (at < address || !memory.TryRead(at, part)) return -Errno.EFAULT;
            int nul = part.IndexOf((byte)0);
            if (nul >= 0) return pos + nul;
            pos += chunk;
        }
        return -Errno.ENAMETOOLONG;
    }

    /// <summary>
    /// How many bytes from <paramref name="address"/> (at most <paramref name="length"/>) are mapped with
    /// <paramref name="required"/> permissions: the part of a buffer the kernel could copy before faulting.
    /// </summary>
    public static ulong AccessiblePrefix(AddressSpace memory, ulong address, ulong length, PagePermissions required)
    {
        ulong cursor = address, end = address + length;
        if (end < address || end > AddressSpace.Limit) end = AddressSpace.Limit;
        while (cursor < end)
        {
            MemoryRegion? region = memory.FindRegion(cursor);
            if (region is null || (region.Permissions & required) != required) break;
            cursor = region.End;
        }
        return Math.Min(cursor, end) - Math.Min(address, end);
    }

    /// <summary>Writes a little-endian 64-bit value; false if the guest may not write there.</summary>
    public static bool TryWrite64(AddressSpace memory, ulong address, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        return memory.TryWrite(address, b);
    }

    /// <summary>Writes a little-endian 32-bit value; false if the guest may not write there.</summary>
    public static bool TryWrite32(AddressSpace memory, ulong address, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return memory.TryWrite(address, b);
    }

    /// <summary>Reads a little-endian 64-bit value; false if the guest may not read there.</summary>
    public static bool TryRead64(AddressSpace memory, ulong address, out ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        bool ok = memory.TryRead(address, b);
        value = ok ? System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(b) : 0;
        return ok;
    }
}
