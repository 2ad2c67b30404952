using BenchmarkDotNet.Attributes;
using Hv.Core;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Benchmarks;

/// <summary>
/// What translation itself costs: <see cref="TranslateBlock"/> decodes, translates, JIT-compiles and runs one
/// fresh 32-instruction block (the run is a few nanoseconds, so the time is the translation);
/// <see cref="DispatchRoundTrips"/> runs a loop whose every iteration calls a function and returns, so each
/// iteration leaves translated code twice — time per operation / <see cref="RoundTrips"/> is the cost of a
/// unit exit plus a dispatch.
/// </summary>
[MemoryDiagnoser]
public class TranslationBenchmarks
{
    private const ulong CodeBase = 0x40_0000, StackTop = 0x80_0000;
    public const int RoundTrips = 100_000;
    private byte[] straightLine = [];
    private Machine dispatchMachine = null!;

    [GlobalSetup]
    public void Setup()
    {
        straightLine = Assemble(a =>
        {
            for (int i = 0; i < 8; i++)
            {
                a.add(rax, i + 1);
                a.xor(rbx, rax);
                a.lea(rcx, __[rbx + rax * 2 + 3]);
                a.sub(rdx, rcx);
            }
            a.hlt();
        });
        dispatchMachine = CreateMachine(ExecutionMode.Translate, Assemble(a =>
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
    public StopReason TranslateBlock() => CreateMachine(ExecutionMode.Translate, straightLine).Run();

    [Benchmark]
    public StopReason DispatchRoundTrips()
    {
        dispatchMachine.Cpu.State.Rip = CodeBase;
        dispatchMachine.Cpu.State[Hv.Core.Cpu.Gpr.Rsp] = StackTop - 0x100;
        return dispatchMachine.Run();
    }

    private static Machine CreateMachine(ExecutionMode mode, byte[] code)
    {
        Machine m = Machine.Create(HvOptions.Default with { Mode = mode });
        m.AddressSpace.Map(CodeBase, AddressSpace.PageAlignUp((ulong)code.Length), PagePermissions.ReadExecute, "code");
        m.AddressSpace.TryWrite(CodeBase, code, checkPermissions: false);
        m.AddressSpace.Map(StackTop - 0x10000, 0x10000, PagePermissions.ReadWrite, "[stack]");
        m.Cpu.State.Rip = CodeBase;
        m.Cpu.State[Hv.Core.Cpu.Gpr.Rsp] = StackTop - 0x100;
        return m;
    }

    private static byte[] Assemble(Action<Assembler> build)
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
