using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Translation;

public sealed class BackgroundTranslationTests
{
    /// <summary>Runs the loop until it is hot and its region was requested, then waits for the worker.</summary>
    private static TestMachine HotLoopCompiled()
    {
        var m = new TestMachine(ExecutionMode.Tiered).Load(GuestLoops.CountingLoop);
        Assert.Equal(StopKind.InstructionLimit, m.Run(limit: 30).Kind);
        m.Machine.Cpu.WaitForBackgroundTranslations();
        return m;
    }

    [Fact]
    public void Run_CompiledRegionReady_InstallsAndRunsIt()
    {
        TestMachine m = HotLoopCompiled();

        Assert.Equal(StopKind.Halted, m.Run().Kind);

        Assert.Equal(500500UL, m.State[Gpr.Rax]);
        Assert.Equal(2 + 3 * 1000L + 1, m.Machine.Stats.GuestInstructions);
        Assert.True(m.Machine.Stats.RegionsTranslated >= 1);
        Assert.True(m.Machine.Stats.TranslatedInstructions > 0);
        Assert.Equal(0, m.Machine.Stats.UnitsDiscarded);
    }

    [Fact]
    public void Run_SourceBlocksInvalidatedWhileCompiling_DiscardsUnit()
    {
        TestMachine m = HotLoopCompiled();
        m.Machine.Cpu.InvalidateCode(); // as an munmap or a code write would

        Assert.Equal(StopKind.Halted, m.Run().Kind);

        Assert.Equal(500500UL, m.State[Gpr.Rax]);
        Assert.Equal(2 + 3 * 1000L + 1, m.Machine.Stats.GuestInstructions);
        Assert.True(m.Machine.Stats.UnitsDiscarded >= 1);
    }

    [Fact]
    public void Run_TieredWithoutBackground_TranslatesOnTheVcpuThread()
    {
        var m = new TestMachine(ExecutionMode.Tiered, backgroundTranslation: false).Load(GuestLoops.CountingLoop);

        Assert.Equal(StopKind.InstructionLimit, m.Run(limit: 30).Kind);

        Assert.True(m.Machine.Stats.RegionsTranslated >= 1);
        Assert.Equal(0, m.Machine.Stats.UnitsDiscarded);
    }

    /// <summary>Runs 30 instructions, patches the loop's immediate 7 → 9 (re-decoded in place), runs to the end.</summary>
    private static TestMachine RunPatchedAfterWarmUp(ExecutionMode mode, bool waitForCompile)
    {
        var m = new TestMachine(mode).Load(GuestLoops.AddImmediateLoop);
        Assert.Equal(StopKind.InstructionLimit, m.Run(limit: 30).Kind);
        if (waitForCompile) m.Machine.Cpu.WaitForBackgroundTranslations();
        Span<byte> code = stackalloc byte[32];
        Assert.True(m.Memory.TryRead(TestMachine.CodeBase, code, checkPermissions: false));
        int add = code.IndexOf((ReadOnlySpan<byte>)[0x48, 0x05, 0x07, 0x00]); // add rax, imm32
        Assert.True(add >= 0, Convert.ToHexString(code));
        Assert.True(m.Machine.WriteMemoryAsDebugger(TestMachine.CodeBase + (ulong)add + 2, [9]));
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        return m;
    }

    [Fact]
    public void Run_OperandPatchedInPlaceWhileCompiling_DiscardsUnitAndRunsNewCode()
    {
        TestMachine expected = RunPatchedAfterWarmUp(ExecutionMode.Interpret, waitForCompile: false);

        TestMachine m = RunPatchedAfterWarmUp(ExecutionMode.Tiered, waitForCompile: true);

        Assert.Equal(expected.State[Gpr.Rax], m.State[Gpr.Rax]);
        Assert.True(m.Machine.Stats.SmcInPlacePatches >= 1);
        Assert.True(m.Machine.Stats.UnitsDiscarded >= 1);
    }

    [Fact]
    public void Run_TranslateModeHotUnitWithLaterDecodedSuccessors_RegrowsIt()
    {
        // f's entry block is compiled on the first call, before either of its successors was decoded; the
        // 1000 calls enter it through the dispatcher, so it becomes hot and is compiled again over all three.
        var m = new TestMachine(ExecutionMode.Translate).Load(a =>
        {
            Label loop = a.CreateLabel(), f = a.CreateLabel(), odd = a.CreateLabel(), done = a.CreateLabel();
            a.mov(ecx, 1000);
            a.xor(eax, eax);
            a.Label(ref loop);
            a.mov(edi, ecx);
            a.call(f);
            a.dec(ecx);
            a.jnz(loop);
            a.jmp(done);
            a.Label(ref f);
            a.test(edi, 1);
            a.jnz(odd);
            a.add(rax, rdi);
            a.ret();
            a.Label(ref odd);
            a.sub(rax, 1);
            a.ret();
            a.Label(ref done);
        });

        Assert.Equal(StopKind.Halted, m.Run().Kind);

        Assert.Equal(250500UL - 500UL, m.State[Gpr.Rax]); // evens 2..1000 summed, minus one per odd
        Assert.True(m.Machine.Stats.UnitsRegrown >= 1);
        Assert.Equal(0, m.Machine.Stats.UnitsInvalidated);
    }
}
