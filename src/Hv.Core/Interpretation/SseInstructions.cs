using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Interpretation.Simd;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>
/// Interpreter handlers: SSE through SSE4.2. The moves, logic ops and byte compares glibc's string functions live
/// on run in C#; everything else executes on the host through a generated thunk (<see cref="SimdUnit"/>), which
/// makes results, MXCSR flags and rounding bit-exact by construction.
/// </summary>
internal static unsafe class SseInstructions
{
    private static readonly CpuidFeature[] Features =
        [CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.SSE3, CpuidFeature.SSSE3, CpuidFeature.SSE4_1, CpuidFeature.SSE4_2];

    public static void Register(HandlerRegistry r)
    {
        // Every legacy SSE..SSE4.2 code without an MMX register goes to the host thunk by default.
        for (int i = 0; i < InstructionTable.CodeCount; i++)
        {
            var code = (Code)i;
            OpCodeInfo info = code.ToOpCode();
            if (!info.Mode64 || info.Encoding != EncodingKind.Legacy || !HasOnly(code, Features)) continue;
            if (ThunkBuilder.IsX87Kind(code)) continue; // MMX-register forms: X87Instructions
            r.Add(code, &Thunked);
        }

        foreach (Mnemonic m in (ReadOnlySpan<Mnemonic>)[Mnemonic.Prefetchnta, Mnemonic.Prefetcht0, Mnemonic.Prefetcht1, Mnemonic.Prefetcht2,
            Mnemonic.Sfence, Mnemonic.Lfence, Mnemonic.Mfence])
            r.Add(m, &NoOperation);
        r.Add(Code.Ldmxcsr_m32, &Ldmxcsr);
        r.Add(Code.Stmxcsr_m32, &Stmxcsr);
        r.Add(Code.Maskmovdqu_rDI_xmm_xmm, &Maskmovdqu);
        r.Add(Mnemonic.Crc32, &Crc32);

        // Fast paths: moves.
        foreach (Code c in (ReadOnlySpan<Code>)[Code.Movaps_xmm_xmmm128, Code.Movaps_xmmm128_xmm, Code.Movapd_xmm_xmmm128, Code.Movapd_xmmm128_xmm,
            Code.Movdqa_xmm_xmmm128, Code.Movdqa_xmmm128_xmm, Code.Movntps_m128_xmm, Code.Movntpd_m128_xmm, Code.Movntdq_m128_xmm,
            Code.Movntdqa_xmm_m128])
            r.Add(c, &MoveAligned);
        foreach (Code c in (ReadOnlySpan<Code>)[Code.Movups_xmm_xmmm128, Code.Movups_xmmm128_xmm, Code.Movupd_xmm_xmmm128, Code.Movupd_xmmm128_xmm,
            Code.Movdqu_xmm_xmmm128, Code.Movdqu_xmmm128_xmm, Code.Lddqu_xmm_m128])
            r.Add(c, &MoveUnaligned);
        r.Add(Code.Movd_xmm_rm32, &MovdToXmm);
        r.Add(Code.Movq_xmm_rm64, &MovqToXmm);
        r.Add(Code.Movd_rm32_xmm, &MovdFromXmm);
        r.Add(Code.Movq_rm64_xmm, &MovqFromXmm);
        r.Add(Code.Movq_xmm_xmmm64, &MovqXmm);
        r.Add(Code.Movq_xmmm64_xmm, &MovqXmm);
        r.Add(Code.Movss_xmm_xmmm32, &Movss);
        r.Add(Code.Movss_xmmm32_xmm, &Movss);
        r.Add(Code.Movsd_xmm_xmmm64, &Movsd);
        r.Add(Code.Movsd_xmmm64_xmm, &Movsd);
        r.Add(Code.Movlps_xmm_m64, &MovLowLoad);
        r.Add(Code.Movlpd_xmm_m64, &MovLowLoad);
        r.Add(Code.Movhps_xmm_m64, &MovHighLoad);
        r.Add(Code.Movhpd_xmm_m64, &MovHighLoad);
        r.Add(Code.Movlps_m64_xmm, &MovLowStore);
        r.Add(Code.Movlpd_m64_xmm, &MovLowStore);
        r.Add(Code.Movhps_m64_xmm, &MovHighStore);
        r.Add(Code.Movhpd_m64_xmm, &MovHighStore);
        r.Add(Code.Movhlps_xmm_xmm, &Movhlps);
        r.Add(Code.Movlhps_xmm_xmm, &Movlhps);

        // Fast paths: integer/logic ops that cannot raise exceptions.
        foreach (Code c in (ReadOnlySpan<Code>)[Code.Pxor_xmm_xmmm128, Code.Xorps_xmm_xmmm128, Code.Xorpd_xmm_xmmm128]) r.Add(c, &Xor);
        foreach (Code c in (ReadOnlySpan<Code>)[Code.Por_xmm_xmmm128, Code.Orps_xmm_xmmm128, Code.Orpd_xmm_xmmm128]) r.Add(c, &Or);
        foreach (Code c in (ReadOnlySpan<Code>)[Code.Pand_xmm_xmmm128, Code.Andps_xmm_xmmm128, Code.Andpd_xmm_xmmm128]) r.Add(c, &And);
        foreach (Code c in (ReadOnlySpan<Code>)[Code.Pandn_xmm_xmmm128, Code.Andnps_xmm_xmmm128, Code.Andnpd_xmm_xmmm128]) r.Add(c, &AndNot);
        r.Add(Code.Pcmpeqb_xmm_xmmm128, &Pcmpeqb);
        r.Add(Code.Pcmpeqw_xmm_xmmm128, &Pcmpeqw);
        r.Add(Code.Pcmpeqd_xmm_xmmm128, &Pcmpeqd);
        r.Add(Code.Pcmpgtb_xmm_xmmm128, &Pcmpgtb);
        r.Add(Code.Pminub_xmm_xmmm128, &Pminub);
        r.Add(Code.Pmaxub_xmm_xmmm128, &Pmaxub);
        r.Add(Code.Psubb_xmm_xmmm128, &Psubb);
        r.Add(Code.Paddb_xmm_xmmm128, &Paddb);
        r.Add(Code.Paddd_xmm_xmmm128, &Paddd);
        r.Add(Code.Paddq_xmm_xmmm128, &Paddq);
        r.Add(Code.Psubd_xmm_xmmm128, &Psubd);
        r.Add(Code.Psubq_xmm_xmmm128, &Psubq);
        r.Add(Code.Pmovmskb_r32_xmm, &Pmovmskb);
        r.Add(Code.Pmovmskb_r64_xmm, &Pmovmskb);
        r.Add(Code.Movmskps_r32_xmm, &Movmskps);
        r.Add(Code.Movmskps_r64_xmm, &Movmskps);
        r.Add(Code.Movmskpd_r32_xmm, &Movmskpd);
        r.Add(Code.Movmskpd_r64_xmm, &Movmskpd);
        r.Add(Code.Pshufd_xmm_xmmm128_imm8, &Pshufd);
        r.Add(Code.Punpcklbw_xmm_xmmm128, &Punpcklbw);
        r.Add(Code.Punpcklwd_xmm_xmmm128, &Punpcklwd);
        r.Add(Code.Punpckldq_xmm_xmmm128, &Punpckldq);
        r.Add(Code.Punpcklqdq_xmm_xmmm128, &Punpcklqdq);
        r.Add(Code.Punpckhbw_xmm_xmmm128, &Punpckhbw);
        r.Add(Code.Punpckhqdq_xmm_xmmm128, &Punpckhqdq);
        r.Add(Code.Pslldq_xmm_imm8, &Pslldq);
        r.Add(Code.Psrldq_xmm_imm8, &Psrldq);
        r.Add(Code.Pshufb_xmm_xmmm128, &Pshufb);
        r.Add(Code.Palignr_xmm_xmmm128_imm8, &Palignr);
    }

    /// <summary>True if the code needs at least one of <paramref name="allowed"/> and nothing outside it (CMOV aside).</summary>
    internal static bool HasOnly(Code code, ReadOnlySpan<CpuidFeature> allowed)
    {
        bool any = false;
        foreach (CpuidFeature f in code.CpuidFeatures())
        {
            if (allowed.IndexOf(f) >= 0) any = true;
            else if (f != CpuidFeature.CMOV) return false;
        }
        return any;
    }

    /// <summary>Runs the instruction on the host through its thunk.</summary>
    internal static void Thunked(Vcpu cpu, ref Instruction ins) => cpu.Simd.Execute(cpu, ref ins);

    private static void NoOperation(Vcpu cpu, ref Instruction ins)
    {
    }

    // ---- operand helpers ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref Vector128<byte> Xmm(Vcpu cpu, ref Instruction ins, int op) =>
        ref cpu.State.Fpu.Xmm(ins.GetOpRegister(op) - Iced.Intel.Register.XMM0);

    /// <summary>A 128-bit source operand; memory operands must be 16-byte aligned when <paramref name="aligned"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Source128(Vcpu cpu, ref Instruction ins, int op, bool aligned = true)
    {
        if (ins.GetOpKind(op) == OpKind.Register) return Xmm(cpu, ref ins, op);
        ulong address = Operands.EffectiveAddress(cpu, ref ins);
        if (aligned && (address & 15) != 0) throw SimdUnit.Misaligned(address);
        return cpu.Memory.Read128(address);
    }

    /// <summary>A 64-bit source operand (low half of an XMM register or memory).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Source64(Vcpu cpu, ref Instruction ins, int op) => ins.GetOpKind(op) == OpKind.Register
        ? Xmm(cpu, ref ins, op).AsUInt64().ToScalar()
        : cpu.Memory.Read64(Operands.EffectiveAddress(cpu, ref ins));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store128(Vcpu cpu, ref Instruction ins, Vector128<byte> value, bool aligned)
    {
        if (ins.Op0Kind == OpKind.Register)
        {
            Xmm(cpu, ref ins, 0) = value;
            return;
        }
        ulong address = Operands.EffectiveAddress(cpu, ref ins);
        if (aligned && (address & 15) != 0) throw SimdUnit.Misaligned(address);
        cpu.Memory.Write128(address, value);
    }

    // ---- moves ----

    private static void MoveAligned(Vcpu cpu, ref Instruction ins) => Store128(cpu, ref ins, Source128(cpu, ref ins, 1), aligned: true);

    private static void MoveUnaligned(Vcpu cpu, ref Instruction ins) =>
        Store128(cpu, ref ins, Source128(cpu, ref ins, 1, aligned: false), aligned: false);

    private static void MovdToXmm(Vcpu cpu, ref Instruction ins) =>
        Xmm(cpu, ref ins, 0) = Vector128.CreateScalar((uint)Operands.Read(cpu, ref ins, 1, 4)).AsByte();

    private static void MovqToXmm(Vcpu cpu, ref Instruction ins) =>
        Xmm(cpu, ref ins, 0) = Vector128.CreateScalar(Operands.Read(cpu, ref ins, 1, 8)).AsByte();

    private static void MovdFromXmm(Vcpu cpu, ref Instruction ins) =>
        Operands.Write(cpu, ref ins, 0, 4, Xmm(cpu, ref ins, 1).AsUInt32().ToScalar());

    private static void MovqFromXmm(Vcpu cpu, ref Instruction ins) =>
        Operands.Write(cpu, ref ins, 0, 8, Xmm(cpu, ref ins, 1).AsUInt64().ToScalar());

    /// <summary>MOVQ xmm, xmm/m64 and MOVQ xmm/m64, xmm: a register destination gets its upper half zeroed.</summary>
    private static void MovqXmm(Vcpu cpu, ref Instruction ins)
    {
        ulong value = Source64(cpu, ref ins, 1);
        if (ins.Op0Kind == OpKind.Register) Xmm(cpu, ref ins, 0) = Vector128.CreateScalar(value).AsByte();
        else cpu.Memory.Write64(Operands.EffectiveAddress(cpu, ref ins), value);
    }

    /// <summary>MOVSS: register to register merges the low dword; a load zeroes the rest; a store writes 4 bytes.</summary>
    private static void Movss(Vcpu cpu, ref Instruction ins)
    {
        if (ins.Op0Kind == OpKind.Memory)
        {
            cpu.Memory.Write32(Operands.EffectiveAddress(cpu, ref ins), Xmm(cpu, ref ins, 1).AsUInt32().ToScalar());
        }
        else if (ins.Op1Kind == OpKind.Memory)
        {
            Xmm(cpu, ref ins, 0) = Vector128.CreateScalar(cpu.Memory.Read32(Operands.EffectiveAddress(cpu, ref ins))).AsByte();
        }
        else
        {
            ref Vector128<byte> d = ref Xmm(cpu, ref ins, 0);
            d = d.AsUInt32().WithElement(0, Xmm(cpu, ref ins, 1).AsUInt32().ToScalar()).AsByte();
        }
    }

    /// <summary>MOVSD (SSE2): like MOVSS with a qword.</summary>
    private static void Movsd(Vcpu cpu, ref Instruction ins)
    {
        if (ins.Op0Kind == OpKind.Memory)
        {
            cpu.Memory.Write64(Operands.EffectiveAddress(cpu, ref ins), Xmm(cpu, ref ins, 1).AsUInt64().ToScalar());
        }
        else if (ins.Op1Kind == OpKind.Memory)
        {
            Xmm(cpu, ref ins, 0) = Vector128.CreateScalar(cpu.Memory.Read64(Operands.EffectiveAddress(cpu, ref ins))).AsByte();
        }
        else
        {
            ref Vector128<byte> d = ref Xmm(cpu, ref ins, 0);
            d = d.AsUInt64().WithElement(0, Xmm(cpu, ref ins, 1).AsUInt64().ToScalar()).AsByte();
        }
    }

    private static void MovLowLoad(Vcpu cpu, ref Instruction ins)
    {
        ulong value = cpu.Memory.Read64(Operands.EffectiveAddress(cpu, ref ins));
        ref Vector128<byte> d = ref Xmm(cpu, ref ins, 0);
        d = d.AsUInt64().WithElement(0, value).AsByte();
    }

    private static void MovHighLoad(Vcpu cpu, ref Instruction ins)
    {
        ulong value = cpu.Memory.Read64(Operands.EffectiveAddress(cpu, ref ins));
        ref Vector128<byte> d = ref Xmm(cpu, ref ins, 0);
        d = d.AsUInt64().WithElement(1, value).AsByte();
    }

    private static void MovLowStore(Vcpu cpu, ref Instruction ins) =>
        cpu.Memory.Write64(Operands.EffectiveAddress(cpu, ref ins), Xmm(cpu, ref ins, 1).AsUInt64().ToScalar());

    private static void MovHighStore(Vcpu cpu, ref Instruction ins) =>
        cpu.Memory.Write64(Operands.EffectiveAddress(cpu, ref ins), Xmm(cpu, ref ins, 1).AsUInt64().GetElement(1));

    private static void Movhlps(Vcpu cpu, ref Instruction ins)
    {
        ulong high = Xmm(cpu, ref ins, 1).AsUInt64().GetElement(1);
        ref Vector128<byte> d = ref Xmm(cpu, ref ins, 0);
        d = d.AsUInt64().WithElement(0, high).AsByte();
    }

    private static void Movlhps(Vcpu cpu, ref Instruction ins)
    {
        ulong low = Xmm(cpu, ref ins, 1).AsUInt64().ToScalar();
        ref Vector128<byte> d = ref Xmm(cpu, ref ins, 0);
        d = d.AsUInt64().WithElement(1, low).AsByte();
    }

    // ---- integer and logic ops: dest = op(dest, src) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref Vector128<byte> Binary(Vcpu cpu, ref Instruction ins, out Vector128<byte> source)
    {
        source = Source128(cpu, ref ins, 1);
        return ref Xmm(cpu, ref ins, 0);
    }

    private static void Xor(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d ^= s;
    }

    private static void Or(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d |= s;
    }

    private static void And(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d &= s;
    }

    private static void AndNot(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = ~d & s;
    }

    private static void Pcmpeqb(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Vector128.Equals(d, s);
    }

    private static void Pcmpeqw(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Vector128.Equals(d.AsUInt16(), s.AsUInt16()).AsByte();
    }

    private static void Pcmpeqd(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Vector128.Equals(d.AsUInt32(), s.AsUInt32()).AsByte();
    }

    private static void Pcmpgtb(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Vector128.GreaterThan(d.AsSByte(), s.AsSByte()).AsByte();
    }

    private static void Pminub(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Vector128.Min(d, s);
    }

    private static void Pmaxub(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Vector128.Max(d, s);
    }

    private static void Psubb(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d -= s;
    }

    private static void Paddb(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d += s;
    }

    private static void Paddd(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = (d.AsUInt32() + s.AsUInt32()).AsByte();
    }

    private static void Paddq(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = (d.AsUInt64() + s.AsUInt64()).AsByte();
    }

    private static void Psubd(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = (d.AsUInt32() - s.AsUInt32()).AsByte();
    }

    private static void Psubq(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = (d.AsUInt64() - s.AsUInt64()).AsByte();
    }

    private static void Punpcklbw(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Sse2.UnpackLow(d, s);
    }

    private static void Punpcklwd(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Sse2.UnpackLow(d.AsUInt16(), s.AsUInt16()).AsByte();
    }

    private static void Punpckldq(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Sse2.UnpackLow(d.AsUInt32(), s.AsUInt32()).AsByte();
    }

    private static void Punpcklqdq(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Sse2.UnpackLow(d.AsUInt64(), s.AsUInt64()).AsByte();
    }

    private static void Punpckhbw(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Sse2.UnpackHigh(d, s);
    }

    private static void Punpckhqdq(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Sse2.UnpackHigh(d.AsUInt64(), s.AsUInt64()).AsByte();
    }

    private static void Pshufb(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        d = Ssse3.Shuffle(d, s);
    }

    private static void Pshufd(Vcpu cpu, ref Instruction ins)
    {
        Vector128<uint> s = Source128(cpu, ref ins, 1).AsUInt32();
        uint imm = ins.Immediate8;
        Xmm(cpu, ref ins, 0) = Vector128.Create(
            s.GetElement((int)(imm & 3)), s.GetElement((int)((imm >> 2) & 3)),
            s.GetElement((int)((imm >> 4) & 3)), s.GetElement((int)(imm >> 6))).AsByte();
    }

    /// <summary>Byte-index table for a whole-register byte shift: index i selects byte i-n (or zero when out of range).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> ShiftIndices(int shift) =>
        Vector128.Create((byte)0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) + Vector128.Create((byte)(-shift));

    private static void Pslldq(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Xmm(cpu, ref ins, 0);
        int n = ins.Immediate8;
        // Out-of-range indices have bit 7 set (wrapped below zero), which PSHUFB turns into zero bytes.
        d = n > 15 ? Vector128<byte>.Zero : Ssse3.Shuffle(d, ShiftIndices(n));
    }

    private static void Psrldq(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Xmm(cpu, ref ins, 0);
        int n = ins.Immediate8;
        if (n > 15)
        {
            d = Vector128<byte>.Zero;
            return;
        }
        // Index i selects byte i+n; indices past 15 must become zero, so set bit 7 for them.
        Vector128<byte> idx = ShiftIndices(-n);
        Vector128<byte> over = Vector128.GreaterThan(idx, Vector128.Create((byte)15));
        d = Ssse3.Shuffle(d, idx | (over & Vector128.Create((byte)0x80)));
    }

    private static void Palignr(Vcpu cpu, ref Instruction ins)
    {
        ref Vector128<byte> d = ref Binary(cpu, ref ins, out Vector128<byte> s);
        int n = ins.Immediate8;
        // The 32-byte value dest:src shifted right by n bytes; low 16 bytes kept.
        Span<byte> both = stackalloc byte[64];
        both.Clear();
        s.CopyTo(both);
        d.CopyTo(both[16..]);
        d = n >= 32 ? Vector128<byte>.Zero : Vector128.Create((ReadOnlySpan<byte>)both.Slice(n, 16));
    }

    private static void Pmovmskb(Vcpu cpu, ref Instruction ins) =>
        Operands.WriteGpr(cpu.State, ins.Op0Register, Xmm(cpu, ref ins, 1).ExtractMostSignificantBits());

    private static void Movmskps(Vcpu cpu, ref Instruction ins) =>
        Operands.WriteGpr(cpu.State, ins.Op0Register, Xmm(cpu, ref ins, 1).AsUInt32().ExtractMostSignificantBits());

    private static void Movmskpd(Vcpu cpu, ref Instruction ins) =>
        Operands.WriteGpr(cpu.State, ins.Op0Register, Xmm(cpu, ref ins, 1).AsUInt64().ExtractMostSignificantBits());

    /// <summary>CRC32 (SSE4.2, integer): done with the host intrinsic; the source may be AH..BH.</summary>
    private static void Crc32(Vcpu cpu, ref Instruction ins)
    {
        int size = Operands.Size(ref ins, 1);
        ulong data = Operands.Read(cpu, ref ins, 1, size);
        CpuState s = cpu.State;
        uint crc = (uint)Operands.ReadGpr(s, ins.Op0Register);
        crc = size switch
        {
            1 => Sse42.Crc32(crc, (byte)data),
            2 => Sse42.Crc32(crc, (ushort)data),
            4 => Sse42.Crc32(crc, (uint)data),
            _ => (uint)Sse42.X64.Crc32(crc, data),
        };
        Operands.WriteGpr(s, ins.Op0Register.GetFullRegister(), crc); // zero-extended to 64 bits in both forms
    }

    // ---- MXCSR and masked stores ----

    private static void Ldmxcsr(Vcpu cpu, ref Instruction ins)
    {
        uint value = cpu.Memory.Read32(Operands.EffectiveAddress(cpu, ref ins));
        if ((value & ~0xFFFFu) != 0)
            throw new GuestFaultException(new GuestFault(FaultKind.GeneralProtection, 0, AccessKind.Read, $"ldmxcsr with reserved bits set (0x{value:x})"));
        cpu.State.Fpu.Mxcsr = value;
    }

    private static void Stmxcsr(Vcpu cpu, ref Instruction ins) =>
        cpu.Memory.Write32(Operands.EffectiveAddress(cpu, ref ins), cpu.State.Fpu.Mxcsr);

    /// <summary>The DS:RDI (or EDI) address of MASKMOVDQU/MASKMOVQ.</summary>
    internal static ulong MaskedStoreAddress(Vcpu cpu, ref Instruction ins)
    {
        CpuState s = cpu.State;
        ulong address = s[Gpr.Rdi];
        if (ins.Op0Kind == OpKind.MemorySegEDI) address = (uint)address;
        if (ins.SegmentPrefix == Iced.Intel.Register.FS) address += s.FsBase;
        else if (ins.SegmentPrefix == Iced.Intel.Register.GS) address += s.GsBase;
        return address;
    }

    private static void Maskmovdqu(Vcpu cpu, ref Instruction ins)
    {
        Vector128<byte> data = Xmm(cpu, ref ins, 1);
        uint mask = Xmm(cpu, ref ins, 2).ExtractMostSignificantBits();
        if (mask == 0) return;
        ulong address = MaskedStoreAddress(cpu, ref ins);
        cpu.Memory.Probe(address, 16, AccessKind.Write);
        for (int i = 0; i < 16; i++)
            if ((mask & (1u << i)) != 0) cpu.Memory.Write8(address + (ulong)i, data.GetElement(i));
    }
}
