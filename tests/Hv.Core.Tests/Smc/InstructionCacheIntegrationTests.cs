using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Smc;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Smc;

/// <summary>The I-cache model fed by a running vCPU, and the analytical sweep, in every execution mode.</summary>
public sealed class InstructionCacheIntegrationTests
{
    private const ulong Code = 0x4000_0000;
    private const ulong StackTop = 0x5000_0000;

    private static Machine NewMachine(ExecutionMode mode, InstructionCacheGeometry? icache)
    {
        var machine = Machine.Create(HvOptions.Default with { Mode = mode, HotThreshold = 2, InstructionCache = icache });
        machine.AddressSpace.Map(StackTop - 0x1000, 0x1000, PagePermissions.ReadWrite, "stack");
        machine.Cpu.State[Gpr.Rsp] = StackTop - 0x100;
        return machine;
    }

    /// <summary>
    /// The caller: three times, call f (<paramref name="call"/>), add its result to rbx, and patch f's imm32 low
    /// byte (<paramref name="imm"/>) with ecx (3, 2, 1). Assembled at <see cref="Code"/> and started at
    /// <paramref name="entry"/>; <paramref name="prologue"/> emits what comes before the caller.
    /// </summary>
    private static void LoadCaller(Machine machine, Action<Assembler> prologue, Action<Assembler> call, Func<Assembler, AssemblerMemoryOperand> imm, ulong entry)
    {
        var a = new Assembler(64);
        prologue(a);
        Label again = a.CreateLabel();
        a.xor(ebx, ebx);
        a.mov(ecx, 3);
        a.Label(ref again);
        call(a);
        a.add(rbx, rax);
        a.mov(imm(a), cl);
        a.dec(ecx);
        a.jnz(again);
        a.hlt();
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), Code);
        Assert.True(machine.AddressSpace.TryWrite(Code, stream.ToArray(), checkPermissions: false));
        machine.Cpu.State.Rip = entry;
    }

    /// <summary>f (mov eax, imm32; ret) on the first line of an RWX page, the caller on the next line.</summary>
    private static Machine PatchLoop(ExecutionMode mode, InstructionCacheGeometry? icache)
    {
        Machine machine = NewMachine(mode, icache);
        machine.AddressSpace.Map(Code, 0x1000, PagePermissions.All, "code");
        Label f = default, imm = default;
        LoadCaller(machine, a =>
        {
            f = a.CreateLabel();
            imm = a.CreateLabel();
            a.Label(ref f);
            a.db(0xB8);              // mov eax, imm32
            a.Label(ref imm);
            a.dd(100);
            a.ret();
            for (int i = 6; i < 64; i++) a.int3(); // the caller starts on the next line
        }, a => a.call(f), _ => __byte_ptr[imm], Code + 64);
        return machine;
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Run_PatchedFunction_CountsSmcInvalidationsAndMisses(ExecutionMode mode)
    {
        Machine machine = PatchLoop(mode, InstructionCacheGeometry.Default);
        Assert.Equal(StopKind.Halted, machine.Run(10_000).Kind);
        Assert.Equal(100UL + 3 + 2, machine.Cpu.State[Gpr.Rbx]); // imm 100, then patched to 3, then 2
        var s = machine.Stats.Snapshot();
        Assert.Equal(3, s["icache_smc_invalidations"]);  // each patch hit f's line right after f ran
        // Interpreted: the 2nd and 3rd calls refetch f's line. Translated code fetches a whole unit's lines on
        // entry, so re-entering the caller's unit after the last patch may refetch f's line once more.
        Assert.InRange(s["icache_smc_misses"], 2, 3);
        Assert.InRange(s["icache_misses"], s["icache_smc_misses"] + 2, s["icache_fetches"]); // + f's and the caller's first miss
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Run_ModelOff_NoModelAndZeroCounters(ExecutionMode mode)
    {
        Machine machine = PatchLoop(mode, null);
        Assert.Null(machine.Cpu.InstructionCache);
        Assert.Equal(StopKind.Halted, machine.Run(10_000).Kind);
        Assert.Equal(100UL + 3 + 2, machine.Cpu.State[Gpr.Rbx]);
        var s = machine.Stats.Snapshot();
        Assert.Equal(0, s["icache_fetches"] + s["icache_misses"] + s["icache_smc_invalidations"] + s["icache_smc_misses"]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Sweep_SteadyState_MeasuredEqualsModel(ExecutionMode mode)
    {
        InstructionCacheSweepPoint[] points = [new(16, 1, 4), new(16, 4, 1), new(64, 8, 16)];
        foreach (InstructionCacheSweepPoint p in points)
        {
            InstructionCacheSweepResult r = InstructionCacheSweep.Run(p, periods: 5, mode);
            Assert.Equal(r.Iterations * p.MLines, r.Fetches);
            Assert.Equal(5L * p.UWrites, r.SmcMisses);
            Assert.Equal(r.SmcMisses, r.Misses); // the loop fits: nothing else misses in steady state
            Assert.Equal(p.ModelSmcMissFraction, r.MeasuredSmcMissFraction, 12);
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Run_WriteThroughAlias_InvalidatesLineAtCodeAddress(ExecutionMode mode)
    {
        const ulong rx = 0x6000_0000, rw = 0x6100_0000;
        Machine machine = NewMachine(mode, InstructionCacheGeometry.Default);
        var shared = new SharedMemoryObject(0x1000);
        machine.AddressSpace.Map(rx, 0x1000, PagePermissions.ReadExecute, "f (rx)", shared);
        machine.AddressSpace.Map(rw, 0x1000, PagePermissions.ReadWrite, "f (rw)", shared);
        machine.AddressSpace.Map(Code, 0x1000, PagePermissions.ReadExecute, "caller");
        Assert.True(machine.AddressSpace.TryWrite(rw, [0xB8, 100, 0, 0, 0, 0xC3], checkPermissions: false)); // mov eax, 100; ret
        LoadCaller(machine, a =>
        {
            a.mov(rdx, rw);
            a.mov(rsi, rx);
        }, a => a.call(rsi), _ => __byte_ptr[rdx + 1], Code); // the imm32's low byte, through the RW view

        Assert.Equal(StopKind.Halted, machine.Run(10_000).Kind);
        Assert.Equal(100UL + 3 + 2, machine.Cpu.State[Gpr.Rbx]);
        Assert.Equal(3, machine.Cpu.InstructionCache!.SmcInvalidations);
        Assert.Equal(2, machine.Cpu.InstructionCache.SmcMisses); // the indirect call ends units: f is fetched only when called
    }

    [Fact]
    public void Sweep_CsvRow_MatchesHeaderColumns()
    {
        InstructionCacheSweepResult r = InstructionCacheSweep.Run(new(16, 2, 2), periods: 2, ExecutionMode.Interpret);
        string[] header = InstructionCacheSweepResult.CsvHeader.Split(',');
        string[] row = r.ToCsvRow().Split(',');
        Assert.Equal(header.Length, row.Length);
        Assert.Equal(["16", "2", "2", "4", "64", "4", "4", "0.0625", "0.0625"], row);
    }
}
