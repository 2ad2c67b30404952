using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>Interpreter handlers: SYSCALL, HLT, NOPs, CPUID, RDTSC and other system-ish instructions.</summary>
internal static unsafe class SystemInstructions
{
    public static void Register(HandlerRegistry r)
    {
        r.Add(Mnemonic.Syscall, &Syscall);
        r.Add(Mnemonic.Hlt, &Hlt);
        r.Add(Mnemonic.Nop, &Nop);
    }

    private static void Syscall(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        // SYSCALL saves the return address in RCX and RFLAGS in R11, as the hardware does.
        s[Gpr.Rcx] = s.Rip;
        s[Gpr.R11] = s.RFlags;
        cpu.Stats.Syscalls++;
        if (cpu.Kernel is { } kernel) kernel.Syscall(cpu);
        else cpu.Stop(new StopReason(StopKind.Syscall));
    }

    private static void Hlt(Vcpu cpu, ref Instruction ins)
    {
        // HLT is privileged: user mode gets #GP. A bare machine (tests) treats it as "stop here".
        if (cpu.Kernel is not null)
            throw new GuestFaultException(new GuestFault(FaultKind.GeneralProtection, 0, AccessKind.Execute, "privileged instruction 'hlt'"));
        cpu.Stop(new StopReason(StopKind.Halted));
    }

    private static void Nop(Vcpu cpu, ref Instruction ins)
    {
    }
}
