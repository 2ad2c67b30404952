using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Interpretation;
using Hv.Core.Interpretation.Simd;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Hv.Core.Tests.Simd.SimdHarness;

namespace Hv.Core.Tests.Simd;

public sealed class CoverageTests
{
    private static readonly CpuidFeature[] Supported =
    [
        CpuidFeature.FPU, CpuidFeature.FPU287, CpuidFeature.FPU387, CpuidFeature.MMX, CpuidFeature.FXSR,
        CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.SSE3, CpuidFeature.SSSE3, CpuidFeature.SSE4_1, CpuidFeature.SSE4_2,
    ];

    /// <summary>Every legacy x87/MMX/SSE..SSE4.2 code, in a register form and (where it has one) a memory form.</summary>
    private static List<Instruction> AllForms()
    {
        var list = new List<Instruction>();
        for (int c = 0; c < InstructionTable.CodeCount; c++)
        {
            var code = (Code)c;
            OpCodeInfo info = code.ToOpCode();
            if (!info.Mode64 || info.Encoding != EncodingKind.Legacy || !SseInstructions.HasOnly(code, Supported)) continue;
            // These load control state from memory (zeros would unmask every exception) or store through RDI.
            if (code.Mnemonic() is Mnemonic.Ldmxcsr or Mnemonic.Fldcw or Mnemonic.Fldenv or Mnemonic.Frstor or Mnemonic.Fxrstor
                or Mnemonic.Fxrstor64 or Mnemonic.Maskmovq or Mnemonic.Maskmovdqu) continue;
            foreach (bool memory in new[] { false, true })
                if (TryCreate(code, memory, out Instruction ins)) list.Add(ins);
        }
        return list;
    }

    private static bool TryCreate(Code code, bool memoryForm, out Instruction ins)
    {
        ins = default;
        ins.Code = code;
        OpCodeInfo info = code.ToOpCode();
        bool usedMemory = false;
        for (int i = 0; i < info.OpCount; i++)
        {
            OpCodeOperandKind k = info.GetOpKind(i);
            bool canMemory = k is OpCodeOperandKind.mem or OpCodeOperandKind.xmm_or_mem or OpCodeOperandKind.mm_or_mem
                or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r8_or_mem
                or OpCodeOperandKind.r32_reg_mem or OpCodeOperandKind.r64_reg_mem;
            if (k == OpCodeOperandKind.mem || (memoryForm && canMemory))
            {
                ins.SetOpKind(i, OpKind.Memory);
                ins.MemoryBase = Register.RSI;
                ins.MemoryDisplSize = 1;
                ins.MemoryDisplacement64 = 0x40;
                usedMemory = true;
                continue;
            }
            Register r = k switch
            {
                OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm or OpCodeOperandKind.xmm_or_mem => Register.XMM1 + i,
                OpCodeOperandKind.mm_reg or OpCodeOperandKind.mm_rm or OpCodeOperandKind.mm_or_mem => Register.MM1 + i,
                OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_rm or OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.r64_reg_mem => Register.RCX + i,
                OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_rm or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r32_reg_mem => Register.ECX + i,
                OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_rm or OpCodeOperandKind.r16_or_mem => Register.CX + i,
                OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_or_mem => Register.CL + i,
                OpCodeOperandKind.st0 => Register.ST0,
                OpCodeOperandKind.sti_opcode => Register.ST2,
                OpCodeOperandKind.ax => Register.AX,
                _ => Register.None,
            };
            if (k == OpCodeOperandKind.imm8)
            {
                ins.SetOpKind(i, OpKind.Immediate8);
                ins.Immediate8 = 0x1B;
                continue;
            }
            if (r == Register.None) return false;
            ins.SetOpKind(i, OpKind.Register);
            ins.SetOpRegister(i, r);
        }
        if (memoryForm && !usedMemory) return false;
        var encoder = Encoder.Create(64, new NullWriter());
        return encoder.TryEncode(ins, 0, out _, out _);
    }

    private sealed class NullWriter : CodeWriter
    {
        public override void WriteByte(byte value)
        {
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void EverySupportedCode_RunsOnTheHostWithoutFaulting(ExecutionMode mode)
    {
        List<Instruction> forms = AllForms();
        Assert.True(forms.Count > 700, $"only {forms.Count} forms");
        var m = Create(mode, a =>
        {
            var writer = new BytesWriter();
            var encoder = Encoder.Create(64, writer);
            foreach (Instruction ins in forms) encoder.Encode(ins, 0);
            a.db(writer.Bytes.ToArray());
        });
        for (int i = 0; i < 16; i++) SetXmm(m, i, 0x3FF0_0000_0000_0000UL + (ulong)i, 0x4000_0000_0000_0000UL);
        Write64(m, Data + 0x40, 0x3FF8_0000_0000_0000UL);
        m.State[Gpr.Rcx] = 3;
        m.State[Gpr.Rax] = 4;
        m.State[Gpr.Rdx] = 5;
        RunToHalt(m);
        Assert.InRange(m.Machine.Cpu.Simd.ThunkCount, 300, forms.Count);
    }

    private sealed class BytesWriter : CodeWriter
    {
        public List<byte> Bytes { get; } = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
