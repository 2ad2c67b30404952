using Hv.Core.Cpu;
using Hv.Core.Debugging;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Debugging;

public sealed class DebugControllerTests
{
    /// <summary>
    /// Loads a loop over the qwords at <see cref="TestMachine.DataBase"/> (rdi; rcx = 200 down to 1) and runs it
    /// 150 instructions, so that it is hot when the test's debugger takes over.
    /// </summary>
    private static (ulong[] At, DebugController Debugger) HotDataLoop(TestMachine m, Action<Assembler> body)
    {
        ulong[] at = DebugTestCode.Load(m, a =>
        {
            a.mov(rdi, TestMachine.DataBase);
            GuestLoops.CountDown(a, 200, body);
        });
        m.Run(150);
        return (at, new DebugController(m.Machine));
    }

    /// <summary>
    /// Loads a loop that stores cl into the imm32 of the instruction after the store (at[3]: mov edx, 0x11111111,
    /// then <paramref name="afterTarget"/>) each round, on a code page made writable.
    /// </summary>
    private static ulong[] LoadSelfPatchingLoop(TestMachine m, int rounds, Action<Assembler>? afterTarget = null)
    {
        ulong[] at = DebugTestCode.Load(m, a =>
        {
            var target = a.CreateLabel();
            a.lea(rbx, __[target]);
            GuestLoops.CountDown(a, rounds, b =>
            {
                b.mov(__byte_ptr[rbx + 1], cl);
                b.Label(ref target);
                b.mov(edx, 0x11111111);
                afterTarget?.Invoke(b);
            });
        });
        Assert.True(m.Memory.Protect(TestMachine.CodeBase, PhysicalPage.Size, PagePermissions.All));
        return at;
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Resume_BreakpointInHotLoop_StopsBeforeItEveryIteration(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        ulong[] at = DebugTestCode.Load(m, a =>
        {
            a.xor(eax, eax);
            GuestLoops.CountDown(a, 300, b => b.inc(rax));
        });
        Assert.Equal(StopKind.InstructionLimit, m.Run(400).Kind); // the loop is hot (translated in translate/tiered mode)
        var debugger = new DebugController(m.Machine);
        debugger.AddBreakpoint(at[2]);

        DebugStop first = debugger.Resume(step: false);
        Assert.Equal(new DebugStop(DebugStopKind.Breakpoint, at[2]), first);
        ulong before = m.State[Gpr.Rax];
        Assert.Equal(DebugStopKind.Step, debugger.Resume(step: true).Kind); // step off the breakpoint, as gdb does
        DebugStop second = debugger.Resume(step: false);
        Assert.Equal(at[2], second.Address);
        Assert.Equal(at[2], m.State.Rip);
        Assert.Equal(before + 1, m.State[Gpr.Rax]);

        Assert.True(debugger.RemoveBreakpoint(at[2]));
        DebugStop end = debugger.Resume(step: false);
        Assert.Equal(DebugStopKind.Ended, end.Kind);
        Assert.Equal(StopKind.Halted, end.Ended!.Value.Kind);
        Assert.Equal(300ul, m.State[Gpr.Rax]);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Resume_HardwareBreakpoint_ReportedAsHardware(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        ulong[] at = DebugTestCode.Load(m, a =>
        {
            a.mov(eax, 1);
            a.mov(ebx, 2);
            a.mov(ecx, 3);
        });
        var debugger = new DebugController(m.Machine);
        debugger.AddBreakpoint(at[2], hardware: true);
        Assert.Equal(new DebugStop(DebugStopKind.HardwareBreakpoint, at[2]), debugger.Resume(step: false));
        Assert.Equal(2ul, m.State[Gpr.Rbx]);
        Assert.Equal(0ul, m.State[Gpr.Rcx]);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Resume_Step_RunsOneInstructionOfATranslatedLoop(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        ulong[] at = DebugTestCode.Load(m, a => GuestLoops.CountDown(a, 1000, b => b.inc(rax)));
        m.Run(301);
        var debugger = new DebugController(m.Machine);
        var seen = new List<ulong>();
        for (int i = 0; i < 6; i++)
        {
            DebugStop stop = debugger.Resume(step: true);
            Assert.Equal(DebugStopKind.Step, stop.Kind);
            seen.Add(stop.Address);
        }
        // Each step moves exactly one instruction along inc → dec → jnz → inc …
        for (int i = 1; i < seen.Count; i++)
            Assert.Equal(seen[i - 1] == at[3] ? at[1] : seen[i - 1] == at[1] ? at[2] : at[3], seen[i]);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Resume_WriteWatchpointInHotLoop_StopsAfterTheStoreWithItsAddress(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        (ulong[] at, DebugController debugger) = HotDataLoop(m, a =>
        {
            a.mov(__qword_ptr[rdi + rcx * 8], rcx);
            a.add(rax, __qword_ptr[rdi + rcx * 8]);
        });
        ulong watched = TestMachine.DataBase + 8 * 100;
        Assert.True(debugger.AddWatchpoint(watched + 2, 2, WatchKind.Write));

        DebugStop stop = debugger.Resume(step: false);
        Assert.Equal(new DebugStop(DebugStopKind.Watchpoint, watched + 2, WatchKind.Write), stop);
        Assert.Equal(at[3], m.State.Rip); // after the store, before the load
        Assert.Equal(100ul, m.State[Gpr.Rcx]);
        Assert.Equal(100ul, m.ReadData64(watched));

        DebugStop end = debugger.Resume(step: false); // the load of the same bytes is no write
        Assert.Equal(StopKind.Halted, end.Ended!.Value.Kind);
        Assert.Equal(200ul * 201 / 2, m.State[Gpr.Rax]);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Resume_ReadAndAccessWatchpoints_StopAfterTheLoad(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        (ulong[] at, DebugController debugger) = HotDataLoop(m, a => a.add(rax, __qword_ptr[rdi + rcx * 8]));
        ulong watched = TestMachine.DataBase + 8 * 40;
        Assert.True(debugger.AddWatchpoint(watched, 8, WatchKind.Read));
        Assert.Equal(new DebugStop(DebugStopKind.Watchpoint, watched, WatchKind.Read), debugger.Resume(step: false));
        Assert.Equal(at[3], m.State.Rip);
        Assert.Equal(40ul, m.State[Gpr.Rcx]);

        Assert.True(debugger.RemoveWatchpoint(watched, 8, WatchKind.Read));
        Assert.True(debugger.AddWatchpoint(watched - 8, 1, WatchKind.Access));
        Assert.Equal(new DebugStop(DebugStopKind.Watchpoint, watched - 8, WatchKind.Access), debugger.Resume(step: false));
        Assert.Equal(39ul, m.State[Gpr.Rcx]);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Resume_WatchpointUnderRepStos_StopsAfterTheStringInstruction(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        ulong[] at = DebugTestCode.Load(m, a =>
        {
            a.mov(rdi, TestMachine.DataBase);
            a.mov(ecx, 256);
            a.mov(al, 7);
            a.rep.stosb();
            a.mov(ebx, 1);
        });
        var debugger = new DebugController(m.Machine);
        Assert.True(debugger.AddWatchpoint(TestMachine.DataBase + 100, 4, WatchKind.Write));
        Assert.Equal(new DebugStop(DebugStopKind.Watchpoint, TestMachine.DataBase + 100, WatchKind.Write), debugger.Resume(step: false));
        Assert.Equal(at[4], m.State.Rip);
        Assert.Equal(0ul, m.State[Gpr.Rcx]);
        Assert.Equal(0x0707070707070707ul, m.ReadData64(TestMachine.DataBase + 248));
        Assert.Equal(0ul, m.State[Gpr.Rbx]);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Resume_BreakOnSmc_StopsAfterEachPatchAtTheWrittenAddress(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        ulong[] at = LoadSelfPatchingLoop(m, 3, a => a.add(eax, edx));
        var debugger = new DebugController(m.Machine) { BreakOnSmc = true };
        for (byte round = 3; round > 0; round--)
        {
            DebugStop stop = debugger.Resume(step: false);
            Assert.Equal((DebugStopKind.Watchpoint, at[3] + 1, WatchKind.Write), (stop.Kind, stop.Address, stop.Watch));
            Assert.Same(debugger.LastSmcEvent, stop.Smc);
            Assert.Equal(at[3], m.State.Rip); // right after the writing instruction
            Assert.Equal(at[2], debugger.LastSmcEvent!.WriterRip);
            Assert.Equal([round], debugger.LastSmcEvent.NewBytes);
        }
        DebugStop end = debugger.Resume(step: false);
        Assert.Equal(StopKind.Halted, end.Ended!.Value.Kind);
        Assert.Equal(0x11111100u * 3 + 3 + 2 + 1, (uint)m.State[Gpr.Rax]);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Resume_BreakOnSmcTurnedOnMidRun_StopsAtTheNextPatch(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        ulong[] at = LoadSelfPatchingLoop(m, 1000);
        var debugger = new DebugController(m.Machine);
        Assert.Equal(DebugStopKind.Step, debugger.Resume(step: true).Kind);
        Assert.Equal(StopKind.InstructionLimit, m.Run(500).Kind); // the code page's write-TLB entry is warm now
        debugger.BreakOnSmc = true;
        DebugStop stop = debugger.Resume(step: false);
        Assert.Equal((DebugStopKind.Watchpoint, at[3] + 1), (stop.Kind, stop.Address));
        Assert.Equal(at[3], m.State.Rip);
        debugger.BreakOnSmc = false;
        Assert.Equal(DebugStopKind.Ended, debugger.Resume(step: false).Kind);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void WriteMemory_IntoTranslatedCode_NextRunSeesTheNewCode(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        ulong[] at = DebugTestCode.Load(m, a => a.mov(eax, 1));
        m.Run();
        Assert.Equal(1ul, m.State[Gpr.Rax]);
        var debugger = new DebugController(m.Machine);
        Assert.True(debugger.WriteMemory(at[0] + 1, [2, 0, 0, 0]));
        m.State.Rip = at[0];
        Assert.Equal(DebugStopKind.Ended, debugger.Resume(step: false).Kind);
        Assert.Equal(2ul, m.State[Gpr.Rax]);
        Span<byte> back = stackalloc byte[5];
        Assert.Equal(5, debugger.ReadMemory(at[0], back));
        Assert.Equal(0, debugger.ReadMemory(0x10, back));
        Assert.False(debugger.WriteMemory(0x10, back));
    }

    [Fact]
    public void AddWatchpoint_BadLength_Refused()
    {
        var debugger = new DebugController(new TestMachine(ExecutionMode.Interpret).Machine);
        Assert.False(debugger.AddWatchpoint(TestMachine.DataBase, 0, WatchKind.Write));
        Assert.False(debugger.AddWatchpoint(TestMachine.DataBase, DebugController.MaxWatchLength + 1, WatchKind.Write));
        Assert.True(debugger.AddWatchpoint(TestMachine.DataBase, 16, WatchKind.Write));
        Assert.False(debugger.AddWatchpoint(ulong.MaxValue - 2, 4, WatchKind.Write));
    }
}
