using System.Text;
using Hv.Core;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Linux.Syscalls;

namespace Hv.Linux.Tests.Syscalls;

/// <summary>
/// A LinuxKernel on a bare machine: syscalls are made by setting registers and calling
/// <see cref="LinuxKernel.Syscall"/>. A scratch area holds guest buffers; the guest cwd is a fresh temp dir.
/// </summary>
public sealed class SyscallHarness : IDisposable
{
    public const ulong Scratch = 0x1000_0000;
    public const ulong ScratchSize = 0x10_0000;
    public const int AT_FDCWD = -100;
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_TRUNC = 0x200, O_DIRECTORY = 0x10000, O_CLOEXEC = 0x80000;

    private ulong next = Scratch;

    public SyscallHarness()
    {
        Machine = Machine.Create(HvOptions.Default with { Mode = ExecutionMode.Interpret });
        Kernel = new LinuxKernel(Machine);
        Machine.AddressSpace.Map(Scratch, ScratchSize, PagePermissions.ReadWrite, "scratch");
        TempDir = Directory.CreateTempSubdirectory("hv-sys-").FullName;
        Kernel.InitializeFiles();
        Assert.Equal(0, Call("chdir", Str(TempDir)));
    }

    public Machine Machine { get; }
    public LinuxKernel Kernel { get; }
    public AddressSpace Memory => Machine.AddressSpace;
    public string TempDir { get; }

    /// <summary>Makes syscall <paramref name="name"/> with up to six arguments and returns rax.</summary>
    public long Call(string name, params long[] args)
    {
        CpuState s = Machine.Cpu.State;
        int number = SyscallNames.NumberOf(name);
        Assert.True(number >= 0, name);
        s[Gpr.Rax] = (ulong)number;
        Gpr[] order = [Gpr.Rdi, Gpr.Rsi, Gpr.Rdx, Gpr.R10, Gpr.R8, Gpr.R9];
        for (int i = 0; i < order.Length; i++) s[order[i]] = i < args.Length ? (ulong)args[i] : 0xDEAD_BEEF_0000UL + (ulong)i;
        Kernel.Syscall(Machine.Cpu);
        return (long)s[Gpr.Rax];
    }

    /// <summary>Reserves <paramref name="size"/> bytes of scratch (16-byte aligned).</summary>
    public long Alloc(int size)
    {
        ulong at = next;
        next += (ulong)((size + 15) & ~15);
        Assert.True(next <= Scratch + ScratchSize);
        return (long)at;
    }

    /// <summary>A NUL-terminated copy of <paramref name="s"/> in guest memory.</summary>
    public long Str(string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s + "\0");
        long at = Alloc(bytes.Length);
        Assert.True(Memory.TryWrite((ulong)at, bytes));
        return at;
    }

    public long Bytes(byte[] data)
    {
        long at = Alloc(Math.Max(1, data.Length));
        Assert.True(Memory.TryWrite((ulong)at, data));
        return at;
    }

    public byte[] Read(long address, int length)
    {
        byte[] b = new byte[length];
        Assert.True(Memory.TryRead((ulong)address, b, checkPermissions: false));
        return b;
    }

    public long Read64(long address) => BitConverter.ToInt64(Read(address, 8));
    public int Read32(long address) => BitConverter.ToInt32(Read(address, 4));

    public string ReadString(long address, int length) => Encoding.UTF8.GetString(Read(address, length));

    /// <summary>openat(AT_FDCWD, path, flags, mode).</summary>
    public long Open(string path, int flags, int mode = 0x1A4) => Call("openat", AT_FDCWD, Str(path), flags, mode);

    public void Dispose()
    {
        Kernel.CloseFiles();
        try
        {
            Directory.Delete(TempDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
