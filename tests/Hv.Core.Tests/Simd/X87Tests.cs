using System.Runtime.Intrinsics;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using static Hv.Core.Tests.Simd.SimdHarness;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Simd;

public sealed class X87Tests
{
    private static (ulong Mantissa, ushort SignExponent) ReadExtended(TestMachine m, ulong address)
    {
        byte[] b = Read(m, address, 10);
        return (BitConverter.ToUInt64(b), BitConverter.ToUInt16(b, 8));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void LongDouble_MultiplyAndStore_ExactExtendedResult(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.fld(__qword_ptr[rsi]);       // 1.5
            a.fld(__qword_ptr[rsi + 8]);   // 3.0
            a.fmulp(st1, st0);
            a.fstp(__tword_ptr[rsi + 0x20]);
            a.fnstsw(ax);
        });
        WriteDouble(m, Data, 1.5);
        WriteDouble(m, Data + 8, 3.0);
        m.State[Gpr.Rax] = 0xFFFF_FFFF_FFFF_FFFF;
        RunToHalt(m);
        Assert.Equal((0x9000000000000000UL, (ushort)0x4001), ReadExtended(m, Data + 0x20)); // 4.5
        Assert.Equal(0xFFFF_FFFF_FFFF_0000UL, m.State[Gpr.Rax]); // TOP back to 0, no flags; upper RAX kept
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void LongDouble_DivideUnderRoundingModes_FollowsControlWord(ExecutionMode mode)
    {
        // 1/3 in 64-bit precision: AAAA...AAAB rounded to nearest/up, AAAA...AAAA down/toward zero.
        ulong[] expected = [0xAAAAAAAAAAAAAAABUL, 0xAAAAAAAAAAAAAAAAUL, 0xAAAAAAAAAAAAAAABUL, 0xAAAAAAAAAAAAAAAAUL];
        for (int rc = 0; rc < 4; rc++)
        {
            var m = Create(mode, a =>
            {
                a.fldcw(__word_ptr[rsi + 0x30]);
                a.fld1();
                a.fild(__dword_ptr[rsi]);
                a.fdivp(st1, st0);
                a.fstp(__tword_ptr[rsi + 0x10]);
                a.fnstcw(__word_ptr[rsi + 0x32]);
            });
            Write(m, Data, BitConverter.GetBytes(3));
            Write(m, Data + 0x30, BitConverter.GetBytes((ushort)(0x037F | (rc << 10))));
            RunToHalt(m);
            Assert.Equal((expected[rc], (ushort)0x3FFD), ReadExtended(m, Data + 0x10));
            Assert.Equal((ushort)(0x037F | (rc << 10)), BitConverter.ToUInt16(Read(m, Data + 0x32, 2)));
            Assert.Equal((ushort)(0x037F | (rc << 10)), m.State.Fpu.Fcw);
            Assert.Equal(0x20, m.State.Fpu.Fsw & 0x3F); // PE
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Fcom_Fnstsw_ReportsConditionCodes(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.fld(__qword_ptr[rsi + 8]);  // 2.0
            a.fld(__qword_ptr[rsi]);      // 1.0
            a.fcom(st0, st1);                // 1.0 < 2.0: C0
            a.fnstsw(ax);
            a.fcomip(st0, st1);           // CF
            a.fnstsw(__word_ptr[rsi + 0x10]);
        });
        WriteDouble(m, Data, 1.0);
        WriteDouble(m, Data + 8, 2.0);
        RunToHalt(m);
        ushort sw = (ushort)m.State[Gpr.Rax];
        Assert.Equal(0x0100, sw & 0x4700);          // C0 only
        Assert.Equal(6, (sw >> 11) & 7);            // TOP after two pushes
        Assert.Equal((ulong)RFlags.CF, m.State.RFlags & (ulong)RFlags.Status);
        Assert.Equal(7, (BitConverter.ToUInt16(Read(m, Data + 0x10, 2)) >> 11) & 7);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Fistp_Fisttp_RoundingAndTruncation(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.fld(__qword_ptr[rsi]);
            a.fistp(__qword_ptr[rsi + 0x10]);   // nearest-even: -2
            a.fld(__qword_ptr[rsi]);
            a.fisttp(__dword_ptr[rsi + 0x18]);  // truncate: -2
            a.fld(__qword_ptr[rsi + 8]);
            a.fistp(__word_ptr[rsi + 0x1C]);    // 1e10 does not fit: integer indefinite 0x8000
        });
        WriteDouble(m, Data, -2.5);
        WriteDouble(m, Data + 8, 1e10);
        RunToHalt(m);
        Assert.Equal(-2L, BitConverter.ToInt64(Read(m, Data + 0x10, 8)));
        Assert.Equal(-2, BitConverter.ToInt32(Read(m, Data + 0x18, 4)));
        Assert.Equal((ushort)0x8000, BitConverter.ToUInt16(Read(m, Data + 0x1C, 2)));
        Assert.Equal(0x21, m.State.Fpu.Fsw & 0x3F); // IE from the overflow, PE from the roundings
        Assert.Equal(0, (m.State.Fpu.Fsw >> 11) & 7);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Fnstenv_Fldenv_RoundTripControlWord(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.fldcw(__word_ptr[rsi]);
            a.fnstenv(__[rsi + 0x10]);      // also masks every exception
            a.fnstcw(__word_ptr[rsi + 2]);
            a.fldenv(__[rsi + 0x10]);
            a.fninit();
            a.fnstcw(__word_ptr[rsi + 4]);
        });
        Write(m, Data, BitConverter.GetBytes((ushort)0x0C72)); // RZ, ZM/OM/UM... partly unmasked
        RunToHalt(m);
        Assert.Equal((ushort)0x0C72, BitConverter.ToUInt16(Read(m, Data + 0x10, 2)));
        Assert.Equal((ushort)0x0C7F, BitConverter.ToUInt16(Read(m, Data + 2, 2)));
        Assert.Equal((ushort)0x037F, BitConverter.ToUInt16(Read(m, Data + 4, 2)));
        Assert.Equal((ushort)0x037F, m.State.Fpu.Fcw);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void UnmaskedX87DivideByZero_FaultsAtNextWaitingInstruction(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.fldcw(__word_ptr[rsi]);
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);      // pending #Z
            a.fnstsw(__word_ptr[rsi + 2]); // non-waiting: runs
            a.fld1();               // waiting: #MF here
        });
        Write(m, Data, BitConverter.GetBytes((ushort)(0x037F & ~4))); // ZM clear
        GuestFault fault = RunToFault(m);
        Assert.Equal(FaultKind.FloatingPoint, fault.Kind);
        Assert.Equal(InstructionAddress(m, 5), m.State.Rip);
        ushort sw = BitConverter.ToUInt16(Read(m, Data + 2, 2));
        Assert.Equal(0x8084, sw & 0x80FF); // B, ES, ZE
        Assert.Equal(0x8084, m.State.Fpu.Fsw & 0x80FF);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Fstp_ToUnmappedMemory_FaultsWithStackUnchanged(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.fld1();
            a.fstp(__qword_ptr[rdi]);
        });
        m.State[Gpr.Rdi] = 0x2000;
        GuestFault fault = RunToFault(m);
        Assert.Equal(FaultKind.PageNotMapped, fault.Kind);
        Assert.Equal(InstructionAddress(m, 1), m.State.Rip);
        Assert.Equal(7, (m.State.Fpu.Fsw >> 11) & 7); // the pop did not happen
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Fxsave_Fxrstor_GuestMemoryRoundTrip(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.fld1();
            a.fxsave64(__[rsi]);
            a.fxrstor64(__[rsi + 0x200]);
        });
        SetXmm(m, 5, 0x1122334455667788, 0x99AABBCCDDEEFF00);
        m.State.Fpu.Mxcsr = 0x1F80 | 0x6000;
        byte[] other = new byte[512];
        BitConverter.GetBytes((ushort)0x027F).CopyTo(other, 0);
        BitConverter.GetBytes(0x1F80u | 0x2000).CopyTo(other, 24);
        for (int i = 0; i < 16; i++) other[160 + 16 * 7 + i] = (byte)(0xA0 + i);
        Write(m, Data + 0x200, other);
        Write(m, Data + 464, new byte[] { 0xEE, 0xEE }); // software area: must survive FXSAVE
        RunToHalt(m);
        byte[] saved = Read(m, Data, 512);
        Assert.Equal((ushort)0x037F, BitConverter.ToUInt16(saved, 0));
        Assert.Equal(7, (BitConverter.ToUInt16(saved, 2) >> 11) & 7);
        Assert.Equal(0x1F80u | 0x6000, BitConverter.ToUInt32(saved, 24));
        Assert.Equal(0xFFFFu, BitConverter.ToUInt32(saved, 28));
        Assert.Equal(0x1122334455667788UL, BitConverter.ToUInt64(saved, 160 + 16 * 5));
        Assert.Equal(0x8000000000000000UL, BitConverter.ToUInt64(saved, 32 + 16 * 0)); // ST0 = 1.0
        Assert.Equal((byte)0xEE, saved[464]);
        Assert.Equal((ushort)0x027F, m.State.Fpu.Fcw);
        Assert.Equal(0x1F80u | 0x2000, m.State.Fpu.Mxcsr);
        Assert.Equal(0xA0UL + 0xA1 * 256, XmmLow(m, 7) & 0xFFFF);
        Assert.Equal(0UL, XmmLow(m, 5));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Fxsave_Misaligned_FaultsGeneralProtection(ExecutionMode mode)
    {
        var m = Create(mode, a => a.fxsave(__[rsi + 8]));
        Assert.Equal(FaultKind.GeneralProtection, RunToFault(m).Kind);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Fxrstor_ReservedMxcsrBits_FaultsGeneralProtection(ExecutionMode mode)
    {
        var m = Create(mode, a => a.fxrstor(__[rsi]));
        Write(m, Data + 24, BitConverter.GetBytes(0x0004_1F80u));
        Assert.Equal(FaultKind.GeneralProtection, RunToFault(m).Kind);
        Assert.Equal(0x1F80u, m.State.Fpu.Mxcsr);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Mmx_PaddbAndEmms_UseX87Registers(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.movq(mm0, __qword_ptr[rsi]);
            a.movq(mm1, __qword_ptr[rsi + 8]);
            a.paddb(mm0, mm1);
            a.movq(__qword_ptr[rsi + 0x10], mm0);
            a.movd(ecx, mm1);
            a.emms();
        });
        Write64(m, Data, 0x01020304050607F0);
        Write64(m, Data + 8, 0x1010101010101020);
        RunToHalt(m);
        Assert.Equal(0x1112131415161710UL, BitConverter.ToUInt64(Read(m, Data + 0x10, 8)));
        Assert.Equal(0x10101020UL, m.State[Gpr.Rcx]);
        Assert.Equal(0, m.State.Fpu.Area[FpuStateFtw]); // EMMS: every register empty
    }

    private const int FpuStateFtw = 4;

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Fsqrt_Fsin_HostResultsStoredAsDouble(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.fld(__qword_ptr[rsi]);
            a.fsqrt();
            a.fstp(__qword_ptr[rsi + 8]);
            a.fldpi();
            a.fstp(__qword_ptr[rsi + 0x10]);
        });
        WriteDouble(m, Data, 2.0);
        RunToHalt(m);
        Assert.Equal(Math.Sqrt(2.0), BitConverter.Int64BitsToDouble(BitConverter.ToInt64(Read(m, Data + 8, 8))));
        Assert.Equal(Math.PI, BitConverter.Int64BitsToDouble(BitConverter.ToInt64(Read(m, Data + 0x10, 8))));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Fucomi_Fcmov_UseAndSetGuestFlags(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.fld(__qword_ptr[rsi + 8]);  // 2.0 -> ST1 after next load
            a.fld(__qword_ptr[rsi]);      // 1.0 -> ST0
            a.fucomi(st0, st1);           // 1 < 2: CF=1
            a.fcmovb(st0, st1);           // taken: ST0 = 2.0
            a.fstp(__qword_ptr[rsi + 0x10]);
            a.fldz();
            a.fcmovnb(st0, st1);          // CF still 1: not taken, ST0 stays 0
            a.fstp(__qword_ptr[rsi + 0x18]);
        });
        WriteDouble(m, Data, 1.0);
        WriteDouble(m, Data + 8, 2.0);
        m.State.RFlags = (ulong)(RFlags.OF | RFlags.SF | RFlags.AF) | 2;
        RunToHalt(m);
        Assert.Equal(2.0, BitConverter.Int64BitsToDouble(BitConverter.ToInt64(Read(m, Data + 0x10, 8))));
        Assert.Equal(0.0, BitConverter.Int64BitsToDouble(BitConverter.ToInt64(Read(m, Data + 0x18, 8))));
        Assert.Equal((ulong)RFlags.CF, m.State.RFlags & (ulong)RFlags.Status); // OF/SF/AF cleared
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Fld_Fstp_Tword_RoundTripsPseudoValuesBitExactly(ExecutionMode mode)
    {
        var m = Create(mode, a =>
        {
            a.fld(__tword_ptr[rsi]);
            a.fld(__tword_ptr[rsi + 0x10]);
            a.fxch(st0, st1);
            a.fstp(__tword_ptr[rsi + 0x20]);
            a.fstp(__tword_ptr[rsi + 0x30]);
            a.fnstsw(ax);
        });
        byte[] denormal = [0x01, 0, 0, 0, 0, 0, 0, 0x40, 0x00, 0x00];      // extended denormal
        byte[] snan = [0x01, 0, 0, 0, 0, 0, 0, 0xA0, 0xFF, 0x7F];          // signalling NaN: m80 loads/stores do not convert
        Write(m, Data, denormal);
        Write(m, Data + 0x10, snan);
        RunToHalt(m);
        Assert.Equal(denormal, Read(m, Data + 0x20, 10));
        Assert.Equal(snan, Read(m, Data + 0x30, 10));
        Assert.Equal(0UL, m.State[Gpr.Rax] & 0x3F); // no exception
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void FloatingPointFault_SignalCode_ClassifiesSimdAndX87(ExecutionMode mode)
    {
        var m = Create(mode, a => a.divsd(xmm0, xmm1));
        m.State.Fpu.Mxcsr = 0x1F80 & ~(1u << 9);
        SetXmmDouble(m, 0, 1.0);
        Assert.Equal(FaultKind.FloatingPoint, RunToFault(m).Kind);
        Assert.Equal(Hv.Core.Interpretation.Simd.FloatingPointFault.FltDiv, Hv.Core.Interpretation.Simd.FloatingPointFault.SignalCode(m.State.Fpu));

        var x = Create(mode, a =>
        {
            a.fldcw(__word_ptr[rsi]);
            a.fld(__qword_ptr[rsi + 8]);
            a.fld(__qword_ptr[rsi + 8]);
            a.fmulp(st1, st0);
            a.fstp(__qword_ptr[rsi + 0x10]); // overflow on the double store
            a.wait();
        });
        Write(x, Data, BitConverter.GetBytes((ushort)(0x037F & ~8))); // OM clear
        WriteDouble(x, Data + 8, 1e300);
        Assert.Equal(FaultKind.FloatingPoint, RunToFault(x).Kind);
        Assert.Equal(InstructionAddress(x, 5), x.State.Rip);
        Assert.Equal(Hv.Core.Interpretation.Simd.FloatingPointFault.FltOvf, Hv.Core.Interpretation.Simd.FloatingPointFault.SignalCode(x.State.Fpu));
    }
}
