using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Translation;

public sealed class BackgroundTranslationTests
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

    /// <summary>Runs the loop until it is hot and its region was requested, then waits for the worker.</summary>
    private static TestMachine HotLoopCompiled()
    {
        var m = new TestMachine(ExecutionMode.Tiered).Load(CountingLoop);
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
        var m = new TestMachine(ExecutionMode.Tiered, backgroundTranslation: false).Load(CountingLoop);

        Assert.Equal(StopKind.InstructionLimit, m.Run(limit: 30).Kind);

        Assert.True(m.Machine.Stats.RegionsTranslated >= 1);
        Assert.Equal(0, m.Machine.Stats.UnitsDiscarded);
    }
}
