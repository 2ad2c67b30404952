using Hv.Core;
using Hv.Core.Debugging;
using Hv.Core.Execution;
using Hv.Linux.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Linux.Tests;

/// <summary>Guest faults under the debugger: a stop with the signal first, then delivery or discard on resume.</summary>
public sealed class DebuggerSignalTests
{
    private static (GuestProcess Process, DebugController Debugger) Start(ExecutionMode mode, Action<Iced.Intel.Assembler> code)
    {
        GuestProcess process = Guest.Create(new ElfBuilder().WithCode(code).Build(), mode: mode);
        return (process, new DebugController(process.Machine, limit => process.Run(limit)));
    }

    [Theory]
    [MemberData(nameof(Modes.AllModes), MemberType = typeof(Modes))]
    public void Resume_Int3_StopsWithSigtrapAfterItAndContinuesWithoutTheSignal(ExecutionMode mode)
    {
        var (process, debugger) = Start(mode, a =>
        {
            a.int3();
            a.mov(edi, 3);
            a.mov(eax, 231);
            a.syscall();
        });
        DebugStop stop = debugger.Resume(step: false);
        Assert.Equal((DebugStopKind.Signal, 5), (stop.Kind, stop.Value));
        Assert.Equal(ElfBuilder.CodeBase + 1, process.Machine.Cpu.State.Rip);
        DebugStop end = debugger.Resume(step: false, signal: 0);
        Assert.Equal(new StopReason(StopKind.Exited, 3), end.Ended);
    }

    [Theory]
    [MemberData(nameof(Modes.AllModes), MemberType = typeof(Modes))]
    public void Resume_Segfault_StopsWithSigsegvThenDiesWhenDelivered(ExecutionMode mode)
    {
        var (process, debugger) = Start(mode, a =>
        {
            a.mov(__dword_ptr[0x10], 1);
            a.hlt();
        });
        DebugStop stop = debugger.Resume(step: false);
        Assert.Equal((DebugStopKind.Signal, 11), (stop.Kind, stop.Value));
        Assert.Equal(ElfBuilder.CodeBase, process.Machine.Cpu.State.Rip);
        Assert.Equal((DebugStopKind.Signal, 11), (debugger.Resume(step: false, signal: 0).Kind, stop.Value)); // discarded: faults again
        DebugStop end = debugger.Resume(step: false, signal: 11);
        Assert.Equal(StopKind.Killed, end.Ended!.Value.Kind);
        Assert.Equal(11, end.Ended.Value.Status);
    }
}
