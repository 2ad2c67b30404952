using System.Runtime.CompilerServices;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>
/// Interpreter handlers: jumps, conditional branches, loops, calls and returns, and the stack instructions
/// (PUSH/POP, PUSHF/POPF, ENTER/LEAVE). On entry <see cref="CpuState.Rip"/> already holds the next instruction's
/// address; a taken branch overwrites it. Every memory access that can fault happens before any register
/// changes, so a faulting instruction can be restarted.
/// </summary>
internal static unsafe class ControlInstructions
{
    private const int Rsp = (int)Gpr.Rsp;
    private const int Rbp = (int)Gpr.Rbp;
    private const int Rcx = (int)Gpr.Rcx;

    /// <summary>RFLAGS bits POPF may change in user mode (IF, IOPL, NT, VM, RF stay as they are).</summary>
    private const ulong PopfMask = (ulong)(RFlags.CF | RFlags.PF | RFlags.AF | RFlags.ZF | RFlags.SF | RFlags.TF
        | RFlags.DF | RFlags.OF | RFlags.AC | RFlags.ID);

    /// <summary>RF (bit 16) and VM (bit 17) always read as 0 in the image PUSHF stores.</summary>
    private const ulong PushfMask = ~0x3_0000UL;

    public static void Register(HandlerRegistry r)
    {
        r.Add(Code.Jmp_rel8_64, &JmpRel);
        r.Add(Code.Jmp_rel32_64, &JmpRel);
        r.Add(Code.Jmp_rm64, &JmpIndirect);

        RegisterJcc(r, Code.Jo_rel8_64, Code.Jo_rel32_64, &Jo);
        RegisterJcc(r, Code.Jno_rel8_64, Code.Jno_rel32_64, &Jno);
        RegisterJcc(r, Code.Jb_rel8_64, Code.Jb_rel32_64, &Jb);
        RegisterJcc(r, Code.Jae_rel8_64, Code.Jae_rel32_64, &Jae);
        RegisterJcc(r, Code.Je_rel8_64, Code.Je_rel32_64, &Je);
        RegisterJcc(r, Code.Jne_rel8_64, Code.Jne_rel32_64, &Jne);
        RegisterJcc(r, Code.Jbe_rel8_64, Code.Jbe_rel32_64, &Jbe);
        RegisterJcc(r, Code.Ja_rel8_64, Code.Ja_rel32_64, &Ja);
        RegisterJcc(r, Code.Js_rel8_64, Code.Js_rel32_64, &Js);
        RegisterJcc(r, Code.Jns_rel8_64, Code.Jns_rel32_64, &Jns);
        RegisterJcc(r, Code.Jp_rel8_64, Code.Jp_rel32_64, &Jp);
        RegisterJcc(r, Code.Jnp_rel8_64, Code.Jnp_rel32_64, &Jnp);
        RegisterJcc(r, Code.Jl_rel8_64, Code.Jl_rel32_64, &Jl);
        RegisterJcc(r, Code.Jge_rel8_64, Code.Jge_rel32_64, &Jge);
        RegisterJcc(r, Code.Jle_rel8_64, Code.Jle_rel32_64, &Jle);
        RegisterJcc(r, Code.Jg_rel8_64, Code.Jg_rel32_64, &Jg);

        r.Add(Code.Jrcxz_rel8_64, &Jrcxz);
        r.Add(Code.Jecxz_rel8_64, &Jecxz);
        r.Add(Code.Loop_rel8_64_RCX, &LoopRcx);
        r.Add(Code.Loop_rel8_64_ECX, &LoopEcx);
        r.Add(Code.Loope_rel8_64_RCX, &LoopeRcx);
        r.Add(Code.Loope_rel8_64_ECX, &LoopeEcx);
        r.Add(Code.Loopne_rel8_64_RCX, &LoopneRcx);
        r.Add(Code.Loopne_rel8_64_ECX, &LoopneEcx);

        r.Add(Code.Call_rel32_64, &CallRel);
        r.Add(Code.Call_rm64, &CallIndirect);
        r.Add(Code.Retnq, &Ret);
        r.Add(Code.Retnq_imm16, &RetImm);

        r.Add(Code.Push_r64, &PushR64);
        r.Add(Code.Pop_r64, &PopR64);
        r.Add(Code.Push_rm64, &PushRm64);
        r.Add(Code.Pop_rm64, &PopRm64);
        r.Add(Code.Pushq_imm8, &PushImm64);
        r.Add(Code.Pushq_imm32, &PushImm64);
        r.Add(Code.Push_r16, &Push16);
        r.Add(Code.Push_rm16, &Push16);
        r.Add(Code.Push_imm16, &Push16);
        r.Add(Code.Pushw_imm8, &Push16);
        r.Add(Code.Pop_r16, &Pop16);
        r.Add(Code.Pop_rm16, &Pop16);
        // Linux runs 64-bit code with null FS/GS selectors; the bases live in MSRs, so the selector reads as 0.
        r.Add(Code.Pushq_FS, &PushZeroSelector);
        r.Add(Code.Pushq_GS, &PushZeroSelector);

        r.Add(Code.Pushfq, &Pushfq);
        r.Add(Code.Pushfw, &Pushfw);
        r.Add(Code.Popfq, &Popfq);
        r.Add(Code.Popfw, &Popfw);
        r.Add(Code.Enterq_imm16_imm8, &Enter);
        r.Add(Code.Leaveq, &Leave);
        r.Add(Code.Leavew, &Leavew);
    }

    private static void RegisterJcc(HandlerRegistry r, Code rel8, Code rel32, delegate*<Vcpu, ref Instruction, void> h)
    {
        r.Add(rel8, h);
        r.Add(rel32, h);
    }

    /// <summary>Is <paramref name="address"/> canonical (bits 63..47 all equal)?</summary>
    internal static bool IsCanonical(ulong address) => (ulong)((long)address << 16 >> 16) == address;

    /// <summary>Raises #GP for a branch to a non-canonical address (the branch itself faults on x86-64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CheckCanonical(ulong target)
    {
        if (!IsCanonical(target)) ThrowNonCanonical(target);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNonCanonical(ulong target) => throw new GuestFaultException(NonCanonical(target));

    /// <summary>The #GP a branch to a non-canonical address raises (at the branch).</summary>
    internal static GuestFault NonCanonical(ulong target) =>
        new(FaultKind.GeneralProtection, 0, AccessKind.Execute, $"branch to non-canonical address 0x{target:x}");

    /// <summary>For translated code: true if <paramref name="target"/> is canonical, else records the #GP.</summary>
    internal static bool CheckBranchTarget(GuestMemory memory, ulong target)
    {
        if (IsCanonical(target)) return true;
        memory.PendingFault = NonCanonical(target);
        return false;
    }

    // ---- jumps ----

    private static void JmpRel(Vcpu cpu, ref Instruction ins) => cpu.State.Rip = ins.NearBranch64;

    private static void JmpIndirect(Vcpu cpu, ref Instruction ins)
    {
        ulong target = Operands.Read(cpu, ref ins, 0, 8);
        CheckCanonical(target);
        cpu.State.Rip = target;
    }

    // One handler per condition: the condition is fixed at compile time, so the hot path is one flag test.
    private static void Jo(Vcpu cpu, ref Instruction ins) { if (Flags.GetOF(cpu.State)) cpu.State.Rip = ins.NearBranch64; }
    private static void Jno(Vcpu cpu, ref Instruction ins) { if (!Flags.GetOF(cpu.State)) cpu.State.Rip = ins.NearBranch64; }
    private static void Jb(Vcpu cpu, ref Instruction ins) { if (Flags.GetCF(cpu.State)) cpu.State.Rip = ins.NearBranch64; }
    private static void Jae(Vcpu cpu, ref Instruction ins) { if (!Flags.GetCF(cpu.State)) cpu.State.Rip = ins.NearBranch64; }
    private static void Je(Vcpu cpu, ref Instruction ins) { if (Flags.GetZF(cpu.State)) cpu.State.Rip = ins.NearBranch64; }
    private static void Jne(Vcpu cpu, ref Instruction ins) { if (!Flags.GetZF(cpu.State)) cpu.State.Rip = ins.NearBranch64; }
    private static void Js(Vcpu cpu, ref Instruction ins) { if (Flags.GetSF(cpu.State)) cpu.State.Rip = ins.NearBranch64; }
    private static void Jns(Vcpu cpu, ref Instruction ins) { if (!Flags.GetSF(cpu.State)) cpu.State.Rip = ins.NearBranch64; }
    private static void Jp(Vcpu cpu, ref Instruction ins) { if (Flags.GetPF(cpu.State)) cpu.State.Rip = ins.NearBranch64; }
    private static void Jnp(Vcpu cpu, ref Instruction ins) { if (!Flags.GetPF(cpu.State)) cpu.State.Rip = ins.NearBranch64; }

    private static void Jbe(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (Flags.GetCF(s) || Flags.GetZF(s)) s.Rip = ins.NearBranch64;
    }

    private static void Ja(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (!Flags.GetCF(s) && !Flags.GetZF(s)) s.Rip = ins.NearBranch64;
    }

    private static void Jl(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (Flags.GetSF(s) != Flags.GetOF(s)) s.Rip = ins.NearBranch64;
    }

    private static void Jge(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (Flags.GetSF(s) == Flags.GetOF(s)) s.Rip = ins.NearBranch64;
    }

    private static void Jle(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (Flags.GetZF(s) || Flags.GetSF(s) != Flags.GetOF(s)) s.Rip = ins.NearBranch64;
    }

    private static void Jg(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (!Flags.GetZF(s) && Flags.GetSF(s) == Flags.GetOF(s)) s.Rip = ins.NearBranch64;
    }

    private static void Jrcxz(Vcpu cpu, ref Instruction ins)
    {
        if (cpu.State.Gpr[Rcx] == 0) cpu.State.Rip = ins.NearBranch64;
    }

    private static void Jecxz(Vcpu cpu, ref Instruction ins)
    {
        if ((uint)cpu.State.Gpr[Rcx] == 0) cpu.State.Rip = ins.NearBranch64;
    }

    // LOOPcc never changes flags. With a 0x67 prefix the counter is ECX; writing it zero-extends like any
    // 32-bit register write.
    private static void LoopRcx(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (--s.Gpr[Rcx] != 0) s.Rip = ins.NearBranch64;
    }

    private static void LoopEcx(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        uint ecx = (uint)s.Gpr[Rcx] - 1;
        s.Gpr[Rcx] = ecx;
        if (ecx != 0) s.Rip = ins.NearBranch64;
    }

    private static void LoopeRcx(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (--s.Gpr[Rcx] != 0 && Flags.GetZF(s)) s.Rip = ins.NearBranch64;
    }

    private static void LoopeEcx(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        uint ecx = (uint)s.Gpr[Rcx] - 1;
        s.Gpr[Rcx] = ecx;
        if (ecx != 0 && Flags.GetZF(s)) s.Rip = ins.NearBranch64;
    }

    private static void LoopneRcx(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        if (--s.Gpr[Rcx] != 0 && !Flags.GetZF(s)) s.Rip = ins.NearBranch64;
    }

    private static void LoopneEcx(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        uint ecx = (uint)s.Gpr[Rcx] - 1;
        s.Gpr[Rcx] = ecx;
        if (ecx != 0 && !Flags.GetZF(s)) s.Rip = ins.NearBranch64;
    }

    // ---- calls and returns ----

    private static void CallRel(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        Operands.Push64(cpu, s.Rip); // stores before RSP moves; a fault leaves RSP and RIP alone
        s.Rip = ins.NearBranch64;
    }

    private static void CallIndirect(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        // The operand is read with the old RSP (call [rsp+8] uses the pre-push value).
        ulong target = Operands.Read(cpu, ref ins, 0, 8);
        CheckCanonical(target);
        Operands.Push64(cpu, s.Rip);
        s.Rip = target;
    }

    private static void Ret(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong rsp = s.Gpr[Rsp];
        ulong target = cpu.Memory.Read64(rsp);
        CheckCanonical(target);
        s.Gpr[Rsp] = rsp + 8;
        s.Rip = target;
    }

    private static void RetImm(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong rsp = s.Gpr[Rsp];
        ulong target = cpu.Memory.Read64(rsp);
        CheckCanonical(target);
        s.Gpr[Rsp] = rsp + 8 + ins.Immediate16;
        s.Rip = target;
    }

    // ---- push / pop ----

    private static void PushR64(Vcpu cpu, ref Instruction ins)
    {
        // PUSH RSP pushes the value before the decrement, which reading it first gives.
        Operands.Push64(cpu, cpu.State.Gpr[Operands.GprIndex(ins.Op0Register)]);
    }

    private static void PopR64(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong rsp = s.Gpr[Rsp];
        ulong value = cpu.Memory.Read64(rsp);
        s.Gpr[Rsp] = rsp + 8;
        s.Gpr[Operands.GprIndex(ins.Op0Register)] = value; // POP RSP: the loaded value wins
    }

    private static void PushRm64(Vcpu cpu, ref Instruction ins) =>
        Operands.Push64(cpu, Operands.Read(cpu, ref ins, 0, 8));

    private static void PushImm64(Vcpu cpu, ref Instruction ins) =>
        Operands.Push64(cpu, ins.GetImmediate(0)); // Immediate8to64/32to64: already sign-extended

    private static void PushZeroSelector(Vcpu cpu, ref Instruction ins) => Operands.Push64(cpu, 0);

    private static void PopRm64(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong rsp = s.Gpr[Rsp];
        ulong value = cpu.Memory.Read64(rsp);
        if (ins.Op0Kind == OpKind.Register)
        {
            s.Gpr[Rsp] = rsp + 8;
            Operands.WriteGpr(s, ins.Op0Register, value);
            return;
        }
        // An RSP-based destination address is computed after the increment; the store must still precede the
        // RSP update so a faulting store leaves RSP unchanged.
        s.Gpr[Rsp] = rsp + 8;
        ulong address = Operands.EffectiveAddress(cpu, ref ins);
        s.Gpr[Rsp] = rsp;
        cpu.Memory.Write64(address, value);
        s.Gpr[Rsp] = rsp + 8;
    }

    private static void Push16(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong value = Operands.Read(cpu, ref ins, 0, 2);
        ulong rsp = s.Gpr[Rsp] - 2;
        cpu.Memory.Write16(rsp, (ushort)value);
        s.Gpr[Rsp] = rsp;
    }

    private static void Pop16(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong rsp = s.Gpr[Rsp];
        ushort value = cpu.Memory.Read16(rsp);
        if (ins.Op0Kind == OpKind.Register)
        {
            s.Gpr[Rsp] = rsp + 2;
            Operands.WriteGpr(s, ins.Op0Register, value);
            return;
        }
        s.Gpr[Rsp] = rsp + 2;
        ulong address = Operands.EffectiveAddress(cpu, ref ins);
        s.Gpr[Rsp] = rsp;
        cpu.Memory.Write16(address, value);
        s.Gpr[Rsp] = rsp + 2;
    }

    // ---- flags ----

    private static void Pushfq(Vcpu cpu, ref Instruction ins) => Operands.Push64(cpu, cpu.State.RFlags & PushfMask);

    private static void Pushfw(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong rsp = s.Gpr[Rsp] - 2;
        cpu.Memory.Write16(rsp, (ushort)s.RFlags);
        s.Gpr[Rsp] = rsp;
    }

    private static void Popfq(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong rsp = s.Gpr[Rsp];
        ulong value = cpu.Memory.Read64(rsp);
        s.Gpr[Rsp] = rsp + 8;
        s.RFlags = (s.RFlags & ~PopfMask) | (value & PopfMask);
    }

    private static void Popfw(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong rsp = s.Gpr[Rsp];
        ulong value = cpu.Memory.Read16(rsp);
        s.Gpr[Rsp] = rsp + 2;
        const ulong mask = PopfMask & 0xFFFF;
        s.RFlags = (s.RFlags & ~mask) | (value & mask);
    }

    // ---- frames ----

    private static void Enter(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong size = ins.Immediate16;
        int level = ins.Immediate8_2nd & 31;
        ulong rsp = s.Gpr[Rsp] - 8;
        ulong rbp = s.Gpr[Rbp];
        cpu.Memory.Write64(rsp, rbp);
        ulong frame = rsp;
        if (level > 0)
        {
            // Nested procedures: copy the enclosing frames' pointers, then the new frame pointer.
            for (int i = 1; i < level; i++)
            {
                rbp -= 8;
                ulong link = cpu.Memory.Read64(rbp);
                rsp -= 8;
                cpu.Memory.Write64(rsp, link);
            }
            rsp -= 8;
            cpu.Memory.Write64(rsp, frame);
        }
        s.Gpr[Rbp] = frame;
        s.Gpr[Rsp] = rsp - size;
    }

    private static void Leave(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong rbp = s.Gpr[Rbp];
        ulong value = cpu.Memory.Read64(rbp);
        s.Gpr[Rsp] = rbp + 8;
        s.Gpr[Rbp] = value;
    }

    private static void Leavew(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong rbp = s.Gpr[Rbp];
        ushort value = cpu.Memory.Read16(rbp);
        s.Gpr[Rsp] = rbp + 2;
        s.Gpr[Rbp] = (rbp & ~0xFFFFUL) | value;
    }
}
