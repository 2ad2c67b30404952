using System.Runtime.Intrinsics;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using static Hv.Core.Tests.Simd.SimdHarness;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Simd;

public sealed class SseTests
{
    private static readonly byte[] Pattern = [0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xA9, 0xBA, 0xCB, 0xDC, 0xED, 0xFE, 0x0F];

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Movdqu_MisalignedLoadAndStore_CopiesBytes(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.movdqu(xmm3, __xmmword_ptr[rsi + 1]);
            a.movups(xmm12, __xmmword_ptr[rsi + 1]);
            a.movdqu(__xmmword_ptr[rsi + 0x43], xmm3);
            a.lddqu(xmm4, __xmmword_ptr[rsi + 0x43]);
        });
        Write(m, Data + 1, Pattern);
        RunToHalt(m);
        Assert.Equal(Pattern, Read(m, Data + 0x43, 16));
        Assert.Equal(Vector128.Create(Pattern), Xmm(m, 3));
        Assert.Equal(Vector128.Create(Pattern), Xmm(m, 12));
        Assert.Equal(Vector128.Create(Pattern), Xmm(m, 4));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Movaps_AlignedLoadAndStore_CopiesBytes(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.movaps(xmm1, __xmmword_ptr[rsi + 0x10]);
            a.movdqa(xmm9, xmm1);
            a.movapd(__xmmword_ptr[rsi + 0x40], xmm9);
        });
        Write(m, Data + 0x10, Pattern);
        RunToHalt(m);
        Assert.Equal(Pattern, Read(m, Data + 0x40, 16));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Movaps_MisalignedAddress_FaultsGeneralProtectionWithXmmUntouched(ExecutionMode mode)
    {
        var m = Create(mode, a => a.movaps(xmm1, __xmmword_ptr[rsi + 8]));
        SetXmm(m, 1, 0x1111, 0x2222);
        GuestFault fault = RunToFault(m);
        Assert.Equal(FaultKind.GeneralProtection, fault.Kind);
        Assert.Equal(TestMachine.CodeBase, m.State.Rip);
        Assert.Equal(0x1111UL, XmmLow(m, 1));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Addpd_MisalignedMemoryOperand_FaultsGeneralProtection(ExecutionMode mode)
    {
        var m = Create(mode, a => a.addpd(xmm2, __xmmword_ptr[rsi + 4]));
        Assert.Equal(FaultKind.GeneralProtection, RunToFault(m).Kind);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Pcmpistri_MisalignedMemoryOperand_IsAllowed(ExecutionMode mode)
    {
        // Equal-any, unsigned bytes: index of the first byte of "xxbxx" that is in the set "abc".
        var m = Create(mode, a => a.pcmpistri(xmm1, __xmmword_ptr[rsi + 1], 0));
        SetXmm(m, 1, 0x636261, 0); // "abc"
        Write(m, Data + 1, "xxbxx\0"u8);
        m.State[Gpr.Rcx] = ulong.MaxValue;
        RunToHalt(m);
        Assert.Equal(2UL, m.State[Gpr.Rcx]); // 32-bit write zero-extends
        ulong f = m.State.RFlags;
        Assert.True((f & (ulong)RFlags.CF) != 0);
        Assert.True((f & (ulong)RFlags.ZF) != 0); // the memory string ends within the block
        Assert.True((f & (ulong)RFlags.SF) != 0); // so does the set
        Assert.True((f & (ulong)RFlags.OF) == 0);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void MovssMovsd_RegisterMergesAndLoadZeroes(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.movss(xmm1, xmm2);
            a.movsd(xmm3, __qword_ptr[rsi]);
            a.movss(xmm4, __dword_ptr[rsi]);
            a.movsd(__qword_ptr[rsi + 0x20], xmm2);
            a.movq(xmm5, xmm2);
        });
        SetXmm(m, 1, 0xAAAAAAAA_BBBBBBBB, 0xCCCCCCCC_DDDDDDDD);
        SetXmm(m, 2, 0x11111111_22222222, 0x33333333_44444444);
        SetXmm(m, 3, ulong.MaxValue, ulong.MaxValue);
        SetXmm(m, 4, ulong.MaxValue, ulong.MaxValue);
        SetXmm(m, 5, ulong.MaxValue, ulong.MaxValue);
        Write64(m, Data, 0x55555555_66666666);
        RunToHalt(m);
        Assert.Equal((0xAAAAAAAA_22222222UL, 0xCCCCCCCC_DDDDDDDDUL), (XmmLow(m, 1), XmmHigh(m, 1)));
        Assert.Equal((0x55555555_66666666UL, 0UL), (XmmLow(m, 3), XmmHigh(m, 3)));
        Assert.Equal((0x66666666UL, 0UL), (XmmLow(m, 4), XmmHigh(m, 4)));
        Assert.Equal(0x11111111_22222222UL, BitConverter.ToUInt64(Read(m, Data + 0x20, 8)));
        Assert.Equal((0x11111111_22222222UL, 0UL), (XmmLow(m, 5), XmmHigh(m, 5)));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void MovdMovq_GeneralRegisters_ZeroExtend(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.movd(xmm1, ebx);
            a.movq(xmm2, r13);
            a.movd(r9d, xmm2);
            a.movq(rdx, xmm1);
            a.movhps(xmm2, __qword_ptr[rsi]);
            a.movhlps(xmm6, xmm2);
        });
        SetXmm(m, 1, ulong.MaxValue, ulong.MaxValue);
        m.State[Gpr.Rbx] = 0xDEADBEEF_12345678;
        m.State[Gpr.R13] = 0x0123456789ABCDEF;
        m.State[Gpr.R9] = ulong.MaxValue;
        Write64(m, Data, 0x77);
        RunToHalt(m);
        Assert.Equal((0x12345678UL, 0UL), (XmmLow(m, 1), XmmHigh(m, 1)));
        Assert.Equal((0x0123456789ABCDEFUL, 0x77UL), (XmmLow(m, 2), XmmHigh(m, 2)));
        Assert.Equal(0x89ABCDEFUL, m.State[Gpr.R9]);
        Assert.Equal(0x12345678UL, m.State[Gpr.Rdx]);
        Assert.Equal(0x77UL, XmmLow(m, 6));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Pcmpeqb_Pmovmskb_FindsTerminatorLikeStrlen(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.pxor(xmm0, xmm0);
            a.movdqa(xmm1, __xmmword_ptr[rsi]);
            a.pminub(xmm1, __xmmword_ptr[rsi + 16]);
            a.pcmpeqb(xmm1, xmm0);
            a.pmovmskb(eax, xmm1);
            a.movdqa(xmm2, __xmmword_ptr[rsi]);
            a.pcmpeqb(xmm2, xmm0);
            a.pmovmskb(ecx, xmm2);
        });
        byte[] text = new byte[32];
        "hello, world"u8.CopyTo(text);               // NUL at 12
        "0123456789\0abcde"u8.CopyTo(text.AsSpan(16)); // NUL at 10
        Write(m, Data, text);
        m.State[Gpr.Rax] = ulong.MaxValue;
        RunToHalt(m);
        Assert.Equal(0xFFFFFFFFUL & ~0UL & ComputeMask(text, 0, 16, both: true), m.State[Gpr.Rax]);
        Assert.Equal(ComputeMask(text, 0, 16, both: false), m.State[Gpr.Rcx]);
    }

    private static ulong ComputeMask(byte[] text, int start, int count, bool both)
    {
        ulong mask = 0;
        for (int i = 0; i < count; i++)
        {
            byte b = both ? Math.Min(text[start + i], text[start + 16 + i]) : text[start + i];
            if (b == 0) mask |= 1UL << i;
        }
        return mask;
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void FastIntegerOps_MatchScalarDefinitions(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.movdqa(xmm1, xmm0);
            a.psubb(xmm1, xmm7);
            a.movdqa(xmm2, xmm0);
            a.pshufd(xmm2, xmm2, 0x1B);
            a.movdqa(xmm3, xmm0);
            a.punpcklbw(xmm3, xmm7);
            a.movdqa(xmm4, xmm0);
            a.pslldq(xmm4, 3);
            a.movdqa(xmm5, xmm0);
            a.psrldq(xmm5, 5);
            a.movdqa(xmm6, xmm0);
            a.palignr(xmm6, xmm7, 7);
            a.movdqa(xmm8, xmm0);
            a.pandn(xmm8, xmm7);
        });
        byte[] x = Pattern;
        byte[] y = new byte[16];
        for (int i = 0; i < 16; i++) y[i] = (byte)(i * 37 + 5);
        Xmm(m, 0) = Vector128.Create(x);
        Xmm(m, 7) = Vector128.Create(y);
        RunToHalt(m);
        var sub = new byte[16];
        var shuf = new byte[16];
        var unpack = new byte[16];
        var shl = new byte[16];
        var shr = new byte[16];
        var align = new byte[16];
        var andn = new byte[16];
        for (int i = 0; i < 16; i++)
        {
            sub[i] = (byte)(x[i] - y[i]);
            shuf[i] = x[(3 - i / 4) * 4 + i % 4];
            unpack[i] = i % 2 == 0 ? x[i / 2] : y[i / 2];
            shl[i] = i >= 3 ? x[i - 3] : (byte)0;
            shr[i] = i + 5 < 16 ? x[i + 5] : (byte)0;
            align[i] = i + 7 < 16 ? y[i + 7] : x[i + 7 - 16];
            andn[i] = (byte)(~x[i] & y[i]);
        }
        Assert.Equal(sub, Bytes(m, 1));
        Assert.Equal(shuf, Bytes(m, 2));
        Assert.Equal(unpack, Bytes(m, 3));
        Assert.Equal(shl, Bytes(m, 4));
        Assert.Equal(shr, Bytes(m, 5));
        Assert.Equal(align, Bytes(m, 6));
        Assert.Equal(andn, Bytes(m, 8));
    }

    private static byte[] Bytes(TestMachine m, int xmm)
    {
        var b = new byte[16];
        Xmm(m, xmm).CopyTo(b);
        return b;
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Divsd_AllRoundingModes_RoundsAsMxcsrSays(ExecutionMode mode)
    {
        // 1/3 and -1/3: RN, RD (toward -inf), RU (toward +inf), RZ.
        ulong[] positive = [0x3FD5555555555555, 0x3FD5555555555555, 0x3FD5555555555556, 0x3FD5555555555555];
        ulong[] negative = [0xBFD5555555555555, 0xBFD5555555555556, 0xBFD5555555555555, 0xBFD5555555555555];
        for (uint rc = 0; rc < 4; rc++)
        {
            var m = Create(mode, a =>
            {
                a.divsd(xmm0, xmm1);
                a.divsd(xmm2, __qword_ptr[rsi]);
                a.divpd(xmm3, xmm1);
            });
            m.State.Fpu.Mxcsr = 0x1F80 | (rc << 13);
            SetXmmDouble(m, 0, 1.0);
            SetXmm(m, 1, BitConverter.DoubleToUInt64Bits(3.0), BitConverter.DoubleToUInt64Bits(3.0));
            SetXmm(m, 2, BitConverter.DoubleToUInt64Bits(-1.0), 0xABCD);
            SetXmm(m, 3, BitConverter.DoubleToUInt64Bits(1.0), BitConverter.DoubleToUInt64Bits(-1.0));
            WriteDouble(m, Data, 3.0);
            RunToHalt(m);
            Assert.Equal(positive[rc], XmmLow(m, 0));
            Assert.Equal(negative[rc], XmmLow(m, 2));
            Assert.Equal(0xABCDUL, XmmHigh(m, 2)); // scalar op keeps the upper half
            Assert.Equal((positive[rc], negative[rc]), (XmmLow(m, 3), XmmHigh(m, 3)));
            Assert.Equal(0x1F80u | (rc << 13) | 0x20u, m.State.Fpu.Mxcsr); // PE only
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Cvtsd2si_RoundingModesAndTruncationOverflow(ExecutionMode mode)
    {
        long[][] expected = [[2, -2], [2, -3], [3, -2], [2, -2]];
        for (uint rc = 0; rc < 4; rc++)
        {
            var m = Create(mode, a =>
            {
                a.cvtsd2si(rax, xmm0);
                a.cvtsd2si(r10, xmm1);
                a.cvttsd2si(rcx, xmm1);
                a.cvttsd2si(rdx, xmm2);
                a.cvttsd2si(r11d, xmm3);
            });
            m.State.Fpu.Mxcsr = 0x1F80 | (rc << 13);
            SetXmmDouble(m, 0, 2.5);
            SetXmmDouble(m, 1, -2.5);
            SetXmmDouble(m, 2, 1e20);
            SetXmmDouble(m, 3, double.NaN);
            RunToHalt(m);
            Assert.Equal(expected[rc][0], (long)m.State[Gpr.Rax]);
            Assert.Equal(expected[rc][1], (long)m.State[Gpr.R10]);
            Assert.Equal(-2L, (long)m.State[Gpr.Rcx]);
            Assert.Equal(0x8000000000000000UL, m.State[Gpr.Rdx]);
            Assert.Equal(0x80000000UL, m.State[Gpr.R11]);
            Assert.Equal(0x21u, m.State.Fpu.Mxcsr & 0x3F); // IE (overflow/NaN) and PE
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Cvtsi2sd_GeneralRegisterOperands_UseGuestRegisters(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.cvtsi2sd(xmm1, r12);
            a.cvtsi2sd(xmm14, eax);
            a.cvtsi2ss(xmm2, __qword_ptr[rsi]);
            a.pextrw(ebx, xmm5, 5);
            a.pinsrw(xmm6, ecx, 2);
        });
        m.State[Gpr.R12] = unchecked((ulong)-123456789012L);
        m.State[Gpr.Rax] = 0xFFFFFFFF_FFFFFFFE; // eax = -2
        m.State[Gpr.Rbx] = ulong.MaxValue;
        m.State[Gpr.Rcx] = 0xBEEF;
        SetXmm(m, 5, 0, 0x0000_0000_1234_0000);
        Write64(m, Data, 3);
        RunToHalt(m);
        Assert.Equal(-123456789012.0, BitConverter.UInt64BitsToDouble(XmmLow(m, 1)));
        Assert.Equal(-2.0, BitConverter.UInt64BitsToDouble(XmmLow(m, 14)));
        Assert.Equal(3.0f, BitConverter.UInt32BitsToSingle((uint)XmmLow(m, 2)));
        Assert.Equal(0x1234UL, m.State[Gpr.Rbx]);
        Assert.Equal(0xBEEF_0000_0000UL, XmmLow(m, 6));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Addpd_DifferentRegisters_ShareOneThunk(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.addpd(xmm1, xmm2);
            a.addpd(xmm5, xmm9);
            a.addpd(xmm3, xmm3);
        });
        SetXmm(m, 1, BitConverter.DoubleToUInt64Bits(1.0), BitConverter.DoubleToUInt64Bits(2.0));
        SetXmm(m, 2, BitConverter.DoubleToUInt64Bits(10.0), BitConverter.DoubleToUInt64Bits(20.0));
        SetXmm(m, 5, BitConverter.DoubleToUInt64Bits(0.5), 0);
        SetXmm(m, 9, BitConverter.DoubleToUInt64Bits(0.25), 0);
        SetXmm(m, 3, BitConverter.DoubleToUInt64Bits(4.0), BitConverter.DoubleToUInt64Bits(-4.0));
        RunToHalt(m);
        Assert.Equal((11.0, 22.0), (BitConverter.UInt64BitsToDouble(XmmLow(m, 1)), BitConverter.UInt64BitsToDouble(XmmHigh(m, 1))));
        Assert.Equal(0.75, BitConverter.UInt64BitsToDouble(XmmLow(m, 5)));
        Assert.Equal((8.0, -8.0), (BitConverter.UInt64BitsToDouble(XmmLow(m, 3)), BitConverter.UInt64BitsToDouble(XmmHigh(m, 3))));
        Assert.Equal(2, m.Machine.Cpu.Simd.ThunkCount); // xmm1,xmm2 and xmm5,xmm9 share; xmm3,xmm3 aliases
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Comisd_Ucomisd_SetFlagsLikeHardware(ExecutionMode mode)
    {
        (double A, double B, ulong Flags)[] cases =
        [
            (1.0, 2.0, (ulong)RFlags.CF),
            (2.0, 1.0, 0),
            (1.5, 1.5, (ulong)RFlags.ZF),
            (double.NaN, 1.0, (ulong)(RFlags.ZF | RFlags.PF | RFlags.CF)),
        ];
        foreach (var (a, b, flags) in cases)
        {
            var m = Create(mode, asm =>
            {
                asm.ucomisd(xmm0, xmm1);
                asm.movq(rax, xmm0); // keeps flags
            });
            SetXmmDouble(m, 0, a);
            SetXmmDouble(m, 1, b);
            m.State.RFlags = (ulong)(RFlags.OF | RFlags.SF | RFlags.AF) | 2;
            RunToHalt(m);
            Assert.Equal(flags, m.State.RFlags & (ulong)RFlags.Status);
            Assert.Equal(0u, m.State.Fpu.Mxcsr & 1); // quiet NaN: no IE for UCOMISD

            var c = Create(mode, asm => asm.comisd(xmm0, __qword_ptr[rsi]));
            SetXmmDouble(c, 0, a);
            WriteDouble(c, Data, b);
            RunToHalt(c);
            Assert.Equal(flags, c.State.RFlags & (ulong)RFlags.Status);
            Assert.Equal(double.IsNaN(a) ? 1u : 0u, c.State.Fpu.Mxcsr & 1); // COMISD signals IE on any NaN
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Divsd_UnmaskedDivideByZero_FaultsWithDestinationUnwritten(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.addsd(xmm3, xmm3);
            a.divsd(xmm0, xmm1);
        });
        m.State.Fpu.Mxcsr = 0x1F80 & ~(1u << 9); // ZM clear
        SetXmmDouble(m, 0, 1.0);
        SetXmmDouble(m, 3, 1.0);
        GuestFault fault = RunToFault(m);
        Assert.Equal(FaultKind.FloatingPoint, fault.Kind);
        Assert.Equal(InstructionAddress(m, 1), m.State.Rip);
        Assert.Equal(1.0, BitConverter.UInt64BitsToDouble(XmmLow(m, 0)));
        Assert.Equal(2.0, BitConverter.UInt64BitsToDouble(XmmLow(m, 3)));
        Assert.Equal(0x1D84u, m.State.Fpu.Mxcsr); // ZE flag set, ZM still clear
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Divsd_MaskedDivideByZero_GivesInfinityAndFlag(ExecutionMode mode)
    {
        var m = Create(mode, a => a.divsd(xmm0, xmm1));
        SetXmmDouble(m, 0, -1.0);
        RunToHalt(m);
        Assert.Equal(double.NegativeInfinity, BitConverter.UInt64BitsToDouble(XmmLow(m, 0)));
        Assert.Equal(0x1F84u, m.State.Fpu.Mxcsr);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Load_FromUnmappedMemory_PageFaultsWithXmmUntouched(ExecutionMode mode)
    {
        foreach (bool thunked in new[] { false, true })
        {
            var m = Create(mode, a =>
            {
                if (thunked) a.addpd(xmm2, __xmmword_ptr[rdi]);
                else a.movdqa(xmm2, __xmmword_ptr[rdi]);
            });
            m.State[Gpr.Rdi] = 0x1000;
            SetXmm(m, 2, 0x1234, 0x5678);
            GuestFault fault = RunToFault(m);
            Assert.Equal(FaultKind.PageNotMapped, fault.Kind);
            Assert.Equal(0x1000UL, fault.Address);
            Assert.Equal((0x1234UL, 0x5678UL), (XmmLow(m, 2), XmmHigh(m, 2)));
            Assert.Equal(TestMachine.CodeBase, m.State.Rip);
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Ldmxcsr_Stmxcsr_RoundTripAndReservedBitsFault(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.ldmxcsr(__dword_ptr[rsi]);
            a.stmxcsr(__dword_ptr[rsi + 4]);
            a.ldmxcsr(__dword_ptr[rsi + 8]);
        });
        Write(m, Data, BitConverter.GetBytes(0x7F80u));
        Write(m, Data + 8, BitConverter.GetBytes(0x10000u | 0x1F80u));
        GuestFault fault = RunToFault(m);
        Assert.Equal(FaultKind.GeneralProtection, fault.Kind);
        Assert.Equal(0x7F80u, BitConverter.ToUInt32(Read(m, Data + 4, 4)));
        Assert.Equal(0x7F80u, m.State.Fpu.Mxcsr);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Pcmpestri_ImplicitRegisters_ReadAndWritten(ExecutionMode mode)
    {
        // Explicit lengths in EAX/EDX; "equal ordered" (imm 0x0C): find "lo" in "hello".
        var m = Create(mode, a => a.pcmpestri(xmm1, xmm2, 0x0C));
        SetXmm(m, 1, 0x6F6C, 0);                // "lo"
        SetXmm(m, 2, 0x6F6C6C6568, 0);          // "hello"
        m.State[Gpr.Rax] = 2;
        m.State[Gpr.Rdx] = 5;
        RunToHalt(m);
        Assert.Equal(3UL, m.State[Gpr.Rcx]);
    }
}
