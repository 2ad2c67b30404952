using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Translation;

public sealed class TranslationTests
{
    private static void CountingLoop(Assembler a)
    {
        Label loop = a.CreateLabel();
        a.mov(rcx, 1000);
        a.xor(eax, eax);
        a.Label(ref loop);
        a.add(rax, rcx);
        a.dec(rcx);
        a.jnz(loop);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Loop_AnyMode_ComputesSameResult(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(CountingLoop);
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(500500UL, m.State[Gpr.Rax]);
        Assert.Equal(0UL, m.State[Gpr.Rcx]);
        Assert.Equal(3 + 3 * 1000L + 1, m.Machine.Stats.GuestInstructions);
    }

    [Fact]
    public void Loop_TranslateMode_RunsTranslatedCode()
    {
        var m = new TestMachine(ExecutionMode.Translate).Load(CountingLoop);
        m.Run();
        var s = m.Machine.Stats.Snapshot();
        Assert.True(s["regions_translated"] >= 1);
        Assert.True(s["guest_instructions_translated"] >= 3000, $"translated {s["guest_instructions_translated"]}");
    }

    [Fact]
    public void Loop_InterpretMode_TranslatesNothing()
    {
        var m = new TestMachine(ExecutionMode.Interpret).Load(CountingLoop);
        m.Run();
        Assert.Equal(0, m.Machine.Stats.RegionsTranslated);
        Assert.Equal(0, m.Machine.Stats.TranslatedInstructions);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void InstructionLimit_InsideTranslatedLoop_StopsAtBudget(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(CountingLoop);
        StopReason r = m.Run(limit: 100);
        Assert.Equal(StopKind.InstructionLimit, r.Kind);
        Assert.InRange(m.Machine.Stats.GuestInstructions, 100, 200);
    }

    /// <summary>
    /// The loop body rewrites the immediate of an instruction a few bytes ahead in the same block each
    /// iteration: every mode must execute the freshly written bytes.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void StoreIntoOwnBlock_NextInstruction_ExecutesNewBytes(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a =>
        {
            Label loop = a.CreateLabel(), patched = a.CreateLabel();
            a.mov(rcx, 50);
            a.xor(ebx, ebx);
            a.Label(ref loop);
            a.lea(rdi, __[patched]);
            a.mov(__dword_ptr[rdi + 1], ecx); // rewrites the imm32 of "mov eax, imm32" below
            a.Label(ref patched);
            a.mov(eax, 0x11111111);
            a.add(rbx, rax);
            a.dec(rcx);
            a.jnz(loop);
        });
        Assert.True(m.Memory.Protect(TestMachine.CodeBase, 0x1000, PagePermissions.All));
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)(50 * 51 / 2), m.State[Gpr.Rbx]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void FaultInTranslatedLoop_IsPrecise(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a =>
        {
            Label loop = a.CreateLabel();
            a.mov(rcx, 100);
            a.mov(rdi, TestMachine.DataBase + TestMachine.DataSize - 8 * 50);
            a.Label(ref loop);
            a.mov(__qword_ptr[rdi], rcx);
            a.add(rdi, 8);
            a.dec(rcx);
            a.jnz(loop);
        });
        StopReason r = m.Run();
        Assert.Equal(StopKind.Faulted, r.Kind);
        Assert.Equal(FaultKind.PageNotMapped, r.Fault!.Value.Kind);
        Assert.Equal(TestMachine.DataBase + TestMachine.DataSize, r.Fault.Value.Address);
        Assert.Equal(50UL, m.State[Gpr.Rcx]);
        Assert.Equal(TestMachine.DataBase + TestMachine.DataSize, m.State[Gpr.Rdi]);
        // RIP points at the faulting store.
        Assert.StartsWith("mov [rdi],rcx", m.Machine.Cpu.DisassembleAt(m.State.Rip));
    }
}
