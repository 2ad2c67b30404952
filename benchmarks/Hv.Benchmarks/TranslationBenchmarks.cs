using BenchmarkDotNet.Attributes;
using Hv.Core;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Benchmarks;

/// <summary>
/// The cost of leaving translated code: <see cref="DispatchRoundTrips"/> runs a loop whose every iteration calls a
/// function and returns, so each iteration leaves translated code twice — time per operation /
/// <see cref="RoundTrips"/> is the cost of a unit exit plus a dispatch.
/// </summary>
[MemoryDiagnoser]
public class TranslationBenchmarks
{
    internal const ulong CodeBase = 0x40_0000, StackTop = 0x80_0000;
    public const int RoundTrips = 100_000;
    private Machine dispatchMachine = null!;

    [GlobalSetup]
    public void Setup()
    {
        dispatchMachine = CreateMachine(HvOptions.Default with { Mode = ExecutionMode.Translate }, Assemble(a =>
        {
            Label loop = a.CreateLabel(), function = a.CreateLabel();
            a.mov(rcx, RoundTrips);
            a.Label(ref loop);
            a.call(function);
            a.dec(rcx);
            a.jnz(loop);
            a.hlt();
            a.Label(ref function);
            a.add(rax, rcx);
            a.ret();
        }));
    }

    [Benchmark]
    public StopReason DispatchRoundTrips()
    {
        dispatchMachine.Cpu.State.Rip = CodeBase;
        dispatchMachine.Cpu.State[Hv.Core.Cpu.Gpr.Rsp] = StackTop - 0x100;
        return dispatchMachine.Run();
    }

    /// <summary>A machine with <paramref name="code"/> at <see cref="CodeBase"/> and a stack below <see cref="StackTop"/>.</summary>
    internal static Machine CreateMachine(HvOptions options, byte[] code)
    {
        Machine m = Machine.Create(options);
        m.AddressSpace.Map(CodeBase, AddressSpace.PageAlignUp((ulong)code.Length), PagePermissions.ReadExecute, "code");
        m.AddressSpace.TryWrite(CodeBase, code, checkPermissions: false);
        m.AddressSpace.Map(StackTop - 0x10000, 0x10000, PagePermissions.ReadWrite, "[stack]");
        m.Cpu.State.Rip = CodeBase;
        m.Cpu.State[Hv.Core.Cpu.Gpr.Rsp] = StackTop - 0x100;
        return m;
    }

    /// <summary>Machine code for <paramref name="build"/>, assembled at <see cref="CodeBase"/>.</summary>
    internal static byte[] Assemble(Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        var writer = new BytesWriter();
        a.Assemble(writer, CodeBase);
        return [.. writer.Bytes];
    }

    private sealed class BytesWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}

/// <summary>
/// What translating a block costs: each benchmark decodes, translates, JIT-compiles and runs a fresh
/// 32-instruction block (the run is a few nanoseconds, so the time is the translation).
/// <see cref="TranslateBlock"/> compiles it as translate mode first compiles a block (a baseline unit: memory
/// accesses out of line, MinOpts); <see cref="TranslateBlockOptimized"/> as tiered mode compiles hot code (fully
/// optimized). Each invocation compiles <see cref="BlocksPerMachine"/> copies on one new machine, so the
/// machine's set-up is not what is measured.
/// </summary>
[MemoryDiagnoser]
public class BlockCompileBenchmarks
{
    /// <summary>Copies of the block compiled per invocation.</summary>
    public const int BlocksPerMachine = 64;
    private byte[] block = [], copies = [];

    /// <summary>The block: register arithmetic only ("alu"), or with memory operands ("memory").</summary>
    [Params("alu", "memory")]
    public string Block { get; set; } = "alu";

    [GlobalSetup]
    public void Setup()
    {
        block = TranslationBenchmarks.Assemble(a =>
        {
            for (int i = 0; i < 8; i++)
            {
                if (Block == "alu")
                {
                    a.add(rax, i + 1);
                    a.xor(rbx, rax);
                    a.lea(rcx, __[rbx + rax * 2 + 3]);
                }
                else
                {
                    // Stack traffic, as compiled code has: a load, a read-modify-write and a store.
                    a.mov(rax, __qword_ptr[rsp + 8 * i]);
                    a.add(__qword_ptr[rsp + 8 * i + 64], rax);
                    a.mov(__qword_ptr[rsp + 8 * i + 128], rcx);
                }
                a.sub(rdx, rcx);
            }
            a.hlt();
        });
        copies = new byte[block.Length * BlocksPerMachine];
        for (int i = 0; i < BlocksPerMachine; i++) block.CopyTo(copies, i * block.Length);
    }

    [Benchmark(OperationsPerInvoke = BlocksPerMachine)]
    public StopReason TranslateBlock() => TranslateCopies(HvOptions.Default with { Mode = ExecutionMode.Translate });

    [Benchmark(OperationsPerInvoke = BlocksPerMachine)]
    public StopReason TranslateBlockOptimized() =>
        TranslateCopies(HvOptions.Default with { Mode = ExecutionMode.Tiered, HotThreshold = 1, BackgroundTranslation = false });

    /// <summary>Runs each copy of the block once: each is a block never seen before, so it is compiled.</summary>
    private StopReason TranslateCopies(HvOptions options)
    {
        Machine m = TranslationBenchmarks.CreateMachine(options, copies);
        StopReason stop = default;
        for (int i = 0; i < BlocksPerMachine; i++)
        {
            m.Cpu.State.Rip = TranslationBenchmarks.CodeBase + (ulong)(i * block.Length);
            stop = m.Run();
        }
        return stop;
    }
}
