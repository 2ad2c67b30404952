using System.Runtime.Intrinsics;
using Hv.Core.Cpu;
using Hv.Core.Tests.Support;

namespace Hv.Core.Tests.Interpretation;

/// <summary>Checks the host-CPU oracle itself: state round-trips through the native thunk unchanged.</summary>
public sealed class OracleHarnessTests
{
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Nop_RandomState_HostAndHvAgree(ExecutionMode mode)
    {
        var random = new Random(1234);
        using var oracle = new OracleCase(mode, a => a.nop());
        for (int i = 0; i < 8; i++)
        {
            CpuSnapshot init = CpuSnapshot.CreateRandom(random);
            init.RFlags = (ulong)random.Next() & CpuSnapshot.ComparedFlags;
            for (int x = 0; x < 16; x++) init.Xmm[x] = Vector128.Create((ulong)random.NextInt64(), (ulong)random.NextInt64()).AsByte();
            init.Stack[100] = 0x5A;
            OracleResult r = oracle.Run(init);
            r.AssertSame(context: $"iteration {i}");
            Assert.Equal(init.Gpr, r.Host.Gpr);
            Assert.Equal(init.RFlags & CpuSnapshot.ComparedFlags, r.Host.RFlags & CpuSnapshot.ComparedFlags);
            Assert.Equal(init.Xmm, r.Host.Xmm);
            Assert.Equal(init.Data, r.Host.Data);
        }
    }

    [Fact]
    public void Diff_DifferentRegisterAndFlags_NamesThem()
    {
        CpuSnapshot a = CpuSnapshot.Create(), b = CpuSnapshot.Create();
        b[Gpr.Rbx] = 0x1234;
        b.RFlags |= (ulong)RFlags.ZF;
        b.Data[3] = 1;
        var r = new OracleResult(a, a, b, new Execution.StopReason(Execution.StopKind.Halted), "");
        string diff = r.Diff(0)!;
        Assert.Contains("rbx: host=0x0000000000000000 hv=0x0000000000001234", diff);
        Assert.Contains("differ=[ZF]", diff);
        Assert.Contains("data[0x100000100003]", diff);
        Assert.Null(r.Diff((ulong)RFlags.ZF) is { } d && d.Contains("flags") ? d : null);
    }
}
