using CsCheck;
using Hv.Core.Cpu;

namespace Hv.Core.Tests.Interpretation;

/// <summary>The one-dispatch <see cref="Flags.Materialize"/> must agree with the per-flag readers.</summary>
public sealed class FlagsTests
{
    private static readonly Gen<ulong> Values = Gen.OneOf(Gen.ULong, Gen.ULong[0, 3], Gen.OneOfConst(0x80UL, 0x7FUL, 0xFFUL, 0x8000UL, 0xFFFF_FFFFUL, 0x8000_0000_0000_0000UL, ulong.MaxValue));

    [Fact]
    public void Materialize_AnyLazyState_EqualsEachFlagReader()
    {
        Gen.Select(Gen.Int[0, 7], Gen.OneOfConst(1, 2, 4, 8), Values, Values, Values, Gen.ULong).Sample((op, size, a, b, r, baseBits) =>
        {
            var s = new CpuState();
            s.FlagsBase = (baseBits & 0x0000_0000_003F_7FD5UL) | (ulong)RFlags.Reserved1;
            s.FlagOp = (FlagOp)op;
            s.FlagSrc1 = a;
            s.FlagSrc2 = b;
            s.FlagResult = r;
            s.FlagSize = (byte)size;
            ulong expected = s.FlagsBase & ~(ulong)RFlags.Status
                | (Flags.GetCF(s) ? (ulong)RFlags.CF : 0) | (Flags.GetPF(s) ? (ulong)RFlags.PF : 0)
                | (Flags.GetAF(s) ? (ulong)RFlags.AF : 0) | (Flags.GetZF(s) ? (ulong)RFlags.ZF : 0)
                | (Flags.GetSF(s) ? (ulong)RFlags.SF : 0) | (Flags.GetOF(s) ? (ulong)RFlags.OF : 0);
            Assert.Equal(expected, Flags.Materialize(s));
            Assert.Equal(FlagOp.None, s.FlagOp);
        }, iter: 20_000);
    }
}
