using System.Buffers.Binary;
using System.Text;
using Hv.Core;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;

namespace Hv.Linux.Tests.Support;

/// <summary>Helpers to create guest processes from built images and to poke at their memory.</summary>
public static class Guest
{
    public static GuestProcess Create(byte[] image, IReadOnlyList<string>? args = null,
        IEnumerable<KeyValuePair<string, string>>? env = null, ExecutionMode mode = ExecutionMode.Interpret, string path = "/tmp/prog")
    {
        Assert.True(GuestProcess.TryCreate(HvOptions.Default with { Mode = mode, HotThreshold = 2 }, image, path, args ?? [],
            env ?? [], GuestStdio.Host, out GuestProcess? process, out LoadError error), error.Message);
        return process!;
    }

    public static ulong Read64(AddressSpace m, ulong address)
    {
        Span<byte> b = stackalloc byte[8];
        Assert.True(m.TryRead(address, b, checkPermissions: false), $"0x{address:x} unreadable");
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    public static uint Read32(AddressSpace m, ulong address)
    {
        Span<byte> b = stackalloc byte[4];
        Assert.True(m.TryRead(address, b, checkPermissions: false));
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public static void Write64(AddressSpace m, ulong address, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Assert.True(m.TryWrite(address, b, checkPermissions: false));
    }

    public static string ReadString(AddressSpace m, ulong address)
    {
        var bytes = new List<byte>();
        Span<byte> b = stackalloc byte[1];
        while (m.TryRead(address++, b, checkPermissions: false) && b[0] != 0) bytes.Add(b[0]);
        return Encoding.UTF8.GetString([.. bytes]);
    }
}

/// <summary>A machine with a Linux kernel and some mapped memory, for calling syscall handlers directly.</summary>
public sealed class KernelMachine
{
    public const ulong Data = 0x10_0000;
    public const ulong DataSize = 0x1_0000;
    public const ulong ReadOnly = 0x20_0000;
    public const ulong Unmapped = 0x30_0000;
    public const ulong StackTop = 0x80_0000;
    public const ulong StackSize = 0x10_0000;

    public KernelMachine()
    {
        Machine = Machine.Create(HvOptions.Default with { Mode = ExecutionMode.Interpret });
        Kernel = new LinuxKernel(Machine);
        Memory.Map(Data, DataSize, PagePermissions.ReadWrite, "data");
        Memory.Map(ReadOnly, 0x1000, PagePermissions.Read, "ro");
        Memory.Map(StackTop - StackSize, StackSize, PagePermissions.ReadWrite, "[stack]");
        State[Gpr.Rsp] = StackTop - 0x1000;
    }

    public Machine Machine { get; }
    public LinuxKernel Kernel { get; }
    public Vcpu Cpu => Machine.Cpu;
    public CpuState State => Machine.Cpu.State;
    public AddressSpace Memory => Machine.AddressSpace;

    /// <summary>Calls syscall <paramref name="name"/> with up to six arguments and returns RAX.</summary>
    public long Syscall(string name, ulong a0 = 0, ulong a1 = 0, ulong a2 = 0, ulong a3 = 0, ulong a4 = 0, ulong a5 = 0)
    {
        CpuState s = State;
        s[Gpr.Rax] = (ulong)Hv.Linux.Syscalls.SyscallNames.NumberOf(name);
        s[Gpr.Rdi] = a0;
        s[Gpr.Rsi] = a1;
        s[Gpr.Rdx] = a2;
        s[Gpr.R10] = a3;
        s[Gpr.R8] = a4;
        s[Gpr.R9] = a5;
        Kernel.Syscall(Cpu);
        return (long)s[Gpr.Rax];
    }

    public ulong Read64(ulong address) => Guest.Read64(Memory, address);
    public void Write64(ulong address, ulong value) => Guest.Write64(Memory, address, value);
}
