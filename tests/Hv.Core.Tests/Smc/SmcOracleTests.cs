using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Smc;

/// <summary>
/// Code that rewrites itself, run natively (the oracle's code area is RWX) and under Hv with an RWX code page,
/// in every mode: each store kind rewrites code the loop runs right after it (the next instruction, one a few
/// bytes on, an opcode), eight times, so tiered mode runs it interpreted, translated and demoted.
/// </summary>
public sealed class SmcOracleTests
{
    private const int Rounds = 8;

    /// <summary>Runs the snippet natively and under Hv (code page made writable) and compares the states.</summary>
    internal static OracleResult RunWritable(ExecutionMode mode, Action<Assembler> snippet, CpuSnapshot? initial = null)
    {
        using var oracle = new OracleCase(mode, snippet);
        AddressSpace space = oracle.Machine.Memory;
        Assert.True(space.Protect(TestMachine.CodeBase, space.FindRegion(TestMachine.CodeBase)!.End - TestMachine.CodeBase, PagePermissions.All));
        OracleResult r = oracle.Run(initial ?? CpuSnapshot.Create());
        r.AssertSame();
        return r;
    }

    /// <summary>A loop of <see cref="Rounds"/> rounds: <paramref name="store"/> rewrites code at label T, which runs next.</summary>
    private static Action<Assembler> Loop(Action<Assembler, Label> store, Action<Assembler> target) => a =>
    {
        Label top = a.CreateLabel(), t = a.CreateLabel();
        a.mov(ecx, Rounds);
        a.xor(edx, edx);
        a.Label(ref top);
        a.lea(rbx, __[t]);
        store(a, t);
        a.Label(ref t);
        target(a);
        a.add(edx, eax);
        a.dec(ecx);
        a.jnz(top);
    };

    /// <summary>Writes "mov eax, <paramref name="value"/>" (B8 imm32) at <see cref="TestMachine.DataBase"/>, which rax points to.</summary>
    private static void StageMovEax(Assembler a, AssemblerRegister32 value)
    {
        a.mov(rax, (long)TestMachine.DataBase);
        a.mov(__byte_ptr[rax], 0xB8);
        a.mov(__dword_ptr[rax + 1], value);
    }

    private static void MovEaxImm32(Assembler a) =>
        a.AddInstruction(Instruction.Create(Code.Mov_r32_imm32, Register.EAX, 0x12345600));

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void ByteStore_IntoNextInstructionImmediate_MatchesHost(ExecutionMode mode) =>
        RunWritable(mode, Loop((a, _) => a.mov(__byte_ptr[rbx + 1], cl), MovEaxImm32));

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void DwordStore_AFewInstructionsOn_MatchesHost(ExecutionMode mode) =>
        RunWritable(mode, Loop((a, _) =>
        {
            a.mov(__dword_ptr[rbx + 7], ecx); // the imm32 of the second instruction at T
        }, a =>
        {
            a.AddInstruction(Instruction.Create(Code.Add_rm32_imm32, Register.EDX, 5)); // 81 C2 imm32: 6 bytes
            MovEaxImm32(a);
            a.nop();
        }));

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void ByteStore_RewritingAnOpcode_MatchesHost(ExecutionMode mode) =>
        RunWritable(mode, Loop((a, _) =>
        {
            // add (01) on odd rounds, sub (29) on even ones: opcode = 1 + 0x28 * (ecx & 1 ^ 1)
            a.mov(eax, ecx);
            a.and(eax, 1);
            a.xor(eax, 1);
            a.imul(eax, eax, 0x28);
            a.inc(eax);
            a.mov(__byte_ptr[rbx], al);
        }, a =>
        {
            a.add(esi, ecx); // 01 CE, rewritten to 29 CE
            a.mov(eax, esi);
        }));

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovsb_CopyingFreshCode_MatchesHost(ExecutionMode mode) =>
        RunWritable(mode, Loop((a, _) =>
        {
            StageMovEax(a, ecx);
            a.mov(rsi, rax);
            a.mov(rdi, rbx);
            a.mov(r8d, ecx);
            a.mov(ecx, 5);
            a.rep.movsb();
            a.mov(ecx, r8d);
        }, MovEaxImm32));

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void SseStore_RewritingSixteenBytes_MatchesHost(ExecutionMode mode) =>
        RunWritable(mode, Loop((a, _) =>
        {
            // 16 bytes of code: mov eax, ecx*3; then 11 one-byte nops
            a.lea(r8d, __[rcx + rcx * 2]);
            StageMovEax(a, r8d);
            a.mov(r9, 0x9090_9090_9090_9090);
            a.mov(__qword_ptr[rax + 5], r9);
            a.mov(__dword_ptr[rax + 12], r9d);
            a.movdqu(xmm0, __xmmword_ptr[rax]);
            a.movdqu(__xmmword_ptr[rbx], xmm0);
        }, a =>
        {
            MovEaxImm32(a);
            for (int i = 0; i < 11; i++) a.nop();
        }));

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Xchg_WithCodeByte_MatchesHost(ExecutionMode mode) =>
        RunWritable(mode, Loop((a, _) =>
        {
            a.mov(al, cl);
            a.xchg(__byte_ptr[rbx + 2], al);
            a.movzx(edi, al);
            a.add(edx, edi);
        }, MovEaxImm32));

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void LockCmpxchg_OnCodeImmediate_MatchesHost(ExecutionMode mode) =>
        RunWritable(mode, Loop((a, _) =>
        {
            a.mov(eax, __dword_ptr[rbx + 1]);
            a.@lock.cmpxchg(__dword_ptr[rbx + 1], ecx);
        }, MovEaxImm32));

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void LockXadd_OnCodeImmediate_MatchesHost(ExecutionMode mode) =>
        RunWritable(mode, Loop((a, _) =>
        {
            a.mov(eax, ecx);
            a.@lock.xadd(__dword_ptr[rbx + 1], eax);
            a.add(edx, eax);
        }, MovEaxImm32));

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void LockAdd_OnCodeImmediate_MatchesHost(ExecutionMode mode) =>
        RunWritable(mode, Loop((a, _) => a.@lock.add(__dword_ptr[rbx + 1], ecx), MovEaxImm32));

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Store_IntoInstructionStraddlingAPage_PatchedOnSecondPage_MatchesHost(ExecutionMode mode)
    {
        // Pad so that T ("mov eax, imm32") starts 2 bytes before a page boundary: the word store at T+3 lands on
        // the second page only, which the block decoded from the first page also covers.
        ulong t = TargetAddress(Padded(0x800));
        RunWritable(mode, Padded(0x800 + (int)(TestMachine.CodeBase + 0xFFE - t)));
    }

    private static Action<Assembler> Padded(int pad) => a =>
    {
        Label over = a.CreateLabel();
        a.jmp(over);
        for (int i = 0; i < pad; i++) a.int3();
        a.Label(ref over);
        Loop((b, _) => b.mov(__word_ptr[rbx + 3], cx), MovEaxImm32)(a);
    };

    /// <summary>Where the snippet's T label lands (the rbx the LEA loads), found by assembling it.</summary>
    private static ulong TargetAddress(Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        var w = new OracleCase.ByteWriter();
        a.Assemble(w, TestMachine.CodeBase);
        byte[] code = w.ToArray();
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(code), TestMachine.CodeBase);
        while (decoder.IP < TestMachine.CodeBase + (ulong)code.Length)
        {
            decoder.Decode(out Instruction ins);
            if (ins.Code == Code.Lea_r64_m && ins.Op0Register == Register.RBX) return ins.IPRelativeMemoryAddress;
        }
        throw new InvalidOperationException("no lea rbx in the snippet");
    }
}
