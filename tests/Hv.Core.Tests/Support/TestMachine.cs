using Hv.Core;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Tests.Support;

/// <summary>
/// A bare machine for instruction tests: code assembled with Iced at <see cref="CodeBase"/>, a data area at
/// <see cref="DataBase"/>, a stack below <see cref="StackTop"/>; runs until HLT.
/// </summary>
public sealed class TestMachine
{
    public const ulong CodeBase = 0x0040_0000;
    public const ulong DataBase = 0x0060_0000;
    public const ulong DataSize = 0x1_0000;
    public const ulong StackTop = 0x0080_0000;
    public const ulong StackSize = 0x1_0000;

    public TestMachine(ExecutionMode mode)
    {
        Machine = Machine.Create(HvOptions.Default with { Mode = mode, HotThreshold = 2 });
        Machine.AddressSpace.Map(DataBase, DataSize, PagePermissions.ReadWrite, "data");
        Machine.AddressSpace.Map(StackTop - StackSize, StackSize, PagePermissions.ReadWrite, "[stack]");
        State[Gpr.Rsp] = StackTop - 0x100;
    }

    public Machine Machine { get; }
    public CpuState State => Machine.Cpu.State;
    public AddressSpace Memory => Machine.AddressSpace;

    /// <summary>Every execution mode, for [MemberData].</summary>
    public static TheoryData<ExecutionMode> AllModes => new() { ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered };

    /// <summary>Assembles <paramref name="build"/> (an HLT is appended), maps it RX and points RIP at it.</summary>
    public TestMachine Load(Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        a.hlt();
        var writer = new MemoryCodeWriter();
        a.Assemble(writer, CodeBase);
        byte[] code = writer.ToArray();
        Memory.Map(CodeBase, AddressSpace.PageAlignUp((ulong)code.Length), PagePermissions.ReadExecute, "code");
        Memory.TryWrite(CodeBase, code, checkPermissions: false);
        State.Rip = CodeBase;
        return this;
    }

    /// <summary>Runs until HLT (or a fault/syscall on this bare machine).</summary>
    public StopReason Run(long limit = 10_000_000) => Machine.Run(limit);

    public ulong ReadData64(ulong address)
    {
        Span<byte> b = stackalloc byte[8];
        Assert.True(Memory.TryRead(address, b));
        return BitConverter.ToUInt64(b);
    }

    private sealed class MemoryCodeWriter : CodeWriter
    {
        private readonly List<byte> bytes = [];
        public override void WriteByte(byte value) => bytes.Add(value);
        public byte[] ToArray() => [.. bytes];
    }
}
