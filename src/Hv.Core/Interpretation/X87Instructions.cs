using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Interpretation.Simd;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>
/// Interpreter handlers: x87 and MMX (and the SSE forms with MMX registers). They run on the host: the guest's
/// FXSAVE image is restored into the host FPU with every exception masked, the instruction executes, and the
/// image is saved back (see <see cref="SimdUnit"/>). x87 exceptions the guest unmasked are deferred as on
/// hardware: they set ES and fault at the next waiting instruction. FXSAVE/FXRSTOR of guest memory, FWAIT and
/// MASKMOVQ are done here in C#.
/// </summary>
internal static unsafe class X87Instructions
{
    private static readonly CpuidFeature[] Features =
    [
        CpuidFeature.FPU, CpuidFeature.FPU287, CpuidFeature.FPU387, CpuidFeature.MMX,
        CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.SSE3, CpuidFeature.SSSE3, CpuidFeature.SSE4_1, CpuidFeature.SSE4_2,
    ];

    /// <summary>Bytes 0..463 of an FXSAVE area; the processor leaves 464..511 to software.</summary>
    private const int FxsaveWritten = 464;

    /// <summary>x87 + XMM part of the image a guest FXRSTOR loads (the rest is reserved).</summary>
    private const int FxrstorLoaded = 416;

    public static void Register(HandlerRegistry r)
    {
        for (int i = 0; i < InstructionTable.CodeCount; i++)
        {
            var code = (Code)i;
            OpCodeInfo info = code.ToOpCode();
            if (!info.Mode64 || info.Encoding != EncodingKind.Legacy || !SseInstructions.HasOnly(code, Features)) continue;
            if (!ThunkBuilder.IsX87Kind(code)) continue;
            r.Add(code, &SseInstructions.Thunked);
        }
        r.Add(Code.Wait, &Fwait);
        r.Add(Code.Maskmovq_rDI_mm_mm, &Maskmovq);
        r.Add(Code.Fxsave_m512byte, &Fxsave);
        r.Add(Code.Fxsave64_m512byte, &Fxsave);
        r.Add(Code.Fxrstor_m512byte, &Fxrstor);
        r.Add(Code.Fxrstor64_m512byte, &Fxrstor);
    }

    /// <summary>Raises #MF if an unmasked x87 exception is pending (FSW.ES).</summary>
    private static void CheckPending(FpuState fpu)
    {
        if ((fpu.Fsw & 0x80) != 0) throw SimdUnit.X87Exception();
    }

    private static void Fwait(Vcpu cpu, ref Instruction ins) => CheckPending(cpu.State.Fpu);

    private static void Maskmovq(Vcpu cpu, ref Instruction ins)
    {
        FpuState fpu = cpu.State.Fpu;
        CheckPending(fpu);
        byte* image = fpu.Pointer;
        ulong data = *(ulong*)(image + FpuState.StOffset + 16 * (ins.Op1Register - Iced.Intel.Register.MM0));
        ulong mask = *(ulong*)(image + FpuState.StOffset + 16 * (ins.Op2Register - Iced.Intel.Register.MM0));
        ulong address = SseInstructions.MaskedStoreAddress(cpu, ref ins);
        bool any = (mask & 0x8080_8080_8080_8080UL) != 0;
        if (any) cpu.Memory.Probe(address, 8, AccessKind.Write);
        for (int i = 0; i < 8; i++)
            if (((mask >> (8 * i + 7)) & 1) != 0) cpu.Memory.Write8(address + (ulong)i, (byte)(data >> (8 * i)));
        // MMX instructions put the x87 unit in MMX state: TOP = 0, every register valid.
        fpu.Fsw &= 0xC7FF;
        image[FpuState.FtwOffset] = 0xFF;
    }

    private static ulong AlignedArea(Vcpu cpu, ref Instruction ins)
    {
        ulong address = Operands.EffectiveAddress(cpu, ref ins);
        if ((address & 15) != 0) throw SimdUnit.Misaligned(address);
        return address;
    }

    /// <summary>FXSAVE/FXSAVE64: the image is already in FXSAVE layout (FIP/FDP are kept zero).</summary>
    private static void Fxsave(Vcpu cpu, ref Instruction ins)
    {
        ulong address = AlignedArea(cpu, ref ins);
        FpuState fpu = cpu.State.Fpu;
        cpu.Memory.WriteBytes(address, fpu.Area[..FxsaveWritten]);
    }

    /// <summary>FXRSTOR/FXRSTOR64: loads x87, MXCSR and XMM state; reserved MXCSR bits raise #GP.</summary>
    private static void Fxrstor(Vcpu cpu, ref Instruction ins)
    {
        ulong address = AlignedArea(cpu, ref ins);
        Span<byte> area = stackalloc byte[FxrstorLoaded];
        cpu.Memory.ReadBytes(address, area);
        uint mxcsr = BitConverter.ToUInt32(area[FpuState.MxcsrOffset..]);
        if ((mxcsr & ~0xFFFFu) != 0)
            throw new GuestFaultException(new GuestFault(FaultKind.GeneralProtection, 0, AccessKind.Read, $"fxrstor with reserved MXCSR bits (0x{mxcsr:x})"));
        FpuState fpu = cpu.State.Fpu;
        area.CopyTo(fpu.Area);
        fpu.Area.Slice(6, 18).Clear(); // FOP/FIP/FDP are not modelled
        BitConverter.TryWriteBytes(fpu.Area[FpuState.MxcsrMaskOffset..], 0xFFFFu);
    }
}
