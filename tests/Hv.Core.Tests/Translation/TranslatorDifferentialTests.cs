using CsCheck;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Translation;

/// <summary>
/// Random straight-line integer code, run in a small loop, must leave identical registers, flags and memory
/// in the interpreter and in translated code (every mode). Failures shrink to a minimal sequence.
/// </summary>
public sealed class TranslatorDifferentialTests
{
    /// <summary>One generated instruction: a kind, two register choices, an immediate and a memory slot.</summary>
    public readonly record struct GenOp(int Kind, int A, int B, long Imm, int Slot)
    {
        public override string ToString() => $"{Kind}:{A},{B},{Imm:x},{Slot}";
    }

    private static readonly AssemblerRegister64[] Regs64 = [rax, rbx, rcx, rdx, rsi, r8, r9, r10]; // r11-r13: EmitFault's
    private static readonly AssemblerRegister32[] Regs32 = [eax, ebx, ecx, edx, esi, r8d, r9d, r10d];
    private static readonly AssemblerRegister16[] Regs16 = [ax, bx, cx, dx, si, r8w, r9w, r10w];
    private static readonly AssemblerRegister8[] Regs8 = [al, bl, cl, dl, sil, r8b, r9b, r10b];
    private static readonly AssemblerRegisterXMM[] Xmms = [xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7];
    private const int KindCount = 96;

    private static readonly Gen<GenOp> OpGen =
        from kind in Gen.Int[0, KindCount - 1]
        from a in Gen.Int[0, Regs64.Length - 1]
        from b in Gen.Int[0, Regs64.Length - 1]
        from imm in Gen.OneOf(Gen.Long[-3, 3], Gen.Long, Gen.OneOfConst(0x7FFF_FFFFL, -0x8000_0000L, 0xFFL, 0x80L))
        from slot in Gen.Int[0, 15]
        select new GenOp(kind, a, b, imm, slot);

    private static void Emit(Assembler asm, GenOp op, Label skip)
    {
        AssemblerRegister64 a = Regs64[op.A], b = Regs64[op.B];
        AssemblerRegister32 a32 = Regs32[op.A], b32 = Regs32[op.B];
        int imm32 = (int)op.Imm;
        AssemblerMemoryOperand m64 = __qword_ptr[rdi + op.Slot * 8];
        AssemblerMemoryOperand m32 = __dword_ptr[rdi + op.Slot * 8];
        switch (op.Kind)
        {
            case 0: asm.mov(a, b); break;
            case 1: asm.mov(a, op.Imm); break;
            case 2: asm.add(a, b); break;
            case 3: asm.sub(a32, imm32); break;
            case 4: asm.and(a, b); break;
            case 5: asm.or(a32, b32); break;
            case 6: asm.xor(a, imm32); break;
            case 7: asm.cmp(a, b); break;
            case 8: asm.test(a32, b32); break;
            case 9: asm.inc(a); break;
            case 10: asm.dec(a32); break;
            case 11: asm.lea(a, __[b + a * 4 + imm32]); break;
            case 12: asm.mov(a, m64); break;
            case 13: asm.mov(m64, b); break;
            case 14: asm.add(m32, b32); break;
            case 15: asm.sub(a, m64); break;
            case 16: asm.movzx(a32, __byte_ptr[rdi + op.Slot * 8 + 3]); break;
            case 17: asm.movsx(a, __word_ptr[rdi + op.Slot * 8 + 1]); break;
            case 18: asm.movsxd(a, b32); break;
            case 19: asm.push(a); asm.pop(b); break;
            case 20: asm.cmp(a32, imm32); asm.jl(skip); break;
            case 21: asm.test(a, b); asm.je(skip); break;
            case 22: asm.sub(a, b); asm.ja(skip); break;
            case 23: asm.cmp(m64, imm32); asm.jge(skip); break;
            case 24: asm.add(a, imm32); asm.jbe(skip); break;
            case 25: asm.dec(a); asm.jne(skip); break;
            case 26: asm.neg(a); break;
            case 27: asm.not(a32); break;
            case 28: asm.shl(a, (byte)(op.Imm & 63)); asm.add(b, a); break;
            case 29: asm.ror(a32, (byte)(op.Imm & 31)); asm.xor(b32, a32); break;
            case 30: asm.sar(a, (byte)(op.Imm & 63)); asm.sub(b, a); break;
            case 31: asm.imul(a, b); asm.and(a, b); break;
            case 32: asm.imul(a32, b32, imm32); asm.or(a, b); break;
            case 33: asm.cmp(a, b); asm.setl(Regs8[op.A]); break;
            case 34: asm.test(a, b); asm.cmovne(a, b); break;
            case 35: asm.cmp(a32, imm32); asm.cmovbe(a32, m32); break;
            case 36: asm.xchg(a, b); break;
            case 37: asm.bswap(a32); break;
            case 38: asm.cdqe(); asm.cqo(); break;
            case 39: asm.add(Regs8[op.A], Regs8[op.B]); break;
            case 40: asm.mov(__byte_ptr[rdi + op.Slot * 8], Regs8[op.A]); break;
            case 41: asm.sub(__word_ptr[rdi + op.Slot * 8], (short)op.Imm); break;
            case 42: asm.inc(Regs16[op.A]); break;
            case 43: asm.cmp(Regs8[op.A], (sbyte)op.Imm); asm.jb(skip); break;
            case 44: asm.movdqu(Xmms[op.A], __xmmword_ptr[rdi + op.Slot * 8]); break;
            case 45: asm.paddd(Xmms[op.A], Xmms[op.B]); break;
            case 46: asm.pcmpeqb(Xmms[op.A], Xmms[op.B]); asm.pmovmskb(a32, Xmms[op.A]); break;
            case 47: asm.movdqa(__xmmword_ptr[rdi + (op.Slot & ~1) * 8], Xmms[op.A]); break;
            case 48: asm.pxor(Xmms[op.A], __xmmword_ptr[rdi + (op.Slot & ~1) * 8]); break;
            case 49: asm.punpcklbw(Xmms[op.A], Xmms[op.B]); break;
            case 50: asm.packuswb(Xmms[op.A], Xmms[op.B]); break;
            case 51: asm.pshufb(Xmms[op.A], Xmms[op.B]); break;
            case 52: asm.psrld(Xmms[op.A], (byte)(op.Imm & 63)); break;
            case 53: asm.psllq(Xmms[op.A], (byte)(op.Imm & 127)); break;
            case 54: asm.psrad(Xmms[op.A], (byte)(op.Imm & 63)); break;
            case 55: asm.psrldq(Xmms[op.A], (byte)(op.Imm & 31)); asm.ror(a, (byte)(op.Imm & 63)); asm.xor(b, a); break;
            // Shifts, rotates and IMUL whose flags are read (or may be seen by a fault), counts in CL (zero included).
            case 56: asm.shr(a, (byte)(op.Imm & 63)); asm.jb(skip); break;
            case 57: asm.mov(cl, (byte)op.Imm); asm.ror(Regs32[op.A], cl); asm.jo(skip); break;
            case 58: asm.mov(ecx, (int)op.Imm & 7); asm.sar(a, cl); asm.sets(Regs8[op.B]); break;
            case 59: asm.imul(a, b); asm.jo(skip); break;
            case 60: asm.imul(a32, m32, imm32); asm.setb(Regs8[op.B]); break;
            case 61: asm.shl(a32, (byte)(op.Imm & 31)); asm.mov(m64, b); asm.jz(skip); break;
            case 62: asm.rol(a, 1); asm.cmovo(b, a); asm.shl(b, cl); asm.setp(Regs8[op.A]); break;
            case 63: asm.and(b, (int)op.Imm); asm.bsf(a, b); asm.setz(Regs8[op.B]); asm.bsr(b32, m32); asm.jz(skip); break;
            case 64: asm.and(b32, (int)op.Imm); asm.tzcnt(a32, b32); asm.setb(Regs8[op.B]); asm.tzcnt(b, m64); asm.jz(skip); break;
            case 65: asm.shufps(Xmms[op.A], Xmms[op.B], (byte)op.Imm); asm.pshufd(Xmms[op.B], Xmms[op.A], (byte)(op.Imm >> 8)); break;
            case 66: asm.shufps(Xmms[op.A], __xmmword_ptr[rdi + (op.Slot & ~1) * 8], (byte)op.Imm); asm.pshufd(Xmms[op.B], __xmmword_ptr[rdi + (op.Slot & ~1) * 8], (byte)(op.Imm >> 8)); break;
            // DIV/IDIV: divisors never zero and quotients never overflow (no #DE), dividends narrow and wide.
            case 67: asm.xor(edx, edx); asm.or(Divisor(op), 1); asm.div(Divisor(op)); break;
            case 68: asm.cdq(); asm.and(Regs32[DivisorIndex(op)], 0x7FFF); asm.or(Regs32[DivisorIndex(op)], 1); asm.idiv(Regs32[DivisorIndex(op)]); break;
            case 69: asm.mov(edx, 1); asm.mov(r11, 1L << 40); asm.or(Divisor(op), r11); asm.div(Divisor(op)); break;
            case 70: asm.cqo(); asm.or(Divisor(op), 3); asm.idiv(Divisor(op)); asm.mov(edx, 1); asm.div(Regs32[DivisorIndex(op)]); break;
            case 71: asm.or(m64, 1); asm.xor(edx, edx); asm.div(m64); asm.cdq(); asm.or(m32, 1); asm.idiv(m32); break;
            // Memory INC/DEC, ADC/SBB (carry from a fused compare, from INC/DEC, or from the state), 8/16-bit shifts.
            case 72: asm.inc(m32); asm.setz(Regs8[op.A]); asm.add(a, b); asm.dec(__qword_ptr[rdi + op.Slot * 8]); asm.adc(b, a); break;
            case 73: asm.add(a, b); asm.adc(b32, a32); asm.sbb(a, imm32); asm.setb(Regs8[op.B]); break;
            case 74: asm.cmp(a, b); asm.sbb(m64, b); asm.adc(a, m64); asm.jo(skip); break;
            case 75: asm.shl(Regs8[op.A], 1); asm.setb(Regs8[op.B]); asm.rol(Regs16[op.B], cl); asm.adc(a, 0); break;
            case 77: asm.mul(b); asm.jc(skip); asm.mul(Regs32[op.A]); asm.seto(Regs8[op.B]); break;
            case 78: asm.mul(m64); asm.mul(m32); asm.sets(Regs8[op.A]); break;
            case 79: asm.bt(a, (byte)op.Imm); asm.setb(Regs8[op.B]); asm.bts(b32, a32); asm.btr(Regs16[op.A], (byte)(op.Imm >> 4)); asm.jc(skip); break;
            case 80: asm.bt(m32, (byte)op.Imm); asm.btc(m64, (byte)(op.Imm >> 3)); asm.adc(a, b); asm.bts(__word_ptr[rdi + op.Slot * 8], (byte)op.Imm); break;
            // Rotate and shift flags seen only by a possible fault (a memory access before the next full flag writer).
            case 81: asm.ror(a32, (byte)op.Imm); asm.mov(b, m64); asm.xor(a32, b32); break;
            case 82: asm.rol(a, (byte)op.Imm); asm.ror(b32, (byte)(op.Imm >> 8)); asm.movzx(b32, __byte_ptr[rdi + op.Slot * 8 + 5]); asm.add(a, b); break;
            case 83: asm.shr(a, (byte)op.Imm); asm.rol(b, (byte)(op.Imm >> 8)); asm.mov(m64, a); asm.imul(a, b); break;
            // Memory and 8/16-bit shifts and rotates, by 1, an immediate and CL (zero counts included).
            case 84: asm.shl(__byte_ptr[rdi + op.Slot * 8 + 1], 1); asm.setb(Regs8[op.A]); asm.ror(__word_ptr[rdi + op.Slot * 8 + 2], cl); asm.jo(skip); break;
            case 85: asm.sar(m32, (byte)op.Imm); asm.rol(m64, cl); asm.cmovo(a, b); asm.shr(Regs16[op.B], cl); asm.sets(Regs8[op.A]); asm.shl(Regs8[op.A], (byte)(op.Imm >> 8)); break;
            // A compare's condition read after moves, loads, stores, SETcc, CMOVcc and SSE moves in between.
            case 86: asm.cmp(a, b); asm.mov(b, m64); asm.lea(a, __[a + b * 2]); asm.movzx(Regs32[op.B], Regs8[op.A]); asm.jl(skip); break;
            case 87: asm.sub(a32, imm32); asm.mov(m32, b32); asm.setg(Regs8[op.B]); asm.not(b); asm.cmovbe(b, a); asm.push(a); asm.pop(b); asm.ja(skip); break;
            case 88: asm.test(a, b); asm.movdqu(Xmms[op.A], __xmmword_ptr[rdi + op.Slot * 8]); asm.pxor(Xmms[op.B], Xmms[op.A]); asm.bswap(a); asm.inc(b32); asm.jle(skip); break;
            // ALU chains with memory sources: each one's flags are seen only if the next one's load faults.
            case 89: asm.add(a, b); asm.mov(m64, a); asm.sub(b, __qword_ptr[rdi + op.Slot * 8 + 8]); asm.xor(a32, m32); asm.cmp(b, m64); asm.jbe(skip); break;
            case 90: asm.and(a32, imm32); asm.movzx(b32, __word_ptr[rdi + op.Slot * 8 + 2]); asm.push(b); asm.pop(a); asm.or(b, m64); asm.test(Regs8[op.A], Regs8[op.B]); break;
            // Accesses that straddle two pages of the data region (the inline TLB hit path must not take them).
            case 91: asm.mov(__qword_ptr[rdi + 0xFFD + (op.Slot & 7)], a); asm.add(b, __qword_ptr[rdi + 0xFF9 + (op.Slot & 7)]); asm.movzx(a32, __word_ptr[rdi + 0x1FFF]); asm.sub(__dword_ptr[rdi + 0xFFE], b32); asm.mov(Regs32[op.B], __dword_ptr[rdi + 0xFFD]); break;
            // Rotates (chained) whose CF/OF only a fault before the next ALU instruction could see.
            case 92: asm.ror(a32, (byte)(op.Imm | 1)); asm.rol(b, (byte)(op.Imm >> 8 | 2)); asm.add(a32, m32); break;
            case 93: asm.rol(a, (byte)(op.Imm | 1)); asm.mov(m64, b); asm.ror(Regs16[op.B], (byte)(op.Imm >> 4 | 1)); asm.movzx(a32, __byte_ptr[rdi + op.Slot * 8 + 7]); asm.xor(b, m64); break;
            // CF of a bit test read (directly or after moves) by CMOVcc, SETcc, SBB and a branch.
            case 94: asm.bt(a32, (byte)op.Imm); asm.mov(b, m64); asm.cmovae(a, b); asm.btc(b, a); asm.lea(a, __[a + 1]); asm.setb(Regs8[op.A]); asm.bts(m32, (byte)(op.Imm >> 8)); asm.sbb(b32, 0); asm.bt(b, a); asm.jae(skip); break;
            // 16-byte loads and stores across the data region's page boundary (the inline probe must not take them).
            case 95: asm.movdqu(Xmms[op.A], __xmmword_ptr[rdi + 0xFF9 + (op.Slot & 7)]); asm.paddd(Xmms[op.B], Xmms[op.A]); asm.movdqu(__xmmword_ptr[rdi + 0xFF3 + (op.Slot & 7)], Xmms[op.B]); asm.movdqa(Xmms[op.A], __xmmword_ptr[rdi + 0xFF0]); break;
            default: asm.sar(Regs8[op.A], cl); asm.jo(skip); asm.shr(Regs16[op.A], (byte)(op.Imm & 31)); asm.sbb(Regs16[op.B], __word_ptr[rdi + op.Slot * 8]); break;
        }
    }

    /// <summary>A divisor register other than RAX/RDX.</summary>
    private static int DivisorIndex(GenOp op) => op.B is 0 or 3 ? 1 : op.B;

    private static AssemblerRegister64 Divisor(GenOp op) => Regs64[DivisorIndex(op)];

    /// <summary>
    /// Builds "r15 = 3; loop: ops (branches skip one op forward); dec r15; jnz loop". R14 counts the iterations
    /// (1, 2, 3; LEA keeps the flags) for <see cref="EmitFault"/>.
    /// </summary>
    private static Action<Assembler> Program(GenOp[] ops, Action<Assembler, GenOp, Label> emit) => asm =>
    {
        Label loop = asm.CreateLabel();
        asm.mov(r15, 3);
        asm.mov(rdi, (long)TestMachine.DataBase);
        asm.mov(r14, 0);
        asm.Label(ref loop);
        asm.lea(r14, __[r14 + 1]);
        for (int i = 0; i < ops.Length; i++)
        {
            Label skip = asm.CreateLabel();
            emit(asm, ops[i], skip);
            asm.Label(ref skip);
            asm.nop();
        }
        asm.dec(r15);
        asm.jnz(loop);
    };

    /// <summary>
    /// An access just below the end of the data region that runs past it (a page fault) from iteration
    /// 1 + (B mod 3) on: a load, a store, a flag-writing load or an SSE load, or one of those loads right after
    /// rotates (whose CF/OF the fault must show), by A.
    /// </summary>
    private static void EmitFault(Assembler asm, GenOp op)
    {
        // Slot 8..15: 1..7 bytes higher, so the faulting access straddles the end of the region.
        int end = (int)TestMachine.DataSize - 8 * (1 + op.B % 3) + (op.Slot < 8 ? 0 : op.Slot - 7);
        AssemblerMemoryOperand m = __qword_ptr[rdi + r14 * 8 + end];
        switch (op.A % 6)
        {
            case 4: asm.ror(r11d, (byte)(op.Imm | 1)); asm.rol(r12, 13); asm.add(r11d, __dword_ptr[rdi + r14 * 8 + end]); break;
            case 5: asm.rol(r12, (byte)(op.Imm | 1)); asm.mov(r13, m); asm.xor(r12d, r13d); break;
            case 0: asm.mov(r11, m); break;
            case 1: asm.mov(m, r11); break;
            case 2: asm.add(r11d, __dword_ptr[rdi + r14 * 8 + end + 4]); break;
            default: asm.movdqu(xmm8, __xmmword_ptr[rdi + r14 * 8 + end]); break;
        }
    }

    /// <summary>Kind -1 is <see cref="EmitFault"/>; anything else <see cref="Emit"/>.</summary>
    private static void EmitWithFault(Assembler asm, GenOp op, Label skip)
    {
        if (op.Kind < 0) EmitFault(asm, op); else Emit(asm, op, skip);
    }

    private static (ulong[] Gprs, ulong Flags, byte[] Data, byte[] Fpu, StopKind Stop, ulong Rip, ulong Count) Run(ExecutionMode mode, GenOp[] ops, long seed, bool fp = false)
    {
        var m = new TestMachine(mode).Load(fp ? Program(ops, EmitFloat) : Program(ops, EmitWithFault));
        var rng = new Random((int)seed);
        for (int i = 0; i < 16; i++)
            if (i is not ((int)Gpr.Rsp or (int)Gpr.Rdi or (int)Gpr.R15)) m.State.Gpr[i] = (ulong)rng.NextInt64();
        byte[] data = new byte[256];
        rng.NextBytes(data);
        rng.NextBytes(m.State.Fpu.Area.Slice(FpuState.XmmOffset, 16 * 16));
        if (fp) SeedFloat(m, rng, data);
        Assert.True(m.Memory.TryWrite(TestMachine.DataBase, data));
        StopReason r = m.Run(100_000);
        byte[] after = new byte[256];
        Assert.True(m.Memory.TryRead(TestMachine.DataBase, after));
        return ((ulong[])m.State.Gpr.Clone(), m.State.RFlags, after, m.State.Fpu.Area.ToArray(), r.Kind, m.State.Rip, (ulong)m.Machine.Stats.GuestInstructions);
    }

    public static TheoryData<int> Kinds()
    {
        var data = new TheoryData<int>();
        for (int k = 0; k < KindCount; k++) data.Add(k);
        return data;
    }

    /// <summary>Each instruction kind alone (with varied operands) pinpoints a translation bug quickly.</summary>
    [Theory]
    [MemberData(nameof(Kinds))]
    public void SingleKind_TranslatedAndInterpreted_AgreeOnFullState(int kind)
    {
        Gen<GenOp> ops = OpGen.Select(op => op with { Kind = kind });
        Gen.Select(ops.Array[1, 3], Gen.Long).Sample((seq, seed) => AssertSameFinalState(ExecutionMode.Translate, seq, seed), iter: 40, threads: 1);
    }

    [Theory]
    [InlineData(ExecutionMode.Translate)]
    [InlineData(ExecutionMode.Tiered)]
    public void RandomIntegerCode_TranslatedAndInterpreted_AgreeOnFullState(ExecutionMode mode)
    {
        Gen.Select(OpGen.Array[1, 24], Gen.Long).Sample((ops, seed) => AssertSameFinalState(mode, ops, seed), iter: 300, threads: 1);
    }

    /// <summary>
    /// Random integer code with one access that page-faults on a later iteration: at the fault, translated code
    /// must leave exactly the interpreter's state — registers, every status flag (a signal handler reads them),
    /// memory, RIP and the instruction count — whatever flag work it skipped on the way.
    /// </summary>
    [Theory]
    [InlineData(ExecutionMode.Translate)]
    [InlineData(ExecutionMode.Tiered)]
    public void RandomCodeWithFault_TranslatedAndInterpreted_AgreeOnFaultState(ExecutionMode mode)
    {
        Gen<GenOp[]> withFault =
            from ops in OpGen.Array[1, 16]
            from at in Gen.Int[0, 16]
            from fault in OpGen
            select ops.Take(Math.Min(at, ops.Length)).Append(fault with { Kind = -1 }).Concat(ops.Skip(Math.Min(at, ops.Length))).ToArray();
        Gen.Select(withFault, Gen.Long).Sample((ops, seed) => AssertSameFinalState(mode, ops, seed, expectFault: true), iter: 300, threads: 1);
    }

    private static void AssertSameFinalState(ExecutionMode mode, GenOp[] ops, long seed, bool fp = false, bool expectFault = false)
    {
        {
            var expected = Run(ExecutionMode.Interpret, ops, seed, fp);
            var actual = Run(mode, ops, seed, fp);
            if (!fp) Assert.Equal(expectFault ? StopKind.Faulted : StopKind.Halted, expected.Stop); // unmasked SIMD exceptions fault on purpose
            Assert.Equal(expected.Stop, actual.Stop);
            Assert.True(expected.Rip == actual.Rip, $"rip: interpreter {expected.Rip:x}, {mode} {actual.Rip:x}");
            Assert.Equal(expected.Count, actual.Count);
            for (int i = 0; i < 16; i++)
                Assert.True(expected.Gprs[i] == actual.Gprs[i], $"{(Gpr)i}: interpreter {expected.Gprs[i]:x}, {mode} {actual.Gprs[i]:x}");
            Assert.True(expected.Flags == actual.Flags, $"rflags: interpreter {expected.Flags:x}, {mode} {actual.Flags:x}");
            Assert.Equal(expected.Data, actual.Data);
            Assert.Equal(expected.Fpu, actual.Fpu);
        }
    }

    // ---------------------------------------------------------------- SSE floating point

    private const int FloatKindCount = 39;

    /// <summary>Doubles at every boundary the inline fast path checks (and just past it).</summary>
    private static readonly double[] EdgeDoubles =
    [
        0.0, -0.0, 1.0, -1.0, 1.5, 3.0, 0.1, -7.75, 1e308, -1e308, 1e-200, 2.2250738585072014e-308, -2.2250738585072014e-308,
        2.2250738585072019e-308, 4.9406564584124654e-324, -1e-310, double.PositiveInfinity, double.NegativeInfinity,
        double.NaN, BitConverter.UInt64BitsToDouble(0x7FF0_0000_0000_0001), BitConverter.UInt64BitsToDouble(0x7FF8_0000_0000_0001),
        9007199254740993.0, 2147483648.0, -2147483649.0, 2147483647.5, 9.2233720368547758e18, -9.2233720368547758e18, 4.0, 0.5,
    ];

    private static readonly float[] EdgeSingles =
    [
        0f, -0f, 1f, -1f, 1.5f, 3f, 0.1f, 3e38f, -3e38f, 1e-30f, 1.17549435e-38f, -1.17549435e-38f, 1.1754945e-38f, 1e-45f, -1e-40f,
        float.PositiveInfinity, float.NegativeInfinity, float.NaN, BitConverter.UInt32BitsToSingle(0x7F80_0001),
        16777217f, 2147483648f, -2147483648f, 9.2233720e18f, 4f, 0.25f,
    ];

    /// <summary>Round-to-nearest with and without PE, every rounding mode, FTZ, DAZ, and unmasked exceptions.</summary>
    private static readonly uint[] Mxcsrs = [0x1F80, 0x1FA0, 0x3FA0, 0x5FA0, 0x7FA0, 0x9FA0, 0x1FE0, 0x1FBF, 0x1D80, 0x0FA0, 0x1E80, 0x17A0, 0x1B80];

    private static ulong EdgeLane(Random rng) => rng.Next(3) switch
    {
        0 => BitConverter.DoubleToUInt64Bits(EdgeDoubles[rng.Next(EdgeDoubles.Length)]),
        1 => BitConverter.SingleToUInt32Bits(EdgeSingles[rng.Next(EdgeSingles.Length)])
            | (ulong)BitConverter.SingleToUInt32Bits(EdgeSingles[rng.Next(EdgeSingles.Length)]) << 32,
        _ => BitConverter.DoubleToUInt64Bits(rng.NextDouble() * 1000 - 500),
    };

    /// <summary>XMM registers and data slots get edge values; MXCSR one of <see cref="Mxcsrs"/>.</summary>
    private static void SeedFloat(TestMachine m, Random rng, byte[] data)
    {
        Span<byte> xmm = m.State.Fpu.Area.Slice(FpuState.XmmOffset, 16 * 16);
        for (int i = 0; i < 32; i++) BitConverter.TryWriteBytes(xmm.Slice(8 * i, 8), EdgeLane(rng));
        for (int i = 0; i < 32; i++) BitConverter.TryWriteBytes(data.AsSpan(8 * i, 8), EdgeLane(rng));
        m.State.Fpu.Mxcsr = Mxcsrs[rng.Next(Mxcsrs.Length)];
        if (rng.Next(4) == 0) m.State.Gpr[rng.Next(4)] = BitConverter.DoubleToUInt64Bits(EdgeDoubles[rng.Next(EdgeDoubles.Length)]);
    }

    private static void EmitFloat(Assembler asm, GenOp op, Label skip)
    {
        AssemblerRegisterXMM a = Xmms[op.A], b = Xmms[op.B];
        AssemblerRegister64 g = Regs64[op.B];
        AssemblerMemoryOperand m64 = __qword_ptr[rdi + op.Slot * 8], m32 = __dword_ptr[rdi + op.Slot * 8 + 4];
        AssemblerMemoryOperand m128 = __xmmword_ptr[rdi + (op.Slot & ~1) * 8];
        switch (op.Kind)
        {
            case 0: asm.addsd(a, b); break;
            case 1: asm.subsd(a, m64); break;
            case 2: asm.mulsd(a, b); break;
            case 3: asm.divsd(a, b); break;
            case 4: asm.sqrtsd(a, b); break;
            case 5: asm.minsd(a, m64); break;
            case 6: asm.maxsd(a, b); break;
            case 7: asm.addss(a, b); break;
            case 8: asm.subss(a, m32); break;
            case 9: asm.mulss(a, b); break;
            case 10: asm.divss(a, m32); break;
            case 11: asm.sqrtss(a, b); break;
            case 12: asm.minss(a, b); asm.maxss(b, a); break;
            case 13: asm.addpd(a, b); break;
            case 14: asm.subpd(a, m128); break;
            case 15: asm.mulpd(a, b); break;
            case 16: asm.divpd(a, b); break;
            case 17: asm.cvtss2sd(a, b); break;
            case 18: asm.cvtsd2ss(a, m64); break;
            case 19: asm.cvtsi2sd(a, g); break;
            case 20: asm.cvtsi2sd(a, m32); break;
            case 21: asm.cvtsi2ss(a, Regs32[op.B]); break;
            case 22: asm.cvttsd2si(Regs64[op.A], b); break;
            case 23: asm.cvttsd2si(Regs32[op.A], m64); break;
            case 24: asm.cvttss2si(Regs64[op.A], b); asm.cvttss2si(Regs32[op.B], a); break;
            case 25: asm.ucomisd(a, b); asm.setb(Regs8[op.A]); asm.jp(skip); break;
            case 26: asm.comisd(a, m64); asm.ja(skip); break;
            case 27: asm.ucomiss(a, b); asm.sete(Regs8[op.B]); break;
            case 28: asm.movsd(a, b); asm.movsd(m64, a); break;
            case 29: asm.movss(a, m32); asm.movss(b, a); break;
            case 30: asm.movq(a, g); asm.movq(Regs64[op.A], b); break;
            case 31: asm.movd(a, Regs32[op.B]); asm.movd(m32, b); break;
            case 32: asm.unpcklpd(a, b); asm.unpckhpd(b, m128); break;
            case 33: asm.movq(a, m64); asm.movq(m64, b); break;
            case 34: asm.mulsd(a, b); asm.addsd(a, m64); asm.divsd(b, a); asm.subsd(b, a); break;
            // Instructions only the interpreter's handlers run, between inline ones: the unit's XMM locals must be
            // spilled before the handler reads them and reloaded after it writes them.
            case 36: asm.sqrtpd(a, b); asm.addsd(b, a); asm.haddpd(a, m128); asm.pxor(b, a); break;
            case 37: asm.cvtdq2pd(a, b); asm.mulpd(a, b); asm.shufpd(b, a, (byte)op.Imm); asm.movq(Regs64[op.A], b); break;
            // FXSAVE and FXRSTOR name no XMM register, yet store and load all of them.
            case 38: asm.addsd(a, b); asm.fxsave(__[rdi + 1024]); asm.xorps(a, a); asm.movq(m64, a); asm.fxrstor(__[rdi + 1024]); asm.mulsd(b, a); break;
            default: asm.movss(m32, a); asm.movsd(b, m64); asm.movd(Regs32[op.A], a); break;
        }
    }

    public static TheoryData<int> FloatKinds()
    {
        var data = new TheoryData<int>();
        for (int k = 0; k < FloatKindCount; k++) data.Add(k);
        return data;
    }

    /// <summary>Each SSE kind alone, over edge values (NaN, denormals, infinities, limits) and every MXCSR mode.</summary>
    [Theory]
    [MemberData(nameof(FloatKinds))]
    public void SingleFloatKind_TranslatedAndInterpreted_AgreeOnFullState(int kind)
    {
        Gen<GenOp> ops = OpGen.Select(op => op with { Kind = kind });
        Gen.Select(ops.Array[1, 3], Gen.Long).Sample((seq, seed) => AssertSameFinalState(ExecutionMode.Translate, seq, seed, fp: true), iter: 60, threads: 1);
    }

    [Theory]
    [InlineData(ExecutionMode.Translate)]
    [InlineData(ExecutionMode.Tiered)]
    public void RandomFloatCode_TranslatedAndInterpreted_AgreeOnFullState(ExecutionMode mode)
    {
        Gen<GenOp> ops = OpGen.Select(op => op with { Kind = op.Kind % FloatKindCount });
        Gen.Select(ops.Array[1, 16], Gen.Long).Sample((seq, seed) => AssertSameFinalState(mode, seq, seed, fp: true), iter: 200, threads: 1);
    }
}
