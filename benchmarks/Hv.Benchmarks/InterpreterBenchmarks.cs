using BenchmarkDotNet.Attributes;
using Hv.Core;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Benchmarks;

/// <summary>
/// Guest instructions per second of the execution loop on small bare-metal kernels (no OS): a register-only
/// ALU loop and a load/store loop. One operation = one kernel run; divide the reported
/// "GuestInstructions" by the time per operation for instructions per second.
/// </summary>
[MemoryDiagnoser]
public class InterpreterBenchmarks
{
    private const ulong CodeBase = 0x40_0000, DataBase = 0x60_0000;
    private const int Iterations = 1_000_000;
    private Machine machine = null!;

    [Params(ExecutionMode.Interpret)]
    public ExecutionMode Mode { get; set; }

    [Params("alu-loop", "memory-loop")]
    public string Kernel { get; set; } = "";

    /// <summary>Guest instructions one run executes (for instructions/s).</summary>
    public long GuestInstructions { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        machine = Machine.Create(HvOptions.Default with { Mode = Mode });
        var a = new Assembler(64);
        Label loop = a.CreateLabel();
        a.mov(rcx, Iterations);
        a.mov(rdi, DataBase);
        a.Label(ref loop);
        if (Kernel == "alu-loop")
        {
            a.add(rax, rcx);
            a.xor(rdx, rax);
            a.lea(rbx, __[rbx + rdx * 2 + 1]);
        }
        else
        {
            a.mov(rax, __qword_ptr[rdi]);
            a.add(rax, rcx);
            a.mov(__qword_ptr[rdi + 8], rax);
        }
        a.dec(rcx);
        a.jnz(loop);
        a.hlt();
        var writer = new BytesWriter();
        a.Assemble(writer, CodeBase);
        machine.AddressSpace.Map(CodeBase, 0x1000, PagePermissions.ReadExecute, "code");
        machine.AddressSpace.TryWrite(CodeBase, writer.Bytes.ToArray(), checkPermissions: false);
        machine.AddressSpace.Map(DataBase, 0x1000, PagePermissions.ReadWrite, "data");
        GuestInstructions = 2 + 5L * Iterations + 1;
    }

    [Benchmark]
    public StopReason RunKernel()
    {
        machine.Cpu.State.Rip = CodeBase;
        return machine.Run();
    }

    private sealed class BytesWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
