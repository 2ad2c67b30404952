using Hv.Core.Debugging;
using Hv.Core.Decoding;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Execution;

// The vCPU's debugger hooks. Everything here is null or unused until a DebugController attaches, so an
// undebugged machine pays one null check per dispatched block.
public sealed unsafe partial class Vcpu
{
    private HashSet<ulong>? breakpoints;
    private DebugController? debugger;

    /// <summary>Connects the debugger that receives breakpoint hits and guest faults.</summary>
    internal void AttachDebugger(DebugController controller) => debugger = controller;

    /// <summary>
    /// Installs the breakpoint set (null for none): the dispatcher stops at these addresses, the decoder ends
    /// blocks before them and the translator leaves them out of regions.
    /// </summary>
    internal void SetBreakpoints(HashSet<ulong>? set)
    {
        breakpoints = set;
        decoder.BreakBefore = set;
    }

    /// <summary>Forgets why the vCPU last stopped (before the debugger steps it outside <see cref="Run"/>).</summary>
    internal void ClearStop() => stop = null;

    private bool StopAtBreakpoint(ulong rip) => debugger!.OnBreakpoint(this, rip);

    /// <summary>
    /// Runs exactly one guest instruction in the interpreter (single-step, and re-running an instruction that
    /// hit a watchpoint). A fault is handled as in <see cref="Run"/>.
    /// </summary>
    internal void StepInstruction()
    {
        try
        {
            instructionStart = State.Rip;
            DecodedBlock block = Lookup(State.Rip);
            ref Instruction ins = ref block.Instructions[0];
            State.Rip = ins.NextIP;
            block.Handlers[0](this, ref ins);
            Stats.InterpretedInstructions++;
        }
        catch (GuestFaultException e)
        {
            State.Rip = InstructionStart;
            HandleFault(e.Fault);
        }
    }
}
