using Hv.Core.Cpu;
using Hv.Core.Tests.Support;
using Iced.Intel;

namespace Hv.Core.Tests.Interpretation;

/// <summary>
/// Random straight-line sequences of flag producers and consumers (ADC after INC, SETcc after NEG, LAHF after
/// SUB…) against the host: exercises the lazy-flag hand-offs between instructions, not just single instructions.
/// Only instructions whose flags are fully defined are used, so every flag can be compared.
/// </summary>
public sealed class IntegerSequenceTests
{
    private static readonly string[] Binary = ["Add", "Adc", "Sub", "Sbb", "And", "Or", "Xor", "Cmp", "Test"];
    private static readonly string[] Unary = ["Inc", "Dec", "Neg", "Not"];
    private static readonly string[] Rotates = ["Rol", "Ror", "Rcl", "Rcr"];
    private static readonly string[] Conditions = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
    private static readonly Register[] Pool64 =
        [Register.RAX, Register.RBX, Register.RCX, Register.RDX, Register.RSI, Register.RBP, Register.R8, Register.R9, Register.R12, Register.R15];

    private static Register Sized(Register r64, int bits)
    {
        int i = r64 - Register.RAX;
        return bits switch
        {
            64 => r64,
            32 => Register.EAX + i,
            16 => Register.AX + i,
            _ => i < 4 ? Register.AL + i : Register.SPL + (i - 4),
        };
    }

    private static Instruction RandomInstruction(Random r)
    {
        int bits = (int)(8u << r.Next(4));
        Register a = Sized(Pool64[r.Next(Pool64.Length)], bits);
        Register b = Sized(Pool64[r.Next(Pool64.Length)], bits);
        switch (r.Next(9))
        {
            case 0 or 1 or 2:
                return Instruction.Create(Enum.Parse<Code>($"{Binary[r.Next(Binary.Length)]}_rm{bits}_r{bits}"), a, b);
            case 3:
            {
                string op = Binary[r.Next(Binary.Length)];
                return bits == 8
                    ? Instruction.Create(Enum.Parse<Code>($"{op}_rm8_imm8"), a, r.Next(256))
                    : op == "Test"
                        ? Instruction.Create(Enum.Parse<Code>($"Test_rm{bits}_imm{Math.Min(bits, 32)}"), a, r.Next(-128, 128) & (bits == 16 ? 0xFFFF : -1))
                        : Instruction.Create(Enum.Parse<Code>($"{op}_rm{bits}_imm8"), a, r.Next(-128, 128));
            }
            case 4:
                return Instruction.Create(Enum.Parse<Code>($"{Unary[r.Next(Unary.Length)]}_rm{bits}"), a);
            case 5:
                return Instruction.Create(Enum.Parse<Code>($"{Rotates[r.Next(Rotates.Length)]}_rm{bits}_1"), a, 1);
            case 6:
                return Instruction.Create(Enum.Parse<Code>($"Set{Conditions[r.Next(16)]}_rm8"), Sized(a.GetFullRegister(), 8));
            case 7:
                return bits == 8
                    ? Instruction.Create(Code.Movzx_r32_rm8, Sized(a.GetFullRegister(), 32), b)
                    : Instruction.Create(Enum.Parse<Code>($"Cmov{Conditions[r.Next(16)]}_r{bits}_rm{bits}"), a, b);
            default:
                return Instruction.Create((Code)(r.Next(5) switch
                {
                    0 => Code.Clc, 1 => Code.Stc, 2 => Code.Cmc, 3 => Code.Lahf, _ => Code.Sahf,
                }));
        }
    }

    public static TheoryData<ExecutionMode, int> Sequences
    {
        get
        {
            var data = new TheoryData<ExecutionMode, int>();
            foreach (ExecutionMode mode in (ExecutionMode[])[ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered])
                for (int seed = 0; seed < 100; seed++)
                    data.Add(mode, seed);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Sequences))]
    public void RandomSequence_FlagHandOffs_MatchHost(ExecutionMode mode, int seed)
    {
        var r = new Random(seed * 7919 + 1);
        var code = new Instruction[12];
        for (int i = 0; i < code.Length; i++) code[i] = RandomInstruction(r);
        using var oracle = new OracleCase(mode, a =>
        {
            foreach (Instruction ins in code) a.AddInstruction(ins);
        });
        for (int run = 0; run < 8; run++)
        {
            CpuSnapshot s = CpuSnapshot.CreateRandom(r);
            s.RFlags = ((ulong)r.Next() & (ulong)RFlags.Status) | 0x202;
            // Edge values in some registers make carries, overflows and zero results likely.
            ulong[] edges = IntegerOracle.EdgeValues(8);
            for (int i = 0; i < 16; i++)
                if (i != (int)Gpr.Rsp && r.Next(2) == 0) s.Gpr[i] = edges[r.Next(edges.Length)] >> (r.Next(4) * 8 * r.Next(2));
            oracle.Run(s).AssertSame(0, $"seed {seed} run {run}");
        }
    }
}
