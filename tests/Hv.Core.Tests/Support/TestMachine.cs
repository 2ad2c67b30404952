using Hv.Core;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Translation;
using Iced.Intel;

namespace Hv.Core.Tests.Support;

/// <summary>
/// A bare machine for instruction tests: code assembled with Iced at <see cref="CodeBase"/>, a data area at
/// <see cref="DataBase"/>, a stack below <see cref="StackTop"/>; runs until HLT. The addresses are the ones
/// the host-CPU oracle (<see cref="HostCpu"/>) maps natively, so the same bytes run at the same addresses.
/// </summary>
public sealed class TestMachine
{
    public const ulong CodeBase = 0x1000_0000_0000;
    public const ulong CodeSize = 0x1_0000;
    public const ulong DataBase = 0x1000_0010_0000;
    public const ulong DataSize = 0x1_0000;
    public const ulong StackTop = 0x1000_0030_0000;
    public const ulong StackSize = 0x10_0000;

    public TestMachine(ExecutionMode mode, bool backgroundTranslation = true)
    {
        Machine = Machine.Create(HvOptions.Default with { Mode = mode, HotThreshold = 2, BackgroundTranslation = backgroundTranslation });
        Machine.AddressSpace.Map(DataBase, DataSize, PagePermissions.ReadWrite, "data");
        Machine.AddressSpace.Map(StackTop - StackSize, StackSize, PagePermissions.ReadWrite, "[stack]");
        State[Gpr.Rsp] = StackTop - 0x100;
    }

    public Machine Machine { get; }
    public CpuState State => Machine.Cpu.State;
    public AddressSpace Memory => Machine.AddressSpace;

    /// <summary>
    /// The units the translation cache will take in from now on, in order (none in interpret mode). The SMC
    /// engine's own callback, which protects each new unit's code, still runs first.
    /// </summary>
    public List<TranslatedUnit> RecordUnitsAdded()
    {
        var added = new List<TranslatedUnit>();
        if (Machine.Cpu.TranslationCache is { } cache)
        {
            Action<TranslatedUnit>? engine = cache.UnitAdded;
            cache.UnitAdded = u => { engine?.Invoke(u); added.Add(u); };
        }
        return added;
    }

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
        return LoadBytes(writer.ToArray());
    }

    /// <summary>Maps already assembled code RX at <see cref="CodeBase"/> and points RIP at it.</summary>
    public TestMachine LoadBytes(byte[] code)
    {
        Memory.Map(CodeBase, AddressSpace.PageAlignUp((ulong)code.Length), PagePermissions.ReadExecute, "code");
        Memory.TryWrite(CodeBase, code, checkPermissions: false);
        Machine.Cpu.InvalidateCode(); // the machine may be reused with other code
        State.Rip = CodeBase;
        return this;
    }

    /// <summary>
    /// Loads <paramref name="initial"/> (registers, flags, XMM, MXCSR, data and stack windows), runs from
    /// <see cref="CodeBase"/> until HLT and captures the final state in <paramref name="final"/>.
    /// </summary>
    public StopReason RunSnapshot(CpuSnapshot initial, out CpuSnapshot final)
    {
        CpuState s = State;
        initial.Gpr.CopyTo(s.Gpr, 0);
        s.RFlags = (initial.RFlags & CpuSnapshot.ComparedFlags) | 0x202;
        for (int i = 0; i < 16; i++) s.Xmm(i) = initial.Xmm[i];
        s.Fpu.Mxcsr = initial.Mxcsr;
        s.Rip = CodeBase;
        Assert.True(Memory.TryWrite(DataBase, initial.Data, checkPermissions: false));
        Assert.True(Memory.TryWrite(StackTop - CpuSnapshot.StackWindow, initial.Stack, checkPermissions: false));
        StopReason stop = Run(100_000);
        final = new CpuSnapshot { RFlags = s.RFlags & (CpuSnapshot.ComparedFlags | 0x202), Mxcsr = s.Fpu.Mxcsr };
        s.Gpr.CopyTo(final.Gpr, 0);
        for (int i = 0; i < 16; i++) final.Xmm[i] = s.Xmm(i);
        Assert.True(Memory.TryRead(DataBase, final.Data, checkPermissions: false));
        Assert.True(Memory.TryRead(StackTop - CpuSnapshot.StackWindow, final.Stack, checkPermissions: false));
        return stop;
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
