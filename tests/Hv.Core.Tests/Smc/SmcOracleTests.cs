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
    internal static OracleResult RunWritable(ExecutionMode mode, Action<Assembler> snippet, CpuSnapshot? initial = null, Action<SmcDelta>? inspect = null)
    {
        using var oracle = new OracleCase(mode, snippet);
        AddressSpace space = oracle.Machine.Memory;
        Assert.True(space.Protect(TestMachine.CodeBase, space.FindRegion(TestMachine.CodeBase)!.End - TestMachine.CodeBase, PagePermissions.All));
        Diagnostics.HvStats stats = oracle.Machine.Machine.Stats; // machines are reused: counters are cumulative
        var before = new SmcDelta(stats.SmcImmediatePatches, stats.UnitsInvalidated, stats.PreciseSmcExits);
        OracleResult r = oracle.Run(initial ?? CpuSnapshot.Create());
        r.AssertSame();
        inspect?.Invoke(new SmcDelta(stats.SmcImmediatePatches - before.ImmediatePatches, stats.UnitsInvalidated - before.UnitsInvalidated,
            stats.PreciseSmcExits - before.PreciseSmcExits));
        return r;
    }

    /// <summary>SMC counters of one run.</summary>
    internal readonly record struct SmcDelta(long ImmediatePatches, long UnitsInvalidated, long PreciseSmcExits);

    /// <summary>
    /// One loop body that patches five immediates, each right before it runs: a byte, an odd word, a dword, and
    /// an 8-byte store straddling two instructions (the end of one imm32, the next one's opcode and ModRM
    /// unchanged, its whole imm32); <paramref name="flipOpcode"/> also flips an ADD into a SUB and back.
    /// </summary>
    private static Action<Assembler> PatchedImmediates(bool flipOpcode) => a =>
    {
        Label top = a.CreateLabel(), t1 = a.CreateLabel(), t2 = a.CreateLabel(), t3 = a.CreateLabel(), t4 = a.CreateLabel(), t6 = a.CreateLabel();
        a.mov(ecx, 3 * Rounds);
        a.xor(r13d, r13d);
        a.Label(ref top);
        a.lea(rbx, __[t1]);
        a.mov(__byte_ptr[rbx + 2 + 2], cl);                   // add eax, imm32: its third byte
        a.Label(ref t1);
        a.AddInstruction(Instruction.Create(Code.Add_rm32_imm32, Register.EAX, 0x1111_1111));
        a.lea(rbx, __[t2]);
        a.mov(__word_ptr[rbx + 1 + 1], cx);                   // mov edx, imm32: bytes 1-2 (odd address)
        a.Label(ref t2);
        a.AddInstruction(Instruction.Create(Code.Mov_r32_imm32, Register.EDX, 0x2222_2222));
        a.lea(rbx, __[t3]);
        a.imul(r8d, ecx, 0x0101_0101);
        a.mov(__dword_ptr[rbx + 2], r8d);                     // sub esi, imm32: all of it
        a.Label(ref t3);
        a.AddInstruction(Instruction.Create(Code.Sub_rm32_imm32, Register.ESI, 0x3333_3333));
        a.lea(rbx, __[t4]);
        a.mov(r8, __qword_ptr[rbx + 3]);                      // mov ebp, imm32 (5) + add ebp, imm32 (81 C5 id)
        a.imul(r9, rcx, 0x0123_4567);
        a.mov(r10, unchecked((long)0xFFFF_FFFF_0000_FFFFUL)); // imm bytes only: never the 81 C5 between
        a.and(r9, r10);
        a.xor(r8, r9);
        a.mov(__qword_ptr[rbx + 3], r8);
        a.Label(ref t4);
        a.AddInstruction(Instruction.Create(Code.Mov_r32_imm32, Register.EBP, 0x4444_4444));
        a.AddInstruction(Instruction.Create(Code.Add_rm32_imm32, Register.EBP, 0x5555_5555));
        if (flipOpcode)
        {
            a.lea(rbx, __[t6]);
            a.xor(__byte_ptr[rbx], 0x28);                     // 01 (add) <-> 29 (sub)
        }
        a.Label(ref t6);
        a.add(edi, ebp);
        foreach (AssemblerRegister64 r in new[] { rax, rdx, rsi, rbp, rdi })
        {
            a.add(r13, r);
            a.rol(r13, 7);
        }
        a.dec(ecx);
        a.jnz(top);
    };

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void StoresOfEveryWidthIntoImmediates_AreSeenByTheVeryNextExecution_AndKillNoUnit(ExecutionMode mode) =>
        RunWritable(mode, PatchedImmediates(flipOpcode: false), inspect: d =>
        {
            // Each immediate's first patch makes it loaded (kills what was translated); after that none kills.
            Assert.True(d.ImmediatePatches >= 5 * (3 * Rounds - 2), d.ToString());
            Assert.True(d.UnitsInvalidated <= 5, d.ToString());
        });

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void OpcodeFlipBesideLoadedImmediates_StillInvalidatesEveryRound(ExecutionMode mode) =>
        RunWritable(mode, PatchedImmediates(flipOpcode: true), inspect: d =>
        {
            Assert.True(d.ImmediatePatches > 0, d.ToString());
            if (mode != ExecutionMode.Interpret) Assert.True(d.PreciseSmcExits >= 3 * Rounds - 2, d.ToString());
        });

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
