using System.Runtime.Intrinsics;
using Hv.Core.Cpu;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Simd;

/// <summary>SSE snippets run natively and under Hv from the same random states, under every MXCSR rounding mode.</summary>
public sealed class SseOracleTests
{
    private static readonly (string Name, Action<Assembler> Code)[] Cases =
    [
        // Fast paths.
        ("movaps/movups", a => { a.movaps(xmm1, __xmmword_ptr[rsi + 0x10]); a.movups(xmm2, __xmmword_ptr[rsi + 0x23]); a.movups(__xmmword_ptr[rsi + 0x31], xmm3); a.movdqa(__xmmword_ptr[rsi + 0x60], xmm4); }),
        ("movd/movq gpr", a => { a.movd(xmm1, eax); a.movq(xmm2, r9); a.movd(ebx, xmm3); a.movq(r10, xmm4); a.movd(xmm5, __dword_ptr[rsi + 4]); a.movq(__qword_ptr[rsi + 8], xmm6); a.movd(__dword_ptr[rsi + 0x14], xmm7); }),
        ("movq xmm", a => { a.movq(xmm1, xmm2); a.movq(xmm3, __qword_ptr[rsi + 0x18]); a.movq(__qword_ptr[rsi + 0x28], xmm4); }),
        ("movss/movsd", a => { a.movss(xmm1, xmm2); a.movsd(xmm3, xmm4); a.movss(xmm5, __dword_ptr[rsi + 4]); a.movsd(xmm6, __qword_ptr[rsi + 8]); a.movss(__dword_ptr[rsi + 0x40], xmm7); a.movsd(__qword_ptr[rsi + 0x48], xmm8); }),
        ("movlps/movhps", a => { a.movlps(xmm1, __qword_ptr[rsi + 8]); a.movhps(xmm2, __qword_ptr[rsi + 0x10]); a.movlpd(xmm3, __qword_ptr[rsi + 0x18]); a.movhpd(xmm4, __qword_ptr[rsi + 0x20]); a.movlps(__qword_ptr[rsi + 0x40], xmm5); a.movhps(__qword_ptr[rsi + 0x48], xmm6); a.movhlps(xmm7, xmm8); a.movlhps(xmm9, xmm10); }),
        ("logic", a => { a.pxor(xmm1, xmm2); a.xorps(xmm3, __xmmword_ptr[rsi + 0x10]); a.por(xmm4, xmm5); a.pand(xmm6, xmm7); a.pandn(xmm8, xmm9); a.andnps(xmm10, __xmmword_ptr[rsi + 0x20]); a.orpd(xmm11, xmm12); a.andpd(xmm13, xmm14); }),
        ("compare bytes", a => { a.pcmpeqb(xmm1, xmm2); a.pcmpeqw(xmm3, __xmmword_ptr[rsi + 0x10]); a.pcmpeqd(xmm4, xmm4); a.pcmpgtb(xmm5, xmm6); a.pminub(xmm7, xmm8); a.pmaxub(xmm9, __xmmword_ptr[rsi]); }),
        ("add/sub", a => { a.psubb(xmm1, xmm2); a.paddb(xmm3, xmm4); a.paddd(xmm5, xmm6); a.paddq(xmm7, __xmmword_ptr[rsi + 0x30]); a.psubd(xmm8, xmm9); a.psubq(xmm10, xmm11); }),
        ("masks", a => { a.pmovmskb(eax, xmm1); a.pmovmskb(r11, xmm2); a.movmskps(ecx, xmm3); a.movmskpd(rdx, xmm4); }),
        ("shuffles", a => { a.pshufd(xmm1, xmm2, 0x1B); a.pshufd(xmm3, __xmmword_ptr[rsi + 0x10], 0xE4); a.pshufd(xmm4, xmm4, 0x00); a.pshufb(xmm5, xmm6); a.pshufb(xmm7, __xmmword_ptr[rsi + 0x20]); }),
        ("unpack", a => { a.punpcklbw(xmm1, xmm2); a.punpcklwd(xmm3, xmm4); a.punpckldq(xmm5, __xmmword_ptr[rsi]); a.punpcklqdq(xmm6, xmm7); a.punpckhbw(xmm8, xmm9); a.punpckhqdq(xmm10, xmm10); }),
        ("byte shifts", a => { a.pslldq(xmm1, 1); a.pslldq(xmm2, 15); a.pslldq(xmm3, 16); a.psrldq(xmm4, 1); a.psrldq(xmm5, 9); a.psrldq(xmm6, 200); a.pslldq(xmm7, 0); }),
        ("palignr", a => { a.palignr(xmm1, xmm2, 0); a.palignr(xmm3, xmm4, 5); a.palignr(xmm5, xmm6, 16); a.palignr(xmm7, __xmmword_ptr[rsi + 0x10], 20); a.palignr(xmm8, xmm9, 31); a.palignr(xmm10, xmm11, 32); }),
        ("crc32", a => { a.crc32(eax, bl); a.crc32(ecx, ah); a.crc32(edx, __word_ptr[rsi + 2]); a.crc32(r8d, r9d); a.crc32(r10, r11); a.crc32(r12, __byte_ptr[rsi + 7]); }),
        // Thunked: floating point (rounding modes, NaN rules), conversions, flags, implicit registers.
        ("scalar double", a => { a.addsd(xmm1, xmm2); a.subsd(xmm3, __qword_ptr[rsi + 8]); a.mulsd(xmm4, xmm5); a.divsd(xmm6, xmm7); a.sqrtsd(xmm8, xmm9); a.minsd(xmm10, xmm11); a.maxsd(xmm12, xmm13); }),
        ("packed single", a => { a.addps(xmm1, xmm2); a.mulps(xmm3, __xmmword_ptr[rsi + 0x10]); a.divps(xmm4, xmm5); a.sqrtps(xmm6, xmm7); a.minps(xmm8, xmm9); a.maxps(xmm10, xmm11); a.rcpps(xmm12, xmm13); a.rsqrtss(xmm14, xmm15); }),
        ("convert", a => { a.cvtsd2si(rax, xmm1); a.cvttsd2si(ecx, xmm2); a.cvtss2si(edx, __dword_ptr[rsi + 4]); a.cvttss2si(r8, xmm3); a.cvtsi2sd(xmm4, rbx); a.cvtsi2ss(xmm5, r9d); a.cvtsd2ss(xmm6, xmm7); a.cvtss2sd(xmm8, xmm9); a.cvtps2pd(xmm10, xmm11); a.cvtpd2ps(xmm12, xmm13); a.cvtdq2ps(xmm14, xmm15); a.cvtps2dq(xmm0, xmm1); a.cvttpd2dq(xmm2, __xmmword_ptr[rsi + 0x10]); }),
        ("compare float", a => { a.cmpsd(xmm1, xmm2, 1); a.cmpps(xmm3, __xmmword_ptr[rsi], 3); a.cmppd(xmm4, xmm5, 4); }),
        ("comisd", a => { a.comisd(xmm1, xmm2); }),
        ("ucomiss", a => { a.ucomiss(xmm3, __dword_ptr[rsi + 4]); }),
        ("ptest", a => { a.ptest(xmm1, xmm2); }),
        ("round", a => { a.roundsd(xmm1, xmm2, 4); a.roundps(xmm3, xmm4, 1); a.roundpd(xmm5, __xmmword_ptr[rsi + 0x20], 0x0B); }),
        ("integer misc", a => { a.pshuflw(xmm1, xmm2, 0x93); a.pshufhw(xmm3, xmm3, 0x4E); a.pextrw(eax, xmm4, 3); a.pinsrb(xmm5, __byte_ptr[rsi + 3], 9); a.pinsrd(xmm6, ecx, 2); a.pextrq(rdx, xmm7, 1); a.pmuludq(xmm8, xmm9); a.psadbw(xmm10, xmm11); a.pmulld(xmm12, xmm13); a.psraw(xmm14, 3); a.psrlq(xmm15, xmm1); }),
        ("sse3/sse4 float", a => { a.haddpd(xmm1, xmm2); a.addsubps(xmm3, xmm4); a.dpps(xmm5, xmm6, 0xF1); a.insertps(xmm7, xmm8, 0x5A); a.movddup(xmm9, xmm10); a.movshdup(xmm11, __xmmword_ptr[rsi + 0x30]); }),
        ("blendv", a => { a.blendvpd(xmm1, xmm2); a.pblendvb(xmm3, __xmmword_ptr[rsi + 0x10]); a.blendps(xmm4, xmm5, 0x9); }),
        ("pmovzx", a => { a.pmovzxbw(xmm1, __qword_ptr[rsi + 8]); a.pmovsxwd(xmm2, xmm3); a.pmovzxdq(xmm4, xmm5); }),
        ("pcmpistri", a => { a.pcmpistri(xmm1, xmm2, 0x0C); }),
        ("pcmpistrm", a => { a.pcmpistrm(xmm3, __xmmword_ptr[rsi + 0x21], 0x40); }),
        ("pcmpestri", a => { a.pcmpestri(xmm1, xmm2, 0x18); }),
        ("pcmpestrm", a => { a.pcmpestrm(xmm5, xmm6, 0x04); }),
        ("movnti/pextrb store", a => { a.movnti(__dword_ptr[rsi + 0x50], ecx); a.pextrb(__byte_ptr[rsi + 0x57], xmm3, 11); a.extractps(__dword_ptr[rsi + 0x58], xmm4, 2); }),
    ];

    private static readonly ulong[] Specials =
    [
        0, 0x8000000000000000, 0x3FF0000000000000, 0xBFF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
        0x7FF8000000000000, 0x7FF4000000000000, 0x0000000000000001, 0x000FFFFFFFFFFFFF, 0x4330000000000001,
        0x43E0000000000000, 0xC3E0000000000001, 0x3FE0000000000000, 0x4004000000000000, 0x7FEFFFFFFFFFFFFF,
        0x3F8000007F800000, 0x7FC00000FF800000, 0x00000001807FFFFF, 0x4B0000013F000000, 0x4F000000CF000001,
    ];

    private static CpuSnapshot RandomState(Random random, uint rounding)
    {
        CpuSnapshot s = CpuSnapshot.CreateRandom(random);
        s[Gpr.Rsi] = TestMachine.DataBase;
        s.RFlags = (ulong)random.Next() & (ulong)RFlags.Status | 2;
        for (int x = 0; x < 16; x++)
        {
            ulong Lane() => random.Next(3) switch
            {
                0 => (ulong)random.NextInt64() ^ ((ulong)random.Next() << 33),
                1 => Specials[random.Next(Specials.Length)],
                _ => BitConverter.DoubleToUInt64Bits((random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-80, 80))),
            };
            s.Xmm[x] = Vector128.Create(Lane(), Lane()).AsByte();
        }
        for (int i = 0; i < 0x80; i += 8)
            if (random.Next(2) == 0) s.WriteData64(i, Specials[random.Next(Specials.Length)]);
        // Every exception stays masked (a native #XM would kill the test host); vary RC, and FTZ/DAZ sometimes.
        s.Mxcsr = 0x1F80 | (rounding << 13) | (random.Next(4) == 0 ? 0x8040u : 0);
        return s;
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void SseSnippets_RandomStatesAllRoundingModes_MatchHost(ExecutionMode mode)
    {
        var random = new Random(20261123);
        foreach (var (name, code) in Cases)
        {
            using var oracle = new OracleCase(mode, code);
            for (int i = 0; i < 12; i++)
            {
                CpuSnapshot init = RandomState(random, (uint)(i & 3));
                oracle.Run(init).AssertSame(context: $"{name}, state {i}, mxcsr 0x{init.Mxcsr:x}");
            }
        }
    }
}
