using Hv.Core.Cpu;
using Hv.Core.Tests.Support;
using Iced.Intel;

namespace Hv.Core.Tests.Interpretation;

/// <summary>
/// Integer instructions against the host CPU: every encoding (register, memory, page-straddling memory,
/// same-register, high-byte and REX byte registers, immediates) with edge and random operand values, in every
/// execution mode. Architecturally undefined flags are masked per instruction.
/// </summary>
public sealed class IntegerOracleTests
{
    private const ulong CF = (ulong)RFlags.CF, PF = (ulong)RFlags.PF, AF = (ulong)RFlags.AF, ZF = (ulong)RFlags.ZF,
        SF = (ulong)RFlags.SF, OF = (ulong)RFlags.OF;
    private const ulong AllStatus = CF | PF | AF | ZF | SF | OF;

    private static readonly ExecutionMode[] Modes = [ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered];

    private static TheoryData<ExecutionMode, IntegerForm> Cases(Mnemonic[] mnemonics, int[]? immediates = null)
    {
        var data = new TheoryData<ExecutionMode, IntegerForm>();
        foreach (ExecutionMode mode in Modes)
            foreach (Mnemonic m in mnemonics)
                foreach (IntegerForm form in IntegerOracle.Forms(m, immediates))
                    data.Add(mode, form);
        return data;
    }

    private static int Seed(IntegerForm form) => (int)form.Code * 131 + form.Variant * 17 + form.Immediate;

    /// <summary>Runs one form over many value triples and compares with the host.</summary>
    private static void Run(ExecutionMode mode, IntegerForm form, int[]? immediates, IEnumerable<(ulong X, ulong Y, ulong Z)> values,
        Func<Instruction, ulong, ulong, ulong, ulong>? ignoredFlags = null, Action<CpuSnapshot, Instruction, Random, ulong>? adjust = null)
    {
        Instruction ins = IntegerOracle.Build(form, immediates);
        using var oracle = new OracleCase(mode, a => a.AddInstruction(ins));
        var random = new Random(Seed(form));
        int runs = 0;
        foreach (var (x, y, z) in values)
        {
            CpuSnapshot s = IntegerOracle.State(ins, random, x, y, z);
            adjust?.Invoke(s, ins, random, x);
            ulong ignored = ignoredFlags?.Invoke(ins, x, y, z) ?? 0;
            oracle.Run(s).AssertSame(ignored, $"{form} [{ins}] x=0x{x:x} y=0x{y:x} z=0x{z:x}");
            runs++;
        }
        Assert.True(runs > 0);
    }

    private static IEnumerable<(ulong, ulong, ulong)> Pairs(IntegerForm form)
    {
        foreach (var (x, y) in IntegerOracle.Pairs(IntegerOracle.OperandSize(form.Code), new Random(Seed(form) + 1)))
            yield return (x, y, 0);
    }

    // ---- ALU ----

    public static TheoryData<ExecutionMode, IntegerForm> AluCases => Cases(
        [Mnemonic.Add, Mnemonic.Or, Mnemonic.Adc, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Sub, Mnemonic.Xor, Mnemonic.Cmp, Mnemonic.Test]);

    [Theory]
    [MemberData(nameof(AluCases))]
    public void Alu_EdgeAndRandomValues_MatchHost(ExecutionMode mode, IntegerForm form) =>
        Run(mode, form, null, Pairs(form));

    public static TheoryData<ExecutionMode, IntegerForm> UnaryCases => Cases([Mnemonic.Neg, Mnemonic.Not, Mnemonic.Inc, Mnemonic.Dec]);

    [Theory]
    [MemberData(nameof(UnaryCases))]
    public void Unary_EdgeAndRandomValues_MatchHost(ExecutionMode mode, IntegerForm form) =>
        Run(mode, form, null, Pairs(form));

    // ---- moves ----

    public static TheoryData<ExecutionMode, IntegerForm> MoveCases => Cases(
        [Mnemonic.Mov, Mnemonic.Movnti, Mnemonic.Movzx, Mnemonic.Movsx, Mnemonic.Movsxd, Mnemonic.Xchg, Mnemonic.Xadd, Mnemonic.Bswap, Mnemonic.Movbe,
         Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne, Mnemonic.Cmovbe,
         Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp, Mnemonic.Cmovl, Mnemonic.Cmovge,
         Mnemonic.Cmovle, Mnemonic.Cmovg, Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete,
         Mnemonic.Setne, Mnemonic.Setbe, Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp,
         Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg]);

    [Theory]
    [MemberData(nameof(MoveCases))]
    public void Move_EdgeAndRandomValues_MatchHost(ExecutionMode mode, IntegerForm form) =>
        Run(mode, form, null, Pairs(form));

    public static TheoryData<ExecutionMode, IntegerForm> CmpxchgCases => Cases([Mnemonic.Cmpxchg, Mnemonic.Cmpxchg8b, Mnemonic.Cmpxchg16b]);

    [Theory]
    [MemberData(nameof(CmpxchgCases))]
    public void Cmpxchg_EqualAndDifferent_MatchHost(ExecutionMode mode, IntegerForm form) =>
        Run(mode, form, null, Pairs(form), adjust: (s, ins, random, x) =>
        {
            if (random.Next(2) == 0) return; // accumulator differs (almost surely)
            if (ins.Code == Code.Cmpxchg8b_m64)
            {
                ulong mem = s.ReadData64((int)(IntegerOracle.MemoryBase + ins.MemoryDisplacement64 - TestMachine.DataBase));
                s[Gpr.Rax] = (s[Gpr.Rax] & ~0xFFFF_FFFFUL) | (uint)mem;
                s[Gpr.Rdx] = (s[Gpr.Rdx] & ~0xFFFF_FFFFUL) | (mem >> 32);
            }
            else if (ins.Code == Code.Cmpxchg16b_m128)
            {
                s[Gpr.Rax] = s.ReadData64((int)(IntegerOracle.MemoryBase - TestMachine.DataBase));
                s[Gpr.Rdx] = s.ReadData64((int)(IntegerOracle.MemoryBase - TestMachine.DataBase) + 8);
            }
            else
            {
                Register acc = IntegerOracle.OperandSize(ins.Code) switch
                {
                    1 => Register.AL, 2 => Register.AX, 4 => Register.EAX, _ => Register.RAX,
                };
                IntegerOracle.PlaceRegister(s, acc, x);
            }
        });

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Lea_AddressingForms_MatchHost(ExecutionMode mode)
    {
        var random = new Random(77);
        Action<Assembler>[] snippets =
        [
            a => a.lea(AssemblerRegisters.rax, AssemblerRegisters.__[AssemblerRegisters.rbx + AssemblerRegisters.rcx * 4 + 0x12345]),
            a => a.lea(AssemblerRegisters.eax, AssemblerRegisters.__[AssemblerRegisters.rbx + AssemblerRegisters.rcx * 8 - 7]),
            a => a.lea(AssemblerRegisters.ax, AssemblerRegisters.__[AssemblerRegisters.rbx + AssemblerRegisters.rcx]),
            a => a.lea(AssemblerRegisters.r9, AssemblerRegisters.__[AssemblerRegisters.r12 + AssemblerRegisters.r13 * 2 - 0x80000000]),
            a => a.lea(AssemblerRegisters.rdx, AssemblerRegisters.__[AssemblerRegisters.rsp + 8]),
            a => a.lea(AssemblerRegisters.rsi, AssemblerRegisters.__[AssemblerRegisters.rbp * 2]),
            a => a.lea(AssemblerRegisters.rax, AssemblerRegisters.__[AssemblerRegisters.ebx + AssemblerRegisters.ecx * 2 + 0x10]),
            a =>
            {
                Label l = a.CreateLabel();
                a.lea(AssemblerRegisters.rdi, AssemblerRegisters.__[l]);
                a.Label(ref l);
                a.nop();
            },
        ];
        foreach (Action<Assembler> snippet in snippets)
        {
            using var oracle = new OracleCase(mode, snippet);
            for (int i = 0; i < 6; i++) oracle.Run(CpuSnapshot.CreateRandom(random)).AssertSame(0, $"case {i}");
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void MovFromSegmentRegister_AllSelectors_MatchHost(ExecutionMode mode)
    {
        var random = new Random(93);
        using var oracle = new OracleCase(mode, a =>
        {
            a.mov(AssemblerRegisters.eax, AssemblerRegisters.cs);
            a.mov(AssemblerRegisters.rbx, AssemblerRegisters.ss);
            a.mov(AssemblerRegisters.cx, AssemblerRegisters.ds);
            a.mov(AssemblerRegisters.edx, AssemblerRegisters.es);
            a.mov(AssemblerRegisters.r8d, AssemblerRegisters.fs);
            a.mov(AssemblerRegisters.r9, AssemblerRegisters.gs);
            a.mov(AssemblerRegisters.__word_ptr[AssemblerRegisters.rdi], AssemblerRegisters.cs);
            a.mov(AssemblerRegisters.__word_ptr[AssemblerRegisters.rdi + 2], AssemblerRegisters.ss);
        });
        CpuSnapshot s = CpuSnapshot.CreateRandom(random);
        s[Gpr.Rdi] = IntegerOracle.MemoryBase;
        oracle.Run(s).AssertSame();
    }

    // ---- shifts and rotates ----

    public static TheoryData<ExecutionMode, IntegerForm> ShiftCases => Cases(
        [Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr, Mnemonic.Sar, Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl, Mnemonic.Rcr],
        IntegerOracle.ShiftImmediates);

    private static ulong ShiftUndefined(Instruction ins, ulong count)
    {
        int size = IntegerOracle.OperandSize(ins.Code);
        int c = (int)(count & (size == 8 ? 63UL : 31UL));
        if (c == 0) return 0;
        ulong ignored = c == 1 ? 0 : OF;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr:
                ignored |= AF;
                if (c >= size * 8) ignored |= CF | OF;
                break;
            case Mnemonic.Sar:
                ignored |= AF;
                break;
        }
        return ignored;
    }

    private static ulong CountOf(Instruction ins, int op, ulong registerValue) =>
        ins.GetOpKind(op) == OpKind.Register ? registerValue : ins.GetImmediate(op);

    private static IEnumerable<(ulong, ulong, ulong)> ShiftValues(IntegerForm form, bool cl)
    {
        ulong[] counts = cl ? [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 0x100, 0x1F1] : [0];
        var random = new Random(Seed(form) + 2);
        ulong[] edges = IntegerOracle.EdgeValues(IntegerOracle.OperandSize(form.Code));
        int k = 0;
        foreach (ulong c in counts)
        {
            for (int i = 0; i < (cl ? 4 : 16); i++)
            {
                ulong x = i % 2 == 0 ? edges[(k++ * 7) % edges.Length] : (ulong)random.NextInt64();
                yield return (x, c, c);
            }
        }
    }

    [Theory]
    [MemberData(nameof(ShiftCases))]
    public void Shift_CountsAndValues_MatchHost(ExecutionMode mode, IntegerForm form)
    {
        Instruction ins = IntegerOracle.Build(form, IntegerOracle.ShiftImmediates);
        bool cl = ins.Op1Kind == OpKind.Register;
        Run(mode, form, IntegerOracle.ShiftImmediates, ShiftValues(form, cl), (i, x, y, z) => ShiftUndefined(i, CountOf(i, 1, y)));
    }

    public static TheoryData<ExecutionMode, IntegerForm> DoubleShiftCases => Cases([Mnemonic.Shld, Mnemonic.Shrd], IntegerOracle.ShiftImmediates);

    [Theory]
    [MemberData(nameof(DoubleShiftCases))]
    public void DoubleShift_CountsAndValues_MatchHost(ExecutionMode mode, IntegerForm form)
    {
        Instruction ins = IntegerOracle.Build(form, IntegerOracle.ShiftImmediates);
        int size = IntegerOracle.OperandSize(form.Code);
        bool cl = ins.Op2Kind == OpKind.Register;
        var random = new Random(Seed(form) + 3);
        ulong[] counts = cl ? [0, 1, 2, 7, 8, 15, 16, 31, 32, 33, 63, 64] : [ins.GetImmediate(2)];
        var values = new List<(ulong, ulong, ulong)>();
        foreach (ulong c in counts)
        {
            // 16-bit counts above 16 give undefined results.
            if (size == 2 && (c & 31) > 16) continue;
            for (int i = 0; i < (cl ? 4 : 16); i++) values.Add(((ulong)random.NextInt64(), (ulong)random.NextInt64() ^ (ulong)i, c));
        }
        if (values.Count == 0) return;
        Run(mode, form, IntegerOracle.ShiftImmediates, values, (i, x, y, z) =>
        {
            ulong c = CountOf(i, 2, z) & (size == 8 ? 63UL : 31UL);
            return c == 0 ? 0 : AF | (c == 1 ? 0 : OF);
        });
    }

    // ---- multiply ----

    public static TheoryData<ExecutionMode, IntegerForm> MulCases => Cases([Mnemonic.Mul, Mnemonic.Imul]);

    [Theory]
    [MemberData(nameof(MulCases))]
    public void Multiply_EdgeAndRandomValues_MatchHost(ExecutionMode mode, IntegerForm form) =>
        Run(mode, form, null, Pairs(form), (i, x, y, z) => SF | ZF | AF | PF, (s, ins, random, x) =>
        {
            if (ins.OpCount == 1)
            {
                // One-operand forms multiply by the accumulator: give it the paired edge value.
                ulong y = IntegerOracle.EdgeValues(8)[random.Next(IntegerOracle.EdgeValues(8).Length)];
                s[Gpr.Rax] = random.Next(3) == 0 ? (ulong)random.NextInt64() : y;
            }
        });

    // ---- bit instructions ----

    public static TheoryData<ExecutionMode, IntegerForm> BitTestCases => Cases([Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc],
        [0, 1, 5, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127]);

    [Theory]
    [MemberData(nameof(BitTestCases))]
    public void BitTest_Offsets_MatchHost(ExecutionMode mode, IntegerForm form)
    {
        Instruction ins = IntegerOracle.Build(form, [0, 1, 5, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127]);
        var random = new Random(Seed(form) + 4);
        var values = new List<(ulong, ulong, ulong)>();
        bool memWithReg = ins.Op0Kind == OpKind.Memory && ins.Op1Kind == OpKind.Register;
        long[] offsets = [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, -1, -8, -9, -64, -65, 1000, -1000, 0x1FFF, -0x2000];
        foreach (long off in offsets)
        {
            // Memory forms with a register offset reach [base + off/8]: keep it inside the data window.
            values.Add(((ulong)random.NextInt64(), (ulong)off, 0));
            if (!memWithReg) values.Add(((ulong)random.NextInt64(), (ulong)off * 0x1_0001, 0));
        }
        Run(mode, form, [0, 1, 5, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127], values, (i, x, y, z) => OF | SF | AF | PF);
    }

    public static TheoryData<ExecutionMode, IntegerForm> BitScanCases => Cases(
        [Mnemonic.Bsf, Mnemonic.Bsr, Mnemonic.Tzcnt, Mnemonic.Lzcnt, Mnemonic.Popcnt]);

    [Theory]
    [MemberData(nameof(BitScanCases))]
    public void BitScan_EdgeAndRandomValues_MatchHost(ExecutionMode mode, IntegerForm form) =>
        Run(mode, form, null, Pairs(form), (ins, x, y, z) => ins.Mnemonic switch
        {
            Mnemonic.Bsf or Mnemonic.Bsr => CF | OF | SF | AF | PF,
            Mnemonic.Tzcnt or Mnemonic.Lzcnt => OF | SF | AF | PF,
            _ => 0,
        });

    // ---- BMI1/BMI2 ----

    private static readonly Code[] BmiCodes = Enum.GetValues<Code>()
        .Where(c => c.ToString().StartsWith("VEX_", StringComparison.Ordinal) && Hv.Core.Interpretation.InstructionTable.IsImplemented(c))
        .ToArray();

    public static TheoryData<ExecutionMode, IntegerForm> BmiCases
    {
        get
        {
            var data = new TheoryData<ExecutionMode, IntegerForm>();
            foreach (ExecutionMode mode in Modes)
                foreach (IntegerForm form in IntegerOracle.FormsOf(BmiCodes, [0, 1, 7, 31, 32, 63]))
                    data.Add(mode, form);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(BmiCases))]
    public void Bmi_EdgeAndRandomValues_MatchHost(ExecutionMode mode, IntegerForm form)
    {
        var random = new Random(Seed(form) + 5);
        ulong[] edges = IntegerOracle.EdgeValues(8);
        var values = new List<(ulong, ulong, ulong)>();
        for (int i = 0; i < 40; i++)
        {
            ulong y = i < edges.Length ? edges[i] : (ulong)random.NextInt64() * 3;
            // BEXTR/BZHI/SHIFTX controls: small starts, lengths and counts are the interesting ones.
            ulong z = i % 2 == 0 ? (uint)random.Next(0, 72) | ((uint)random.Next(0, 72) << 8) : edges[random.Next(edges.Length)];
            values.Add(((ulong)random.NextInt64(), y, z));
        }
        Run(mode, form, [0, 1, 7, 31, 32, 63], values, (ins, x, y, z) => ins.Mnemonic switch
        {
            Mnemonic.Andn or Mnemonic.Blsi or Mnemonic.Blsmsk or Mnemonic.Blsr or Mnemonic.Bzhi => AF | PF,
            Mnemonic.Bextr => AF | SF | PF,
            _ => 0,
        });
    }

    // ---- implicit-operand instructions ----

    public static TheoryData<ExecutionMode, IntegerForm> ImplicitCases => Cases(
        [Mnemonic.Cbw, Mnemonic.Cwde, Mnemonic.Cdqe, Mnemonic.Cwd, Mnemonic.Cdq, Mnemonic.Cqo, Mnemonic.Lahf, Mnemonic.Sahf,
         Mnemonic.Clc, Mnemonic.Stc, Mnemonic.Cmc, Mnemonic.Cld, Mnemonic.Std]);

    [Theory]
    [MemberData(nameof(ImplicitCases))]
    public void Implicit_AccumulatorAndFlags_MatchHost(ExecutionMode mode, IntegerForm form) =>
        Run(mode, form, null, Pairs(form), adjust: (s, ins, random, x) =>
        {
            s[Gpr.Rax] = x ^ ((ulong)random.NextInt64() & 0xFFFF_0000_0000_0000UL);
            if (random.Next(2) == 0) s.RFlags |= (ulong)RFlags.DF;
        });
}
