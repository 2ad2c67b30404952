using CsCheck;
using Hv.Core.Execution;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Smc;

/// <summary>
/// Random straight-line code plus a random list of byte writes into it: a loop applies one write per round and
/// then runs the code, folding every register into a running checksum, so every step's state reaches the end.
/// Hv must match the host CPU (the oracle runs the same bytes natively) in every mode, hence the modes agree.
/// Writes hit immediates (any value) or reg-reg ALU opcodes (another ALU opcode), so the code stays valid.
/// </summary>
public sealed class SmcPropertyTests
{
    /// <summary>One body instruction: kind 0 = mov r32, imm32; 1 = alu r32, r32; 2 = alu r32, imm32 (81 /x).</summary>
    public readonly record struct BodyOp(int Kind, int Dst, int Src, int Op, uint Imm);

    /// <summary>One write: which body instruction, which of its patchable bytes, and the value.</summary>
    public readonly record struct CodeWrite(int Instruction, int Byte, byte Value);

    private static readonly Register[] Regs = [Register.EAX, Register.EBX, Register.EDX, Register.ESI, Register.EBP];
    private static readonly Code[] AluRegReg = [Code.Add_rm32_r32, Code.Or_rm32_r32, Code.And_rm32_r32, Code.Sub_rm32_r32, Code.Xor_rm32_r32];
    private static readonly byte[] AluOpcodes = [0x01, 0x09, 0x21, 0x29, 0x31];
    private static readonly Code[] AluImm = [Code.Add_rm32_imm32, Code.Or_rm32_imm32, Code.Adc_rm32_imm32, Code.Sbb_rm32_imm32,
        Code.And_rm32_imm32, Code.Sub_rm32_imm32, Code.Xor_rm32_imm32, Code.Cmp_rm32_imm32];

    private static readonly Gen<BodyOp> OpGen =
        from kind in Gen.Int[0, 2]
        from dst in Gen.Int[0, Regs.Length - 1]
        from src in Gen.Int[0, Regs.Length - 1]
        from op in Gen.Int[0, 7]
        from imm in Gen.UInt
        select new BodyOp(kind, dst, src, op, imm);

    private static readonly Gen<CodeWrite> WriteGen =
        from ins in Gen.Int[0, 15]
        from b in Gen.Int[0, 3]
        from v in Gen.Byte
        select new CodeWrite(ins, b, v);

    private static Instruction Encode(BodyOp op) => op.Kind switch
    {
        0 => Instruction.Create(Code.Mov_r32_imm32, Regs[op.Dst], op.Imm),
        1 => Instruction.Create(AluRegReg[op.Op % AluRegReg.Length], Regs[op.Dst], Regs[op.Src]),
        _ => Instruction.Create(AluImm[op.Op], Regs[op.Dst], op.Imm),
    };

    /// <summary>Byte offset within the body and the value for a write, adjusted so the code stays valid.</summary>
    private static (int Offset, byte Value) Place(BodyOp[] body, CodeWrite w)
    {
        int at = 0;
        for (int i = 0; i < w.Instruction % body.Length; i++) at += Length(body[i]);
        BodyOp op = body[w.Instruction % body.Length];
        return op.Kind switch
        {
            0 => (at + 1 + w.Byte, w.Value),                                   // B8+r imm32
            1 => (at, AluOpcodes[w.Value % AluOpcodes.Length]),                // opcode of op r/m32, r32
            _ => w.Byte == 0 ? (at + 1, (byte)(0xC0 | (w.Value & 0x38) | ModRmRm(op))) : (at + 2 + w.Byte, w.Value),
        };
    }

    private static int ModRmRm(BodyOp op) => Regs[op.Dst] switch
    {
        Register.EAX => 0, Register.EBX => 3, Register.EDX => 2, Register.ESI => 6, _ => 5,
    };

    private static int Length(BodyOp op) => op.Kind switch { 0 => 5, 1 => 2, _ => 6 };

    private static Action<Assembler> Program(BodyOp[] body, CodeWrite[] writes) => a =>
    {
        // Write table in data: per round a u32 body offset and a u32 byte value.
        Label top = a.CreateLabel(), code = a.CreateLabel();
        a.mov(rdi, (long)TestMachine.DataBase);
        for (int r = 0; r < writes.Length; r++)
        {
            (int offset, byte value) = Place(body, writes[r]);
            a.mov(__dword_ptr[rdi + r * 8], offset);
            a.mov(__dword_ptr[rdi + r * 8 + 4], value);
        }
        a.xor(r14d, r14d);
        a.xor(r13d, r13d);
        a.lea(r10, __[code]);
        a.Label(ref top);
        a.mov(r8d, __dword_ptr[rdi + r14 * 8]);
        a.mov(r9d, __dword_ptr[rdi + r14 * 8 + 4]);
        a.mov(__byte_ptr[r10 + r8], r9b);
        a.Label(ref code);
        foreach (BodyOp op in body) a.AddInstruction(Encode(op));
        foreach (AssemblerRegister64 r in new[] { rax, rbx, rdx, rsi, rbp })
        {
            a.add(r13, r);
            a.rol(r13, 7);
        }
        a.inc(r14d);
        a.cmp(r14d, writes.Length);
        a.jb(top);
    };

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RandomCodeWithRandomWrites_MatchesHostAtEveryStep(ExecutionMode mode)
    {
        Gen.Select(OpGen.Array[2, 8], WriteGen.Array[1, 12]).Sample((body, writes) =>
        {
            using var oracle = new OracleCase(mode, Program(body, writes));
            Memory.AddressSpace space = oracle.Machine.Memory;
            Assert.True(space.Protect(TestMachine.CodeBase, space.FindRegion(TestMachine.CodeBase)!.End - TestMachine.CodeBase, Memory.PagePermissions.All));
            OracleResult r = oracle.Run(CpuSnapshot.Create());
            r.AssertSame(context: $"body [{string.Join(", ", body)}] writes [{string.Join(", ", writes)}]");
        }, iter: 150, threads: 1);
    }
}
