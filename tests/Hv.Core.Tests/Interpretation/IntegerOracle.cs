using Hv.Core.Cpu;
using Hv.Core.Interpretation;
using Hv.Core.Tests.Support;
using Iced.Intel;

namespace Hv.Core.Tests.Interpretation;

/// <summary>
/// One encoding of an instruction under test: an Iced <see cref="Code"/>, a register/memory variant and an
/// immediate. Operand roles: operand 0 is "A" (RBX family or memory), the other register/memory operand is "B"
/// (RSI family or memory), CL is the count, memory is at [RDI + disp] with RDI = <see cref="IntegerOracle.MemoryBase"/>.
/// </summary>
public sealed record IntegerForm(Code Code, int Variant, int Immediate)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Code}/v{Variant}/i{Immediate}";
}

/// <summary>Generates forms, operand values and initial states for the integer-instruction oracle tests.</summary>
public static class IntegerOracle
{
    /// <summary>Where [RDI] points: the middle of the data window, so negative displacements stay inside it.</summary>
    public const ulong MemoryBase = TestMachine.DataBase + 0x1000;

    private static readonly Register[] A8 = [Register.BL, Register.BH, Register.R10L];
    private static readonly Register[] B8 = [Register.DL, Register.CH, Register.SIL];

    /// <summary>Every form of the legacy codes of <paramref name="mnemonic"/> that Hv's integer group implements.</summary>
    public static IEnumerable<IntegerForm> Forms(Mnemonic mnemonic, int[]? immediateChoices = null) =>
        FormsOf(HandlerRegistry.CodesOf(mnemonic).ToArray(), immediateChoices);

    /// <summary>Every form of the given codes (e.g. VEX-encoded ones, which <see cref="Forms"/> does not list).</summary>
    public static IEnumerable<IntegerForm> FormsOf(Code[] codes, int[]? immediateChoices = null)
    {
        foreach (Code code in codes)
        {
            if (!InstructionTable.IsImplemented(code)) continue;
            OpCodeInfo info = code.ToOpCode();
            if (info.Fwait || code.ToString().Contains("_82", StringComparison.Ordinal)) continue;
            bool hasRm = false, hasImm = false, hasReg8 = false, twoRegs = false;
            int regs = 0;
            for (int i = 0; i < info.OpCount; i++)
            {
                OpCodeOperandKind k = info.GetOpKind(i);
                string name = k.ToString();
                if (name.EndsWith("_or_mem", StringComparison.Ordinal)) { hasRm = true; regs++; }
                if (name.EndsWith("_reg", StringComparison.Ordinal) || name.EndsWith("_opcode", StringComparison.Ordinal)
                    || name.EndsWith("_vvvv", StringComparison.Ordinal)) regs++;
                if (name.StartsWith("imm", StringComparison.Ordinal) && k != OpCodeOperandKind.imm8_const_1) hasImm = true;
                if (name.StartsWith("r8", StringComparison.Ordinal)) hasReg8 = true;
            }
            twoRegs = regs >= 2;
            int immCount = hasImm ? (immediateChoices?.Length ?? DefaultImmediates.Length) : 1;
            // Variants: 0 register(s), 1 memory at [rdi+0x10], 2 memory at [rdi-3] (straddles a page), 3 same register twice,
            // 4/5 other 8-bit register pairs (AH..BH, REX registers).
            var variants = new List<int> { 0 };
            if (hasRm) variants.AddRange([1, 2]);
            if (twoRegs) variants.Add(3);
            if (hasReg8 && regs >= 1) variants.AddRange([4, 5]);
            foreach (int v in variants)
                for (int imm = 0; imm < immCount; imm++)
                {
                    var form = new IntegerForm(code, v, imm);
                    if (Encodable(form, immediateChoices)) yield return form;
                }
        }
    }

    private static bool Encodable(IntegerForm form, int[]? immediateChoices)
    {
        Instruction ins;
        try
        {
            ins = Build(form, immediateChoices);
        }
        catch (ArgumentException)
        {
            return false;
        }
        var encoder = Encoder.Create(64, new OracleCase.ByteWriter());
        return encoder.TryEncode(ins, TestMachine.CodeBase, out _, out _);
    }

    /// <summary>Default immediates (sign-extended as the encoding needs).</summary>
    public static readonly int[] DefaultImmediates = [0, 1, -1, -0x80, 0x35];

    /// <summary>Counts for shift/rotate immediates.</summary>
    public static readonly int[] ShiftImmediates = [0, 1, 2, 7, 8, 9, 16, 17, 31, 32, 33, 63, 64];

    /// <summary>Builds the instruction of <paramref name="form"/>.</summary>
    public static Instruction Build(IntegerForm form, int[]? immediateChoices = null)
    {
        OpCodeInfo info = form.Code.ToOpCode();
        int v = form.Variant;
        var ops = new object[info.OpCount];
        int regIndex = 0;
        for (int i = 0; i < info.OpCount; i++)
        {
            OpCodeOperandKind k = info.GetOpKind(i);
            string name = k.ToString();
            int size = name.StartsWith("r8", StringComparison.Ordinal) ? 1 : name.StartsWith("r16", StringComparison.Ordinal) ? 2
                : name.StartsWith("r32", StringComparison.Ordinal) ? 4 : 8;
            if (name.EndsWith("_or_mem", StringComparison.Ordinal) && v is 1 or 2)
                ops[i] = Memory(v);
            else if (name.EndsWith("_or_mem", StringComparison.Ordinal) || name.EndsWith("_reg", StringComparison.Ordinal)
                     || name.EndsWith("_opcode", StringComparison.Ordinal) || name.EndsWith("_vvvv", StringComparison.Ordinal))
            {
                int n = regIndex++;
                ops[i] = GprFor(n == 0 || v == 3 ? 'A' : n == 1 ? 'B' : 'C', size, v);
            }
            else if (k is OpCodeOperandKind.mem)
                ops[i] = Memory(form.Code is Code.Cmpxchg16b_m128 ? 0 : v is 2 ? 2 : 1);
            else if (k is OpCodeOperandKind.mem_offs)
                ops[i] = new MemoryOperand(Register.None, (long)MemoryBase + 0x10, 8);
            else if (k is OpCodeOperandKind.al) ops[i] = Register.AL;
            else if (k is OpCodeOperandKind.ax) ops[i] = Register.AX;
            else if (k is OpCodeOperandKind.eax) ops[i] = Register.EAX;
            else if (k is OpCodeOperandKind.rax) ops[i] = Register.RAX;
            else if (k is OpCodeOperandKind.cl) ops[i] = Register.CL;
            else if (k is OpCodeOperandKind.imm8_const_1) ops[i] = 1;
            else if (name.StartsWith("imm", StringComparison.Ordinal))
            {
                int raw = (immediateChoices ?? DefaultImmediates)[form.Immediate];
                ops[i] = k switch
                {
                    OpCodeOperandKind.imm8 => (object)(int)(byte)raw,
                    OpCodeOperandKind.imm16 => (object)(int)(ushort)(raw * 0x101),
                    OpCodeOperandKind.imm32 or OpCodeOperandKind.imm32sex64 => (object)(raw * 0x01010101 ^ (raw < 0 ? 0 : 0x1234500)),
                    OpCodeOperandKind.imm64 => (object)((long)raw * 0x0101010101010101L ^ 0x1234_5678_0000),
                    _ => (object)raw,
                };
            }
            else throw new NotSupportedException($"operand kind {k} of {form.Code}");
        }
        return ops switch
        {
            [] => Instruction.Create(form.Code),
            [Register a] => Instruction.Create(form.Code, a),
            [MemoryOperand a] => Instruction.Create(form.Code, a),
            [Register a, Register b] => Instruction.Create(form.Code, a, b),
            [Register a, MemoryOperand b] => Instruction.Create(form.Code, a, b),
            [MemoryOperand a, Register b] => Instruction.Create(form.Code, a, b),
            [Register a, int b] => Instruction.Create(form.Code, a, b),
            [Register a, long b] => Instruction.Create(form.Code, a, b),
            [MemoryOperand a, int b] => Instruction.Create(form.Code, a, b),
            [Register a, Register b, int c] => Instruction.Create(form.Code, a, b, c),
            [Register a, MemoryOperand b, int c] => Instruction.Create(form.Code, a, b, c),
            [MemoryOperand a, Register b, int c] => Instruction.Create(form.Code, a, b, c),
            [Register a, Register b, Register c] => Instruction.Create(form.Code, a, b, c),
            [Register a, Register b, MemoryOperand c] => Instruction.Create(form.Code, a, b, c),
            [Register a, MemoryOperand b, Register c] => Instruction.Create(form.Code, a, b, c),
            [MemoryOperand a, Register b, Register c] => Instruction.Create(form.Code, a, b, c),
            _ => throw new NotSupportedException($"operands of {form.Code}"),
        };
    }

    private static MemoryOperand Memory(int variant) => variant switch
    {
        0 => new MemoryOperand(Register.RDI),
        2 => new MemoryOperand(Register.RDI, -3),
        _ => new MemoryOperand(Register.RDI, 0x10),
    };

    private static Register GprFor(char role, int size, int variant)
    {
        if (size == 1)
        {
            int pair = variant switch { 4 => 1, 5 => 2, _ => 0 };
            return role == 'A' ? A8[pair] : B8[pair];
        }
        Register r64 = role switch { 'A' => Register.RBX, 'B' => Register.RSI, _ => Register.R11 };
        int index = r64 - Register.RAX;
        return size switch { 2 => Register.AX + index, 4 => Register.EAX + index, _ => r64 };
    }

    /// <summary>Interesting values of an operand size (zero-extended), most of them edges.</summary>
    public static ulong[] EdgeValues(int size)
    {
        int bits = size * 8;
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        ulong min = 1UL << (bits - 1);
        return [0, 1, 2, mask, mask - 1, min - 1, min, min + 1, 0x80 & mask, 0x7F, 0xFF & mask, 0x5555_5555_5555_5555 & mask,
            0xAAAA_AAAA_AAAA_AAAA & mask, 0x8000_0000 & mask, 0xFFFF_FFFF & mask, 0x1_0000_0000 & mask, 0x10 & mask];
    }

    /// <summary>Pairs of operand values: edges against edges, then random values from <paramref name="random"/>.</summary>
    public static List<(ulong X, ulong Y)> Pairs(int size, Random random, int randomCount = 8)
    {
        ulong[] e = EdgeValues(size);
        ulong mask = size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
        var list = new List<(ulong, ulong)>();
        for (int i = 0; i < e.Length; i++)
        {
            list.Add((e[i], e[(i * 5 + 3) % e.Length]));
            if (i % 2 == 0) list.Add((e[i], e[(i * 3 + 1) % e.Length]));
            if (i % 3 == 0) list.Add((e[i], e[i]));
        }
        for (int i = 0; i < randomCount; i++) list.Add(((ulong)random.NextInt64() * 3 & mask, (ulong)random.NextInt64() * 5 & mask));
        return list;
    }

    /// <summary>Operand size in bytes of operand 0 of a code (1 for no operands).</summary>
    public static int OperandSize(Code code)
    {
        OpCodeInfo info = code.ToOpCode();
        if (info.OpCount == 0) return 8;
        string name = info.GetOpKind(0).ToString();
        if (name.StartsWith("r8", StringComparison.Ordinal) || name == "al") return 1;
        if (name.StartsWith("r16", StringComparison.Ordinal) || name == "ax") return 2;
        if (name.StartsWith("r32", StringComparison.Ordinal) || name == "eax") return 4;
        if (name.StartsWith("r64", StringComparison.Ordinal) || name == "rax") return 8;
        return info.OperandSize is 16 ? 2 : info.OperandSize is 32 ? 4 : 8;
    }

    /// <summary>
    /// An initial state for one run: random registers/data/flags; operand 0 = x and operand 1 = y (operand 2 = z
    /// if it is a register), each in its register (other bits random) or in memory; RDI points at the memory base.
    /// </summary>
    public static CpuSnapshot State(Instruction ins, Random random, ulong x, ulong y, ulong z = 0)
    {
        CpuSnapshot s = CpuSnapshot.CreateRandom(random);
        s.RFlags = ((ulong)random.Next() & (ulong)RFlags.Status) | 0x202;
        s[Gpr.Rdi] = MemoryBase;
        ulong[] values = [x, y, z];
        for (int i = ins.OpCount - 1; i >= 0; i--)
        {
            switch (ins.GetOpKind(i))
            {
                case OpKind.Register:
                    PlaceRegister(s, ins.GetOpRegister(i), values[i]);
                    break;
                case OpKind.Memory:
                    ulong address = ins.MemoryBase == Register.None ? ins.MemoryDisplacement64 : MemoryBase + ins.MemoryDisplacement64;
                    s.WriteData64((int)(address - TestMachine.DataBase), values[i]);
                    if (ins.MemorySize.GetSize() == 16) s.WriteData64((int)(address - TestMachine.DataBase) + 8, values[i] ^ 0x0F0F);
                    break;
            }
        }
        return s;
    }

    /// <summary>Puts <paramref name="value"/> into a register of any width, keeping the (random) other bits.</summary>
    public static void PlaceRegister(CpuSnapshot s, Register register, ulong value)
    {
        int index = Operands.GprIndex(register);
        int size = Operands.GprSize(register);
        ulong mask = size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
        int shift = register is >= Register.AH and <= Register.BH ? 8 : 0;
        s.Gpr[index] = (s.Gpr[index] & ~(mask << shift)) | ((value & mask) << shift);
    }
}
