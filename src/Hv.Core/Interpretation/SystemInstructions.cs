using System.Diagnostics;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>
/// Interpreter handlers: SYSCALL, HLT, CPUID, RDTSC/RDTSCP, the hint instructions that do nothing here (NOPs,
/// PAUSE, ENDBR64, prefetches, fences), CLFLUSH, and the instructions that only raise exceptions (UD0/1/2,
/// INT3, INT1, INT n, XGETBV).
/// </summary>
/// <remarks>
/// INT3 raises <see cref="FaultKind.Breakpoint"/> with RIP restored to the INT3 itself, like every other fault
/// (the vCPU contract). Linux reports a breakpoint trap with RIP <em>after</em> the instruction, so the fault's
/// <see cref="GuestFault.Address"/> carries that address (NextIP) for the kernel to use as the signal RIP.
/// INT1 (ICEBP) does the same with <see cref="FaultKind.DebugTrap"/>.
/// </remarks>
internal static unsafe class SystemInstructions
{
    private const int Rax = (int)Gpr.Rax;
    private const int Rcx = (int)Gpr.Rcx;
    private const int Rdx = (int)Gpr.Rdx;
    private const int Rbx = (int)Gpr.Rbx;

    public static void Register(HandlerRegistry r)
    {
        r.Add(Mnemonic.Syscall, &Syscall);
        r.Add(Mnemonic.Hlt, &Hlt);
        r.Add(Mnemonic.Nop, &Nop);

        r.Add(Code.Cpuid, &Cpuid);
        r.Add(Code.Rdtsc, &Rdtsc);
        r.Add(Code.Rdtscp, &Rdtscp);

        // Hints: no architectural effect in this machine.
        foreach (Code c in (ReadOnlySpan<Code>)[
            Code.Pause, Code.Endbr64, Code.Endbr32,
            Code.Prefetchnta_m8, Code.Prefetcht0_m8, Code.Prefetcht1_m8, Code.Prefetcht2_m8, Code.Prefetch_m8,
            Code.Prefetchw_m8, Code.Prefetchwt1_m8, Code.Prefetchit0_m8, Code.Prefetchit1_m8,
            Code.Prefetchreserved3_m8, Code.Prefetchreserved4_m8, Code.Prefetchreserved5_m8,
            Code.Prefetchreserved6_m8, Code.Prefetchreserved7_m8,
            Code.Lfence, Code.Lfence_E9, Code.Lfence_EA, Code.Lfence_EB, Code.Lfence_EC, Code.Lfence_ED,
            Code.Lfence_EE, Code.Lfence_EF,
            Code.Sfence, Code.Sfence_F9, Code.Sfence_FA, Code.Sfence_FB, Code.Sfence_FC, Code.Sfence_FD,
            Code.Sfence_FE, Code.Sfence_FF])
            r.Add(c, &Nop);
        foreach (Code c in (ReadOnlySpan<Code>)[Code.Mfence, Code.Mfence_F1, Code.Mfence_F2, Code.Mfence_F3,
            Code.Mfence_F4, Code.Mfence_F5, Code.Mfence_F6, Code.Mfence_F7])
            r.Add(c, &Mfence);
        // The 0F 0D and 0F 18..1F hint-NOP space (everything Iced does not name more precisely).
        r.Add(Mnemonic.Reservednop, &Nop);

        r.Add(Code.Clflush_m8, &Clflush);
        r.Add(Code.Clflushopt_m8, &Clflush);

        foreach (Code c in (ReadOnlySpan<Code>)[Code.Ud2, Code.Ud0, Code.Ud0_r16_rm16, Code.Ud0_r32_rm32,
            Code.Ud0_r64_rm64, Code.Ud1_r16_rm16, Code.Ud1_r32_rm32, Code.Ud1_r64_rm64])
            r.Add(c, &Undefined);
        // XSAVE/OSXSAVE are not advertised, so XGETBV does not exist.
        r.Add(Code.Xgetbv, &Undefined);

        r.Add(Code.Int3, &Int3);
        r.Add(Code.Int1, &Int1);
        r.Add(Code.Int_imm8, &IntN);
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

    private static void Mfence(Vcpu cpu, ref Instruction ins) => Interlocked.MemoryBarrier();

    private static void Cpuid(Vcpu cpu, ref Instruction ins)
    {
        ulong[] g = cpu.State.Gpr;
        CpuidResult r = CpuidModel.Query((uint)g[Rax], (uint)g[Rcx]);
        // 32-bit results: the upper halves are cleared.
        g[Rax] = r.Eax;
        g[Rbx] = r.Ebx;
        g[Rcx] = r.Ecx;
        g[Rdx] = r.Edx;
    }

    /// <summary>A monotonic time-stamp counter ticking at a nominal 1 GHz (nanoseconds of the host's monotonic clock).</summary>
    internal static ulong ReadTsc()
    {
        ulong ticks = (ulong)Stopwatch.GetTimestamp();
        ulong frequency = (ulong)Stopwatch.Frequency;
        return frequency == 1_000_000_000 ? ticks : (ulong)((UInt128)ticks * 1_000_000_000 / frequency);
    }

    private static void Rdtsc(Vcpu cpu, ref Instruction ins)
    {
        ulong[] g = cpu.State.Gpr;
        ulong tsc = ReadTsc();
        g[Rax] = (uint)tsc;
        g[Rdx] = tsc >> 32;
    }

    private static void Rdtscp(Vcpu cpu, ref Instruction ins)
    {
        ulong[] g = cpu.State.Gpr;
        ulong tsc = ReadTsc();
        g[Rax] = (uint)tsc;
        g[Rdx] = tsc >> 32;
        g[Rcx] = 0; // IA32_TSC_AUX: Linux stores (node << 12) | cpu; one CPU on node 0
    }

    private static void Clflush(Vcpu cpu, ref Instruction ins)
    {
        // No cache to flush, but the access is permission-checked like a load.
        cpu.Memory.Read8(Operands.EffectiveAddress(cpu, ref ins));
    }

    private static void Undefined(Vcpu cpu, ref Instruction ins) =>
        throw new GuestFaultException(new GuestFault(FaultKind.InvalidOpcode, 0, AccessKind.Execute,
            $"invalid opcode '{ins.Mnemonic.ToString().ToLowerInvariant()}'"));

    private static void Int3(Vcpu cpu, ref Instruction ins) =>
        throw new GuestFaultException(new GuestFault(FaultKind.Breakpoint, ins.NextIP, AccessKind.Execute, "breakpoint (int3)"));

    private static void Int1(Vcpu cpu, ref Instruction ins) =>
        throw new GuestFaultException(new GuestFault(FaultKind.DebugTrap, ins.NextIP, AccessKind.Execute, "debug trap (int1)"));

    private static void IntN(Vcpu cpu, ref Instruction ins)
    {
        // User mode may only use gates with DPL 3. On Linux/x86-64 those are #BP (so "int 3", CD 03, traps like
        // INT3), #OF (SIGSEGV, like the #GP used here) and int 0x80 for the 32-bit ABI, which Hv does not emulate.
        if (ins.Immediate8 == 3)
            throw new GuestFaultException(new GuestFault(FaultKind.Breakpoint, ins.NextIP, AccessKind.Execute, "breakpoint (int 3)"));
        throw new GuestFaultException(new GuestFault(FaultKind.GeneralProtection, 0, AccessKind.Execute,
            $"int 0x{ins.Immediate8:x2}"));
    }
}
