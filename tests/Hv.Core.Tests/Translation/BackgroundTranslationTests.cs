using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Tests.Support;
using Hv.Core.Translation;
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

    /// <summary>
    /// A unit that turns hot while its entry block is being compiled into another unit's region is regrown at a
    /// later threshold. T's unit (test; jz L) turns hot first and its region, L included, is held in flight; L's
    /// own unit turns hot in the same round and again at 512 and 768 entries. Once T's region is installed, L's
    /// baseline unit still runs on odd rounds, entered through the dispatcher after "jmp rdx", and must be regrown
    /// (it used to stay a baseline unit for good).
    /// </summary>
    [Fact]
    public void Run_TranslateModeUnitHotWhileItsEntryIsInFlight_IsRegrownLater()
    {
        var m = new TestMachine(ExecutionMode.Translate).Load(a =>
        {
            Label l = a.CreateLabel(), done = a.CreateLabel();
            a.mov(ecx, 4000);
            a.xor(eax, eax);
            a.Label(ref l);
            a.add(rax, rcx);
            a.dec(ecx);
            a.jz(done);
            a.test(ecx, 1);
            a.jz(l);          // even rounds: a direct back edge
            a.lea(rdx, __[l]);
            a.jmp(rdx);       // odd rounds: an indirect one
            a.Label(ref done);
        });
        List<TranslatedUnit> added = m.RecordUnitsAdded();
        BackgroundTranslator worker = m.Machine.Cpu.BackgroundTranslator!;
        const int PerRound = 6; // add, dec, jz, test, jz, and lea, jmp on odd rounds

        worker.Hold();
        Assert.Equal(StopKind.InstructionLimit, m.Run(limit: 1000 * PerRound).Kind); // T's region requested, held
        Assert.Equal(1, m.Machine.Stats.UnitsRegrown);
        worker.Release();
        m.Machine.Cpu.WaitForBackgroundTranslations();
        Assert.Equal(StopKind.InstructionLimit, m.Run(limit: 500 * PerRound).Kind); // T's region installed, L regrown
        Assert.Equal(2, m.Machine.Stats.UnitsRegrown);
        m.Machine.Cpu.WaitForBackgroundTranslations();
        Assert.Equal(StopKind.Halted, m.Run().Kind);

        ulong l = added.Find(u => u.Baseline && u.SourceBlocks[0].Instructions[0].Mnemonic == Mnemonic.Add)!.Start;
        Assert.Contains(added, u => u.Start == l && !u.Baseline);
        Assert.Equal(4000UL * 4001 / 2, m.State[Gpr.Rax]);
    }
}
