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
    /// <summary>
    /// One body instruction: kind 0 = mov r32, imm32; 1 = alu r32, r32; 2 = alu r32, imm32 (81 /x); 3 = alu r32,
    /// imm8 (83 /x, sign-extended); 4 = mov r64, imm64; 5 = alu r16, imm16 (66 81 /x).
    /// </summary>
    public readonly record struct BodyOp(int Kind, int Dst, int Src, int Op, uint Imm);

    /// <summary>One write: which body instruction, which of its patchable bytes, and the value.</summary>
    public readonly record struct CodeWrite(int Instruction, int Byte, byte Value);

    private static readonly Register[] Regs = [Register.EAX, Register.EBX, Register.EDX, Register.ESI, Register.EBP];
    private static readonly Code[] AluRegReg = [Code.Add_rm32_r32, Code.Or_rm32_r32, Code.And_rm32_r32, Code.Sub_rm32_r32, Code.Xor_rm32_r32];
    private static readonly byte[] AluOpcodes = [0x01, 0x09, 0x21, 0x29, 0x31];
    private static readonly Code[] AluImm = [Code.Add_rm32_imm32, Code.Or_rm32_imm32, Code.Adc_rm32_imm32, Code.Sbb_rm32_imm32,
        Code.And_rm32_imm32, Code.Sub_rm32_imm32, Code.Xor_rm32_imm32, Code.Cmp_rm32_imm32];
    private static readonly Code[] AluImm8 = [Code.Add_rm32_imm8, Code.Or_rm32_imm8, Code.Adc_rm32_imm8, Code.Sbb_rm32_imm8,
        Code.And_rm32_imm8, Code.Sub_rm32_imm8, Code.Xor_rm32_imm8, Code.Cmp_rm32_imm8];
    private static readonly Code[] AluImm16 = [Code.Add_rm16_imm16, Code.Or_rm16_imm16, Code.Adc_rm16_imm16, Code.Sbb_rm16_imm16,
        Code.And_rm16_imm16, Code.Sub_rm16_imm16, Code.Xor_rm16_imm16, Code.Cmp_rm16_imm16];

    private static readonly Gen<BodyOp> OpGen =
        from kind in Gen.Int[0, 2]
        from dst in Gen.Int[0, Regs.Length - 1]
        from src in Gen.Int[0, Regs.Length - 1]
        from op in Gen.Int[0, 7]
        from imm in Gen.UInt
        select new BodyOp(kind, dst, src, op, imm);

    /// <summary>Body instructions of every kind (the first test keeps kinds 0-2).</summary>
    private static readonly Gen<BodyOp> AnyOpGen =
        from op in OpGen
        from kind in Gen.Int[0, 5]
        select op with { Kind = kind };

    private static readonly Gen<CodeWrite> WriteGen =
        from ins in Gen.Int[0, 15]
        from b in Gen.Int[0, 3]
        from v in Gen.Byte
        select new CodeWrite(ins, b, v);

    private static Instruction Encode(BodyOp op) => op.Kind switch
    {
        0 => Instruction.Create(Code.Mov_r32_imm32, Regs[op.Dst], op.Imm),
        1 => Instruction.Create(AluRegReg[op.Op % AluRegReg.Length], Regs[op.Dst], Regs[op.Src]),
        2 => Instruction.Create(AluImm[op.Op], Regs[op.Dst], op.Imm),
        3 => Instruction.Create(AluImm8[op.Op], Regs[op.Dst], (sbyte)op.Imm),
        4 => Instruction.Create(Code.Mov_r64_imm64, Regs[op.Dst].GetFullRegister(), (ulong)op.Imm << 29 ^ op.Imm),
        _ => Instruction.Create(AluImm16[op.Op], Regs[op.Dst] - Register.EAX + Register.AX, (ushort)op.Imm),
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
            2 => w.Byte == 0 ? (at + 1, ModRm(op, w)) : (at + 2 + w.Byte, w.Value),  // 81 /x imm32
            3 => w.Byte == 0 ? (at + 1, ModRm(op, w)) : (at + 2, w.Value),              // 83 /x imm8
            4 => (at + 2 + (w.Byte + w.Value) % 8, w.Value),                           // REX.W B8+r imm64
            _ => w.Byte == 0 ? (at + 2, ModRm(op, w)) : (at + 3 + w.Byte % 2, w.Value), // 66 81 /x imm16
        };
    }

    /// <summary>A ModRM byte that keeps the register operand and picks another ALU operation.</summary>
    private static byte ModRm(BodyOp op, CodeWrite w) => (byte)(0xC0 | (w.Value & 0x38) | ModRmRm(op));

    private static int ModRmRm(BodyOp op) => Regs[op.Dst] switch
    {
        Register.EAX => 0, Register.EBX => 3, Register.EDX => 2, Register.ESI => 6, _ => 5,
    };

    private static int Length(BodyOp op) => op.Kind switch { 0 => 5, 1 => 2, 2 => 6, 3 => 3, 4 => 10, _ => 5 };

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
        BodyAndNextRound(a, body, code, top, writes.Length);
    };

    /// <summary>The patched body at <paramref name="code"/>, a checksum of its results in r13, and the round loop (r14).</summary>
    private static void BodyAndNextRound(Assembler a, BodyOp[] body, Label code, Label top, int rounds)
    {
        a.Label(ref code);
        foreach (BodyOp op in body) a.AddInstruction(Encode(op));
        foreach (AssemblerRegister64 r in new[] { rax, rbx, rdx, rsi, rbp })
        {
            a.add(r13, r);
            a.rol(r13, 7);
        }
        a.inc(r14d);
        a.cmp(r14d, rounds);
        a.jb(top);
    }

    /// <summary>
    /// A write stored with a 1-, 2-, 4- or 8-byte store (2^<paramref name="WidthLog"/>, shrunk to fit the body)
    /// that starts up to <paramref name="Shift"/> bytes before the written byte, so it also stores its
    /// neighbours' current bytes: stores straddling instructions, and several bytes of one immediate at once.
    /// </summary>
    public readonly record struct WideWrite(CodeWrite Write, int WidthLog, int Shift);

    private static readonly Gen<WideWrite> WideWriteGen =
        from w in WriteGen
        from log in Gen.Int[0, 3]
        from shift in Gen.Int[0, 7]
        select new WideWrite(w, log, shift);

    /// <summary>Per round: body offset, width and value of the store (the bytes the body must hold afterwards).</summary>
    private static (int Start, int Width, ulong Value)[] Stores(BodyOp[] body, WideWrite[] writes)
    {
        var a = new Assembler(64);
        foreach (BodyOp op in body) a.AddInstruction(Encode(op));
        var bytes = new ByteWriter();
        a.Assemble(bytes, 0);
        byte[] code = [.. bytes.Bytes];
        var stores = new (int, int, ulong)[writes.Length];
        for (int r = 0; r < writes.Length; r++)
        {
            (int o, byte v) = Place(body, writes[r].Write);
            int width = 1 << writes[r].WidthLog;
            while (width > code.Length) width >>= 1;
            int start = Math.Clamp(o - writes[r].Shift, Math.Max(0, o - width + 1), Math.Min(o, code.Length - width));
            code[o] = v;
            ulong value = 0;
            for (int i = width - 1; i >= 0; i--) value = value << 8 | code[start + i];
            stores[r] = (start, width, value);
        }
        return stores;
    }

    private static Action<Assembler> WideProgram(BodyOp[] body, WideWrite[] writes) => a =>
    {
        // Store table in data: per round a u32 body offset, a u32 width and the u64 value.
        Label top = a.CreateLabel(), code = a.CreateLabel(), w2 = a.CreateLabel(), w4 = a.CreateLabel(), w8 = a.CreateLabel();
        (int Start, int Width, ulong Value)[] stores = Stores(body, writes);
        a.mov(rdi, (long)TestMachine.DataBase);
        for (int r = 0; r < stores.Length; r++)
        {
            a.mov(__dword_ptr[rdi + r * 16], stores[r].Start);
            a.mov(__dword_ptr[rdi + r * 16 + 4], stores[r].Width);
            a.mov(rax, stores[r].Value);
            a.mov(__qword_ptr[rdi + r * 16 + 8], rax);
        }
        a.xor(r14d, r14d);
        a.xor(r13d, r13d);
        a.lea(r10, __[code]);
        a.Label(ref top);
        a.mov(r15, r14);
        a.shl(r15, 4);
        a.mov(r8d, __dword_ptr[rdi + r15]);
        a.mov(r11d, __dword_ptr[rdi + r15 + 4]);
        a.mov(r9, __qword_ptr[rdi + r15 + 8]);
        a.cmp(r11d, 1);
        a.jne(w2);
        a.mov(__byte_ptr[r10 + r8], r9b);
        a.jmp(code);
        a.Label(ref w2);
        a.cmp(r11d, 2);
        a.jne(w4);
        a.mov(__word_ptr[r10 + r8], r9w);
        a.jmp(code);
        a.Label(ref w4);
        a.cmp(r11d, 4);
        a.jne(w8);
        a.mov(__dword_ptr[r10 + r8], r9d);
        a.jmp(code);
        a.Label(ref w8);
        a.mov(__qword_ptr[r10 + r8], r9);
        BodyAndNextRound(a, body, code, top, stores.Length);
    };

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RandomCodeWithRandomStoresOfEveryWidth_MatchesHostAtEveryStep(ExecutionMode mode)
    {
        // Most stores change only immediates (translated code loads them once patched); some change a ModRM or
        // an opcode byte (the code must be invalidated), and wide ones straddle instructions.
        long loadedPatches = 0;
        Gen.Select(AnyOpGen.Array[2, 8], WideWriteGen.Array[1, 24]).Sample((body, writes) =>
        {
            using var oracle = new OracleCase(mode, WideProgram(body, writes));
            Memory.AddressSpace space = oracle.Machine.Memory;
            Assert.True(space.Protect(TestMachine.CodeBase, space.FindRegion(TestMachine.CodeBase)!.End - TestMachine.CodeBase, Memory.PagePermissions.All));
            OracleResult r = oracle.Run(CpuSnapshot.Create());
            r.AssertSame(context: $"body [{string.Join(", ", body)}] writes [{string.Join(", ", writes)}]");
            loadedPatches = Math.Max(loadedPatches, oracle.Machine.Machine.Stats.SmcImmediatePatches); // machines are reused: a running total
        }, iter: 100, threads: 1);
        Assert.True(loadedPatches > 0, "no store took the loaded-immediate path");
    }

    private sealed class ByteWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }

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
