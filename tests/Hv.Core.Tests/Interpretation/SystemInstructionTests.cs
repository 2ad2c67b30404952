using System.Runtime.Intrinsics.X86;
using System.Text;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Interpretation;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Interpretation;

public sealed class SystemInstructionTests
{
    private const ulong Code = TestMachine.CodeBase;
    private const ulong Data = TestMachine.DataBase;

    private static void AssertHalted(StopReason stop) => Assert.True(stop.Kind == StopKind.Halted, stop.Message ?? stop.Kind.ToString());

    private static (uint A, uint B, uint C, uint D) Cpuid(ExecutionMode mode, uint leaf, uint subleaf = 0)
    {
        var m = new TestMachine(mode).Load(a => a.cpuid());
        m.State[Gpr.Rax] = 0xFFFF_FFFF_0000_0000 | leaf;
        m.State[Gpr.Rbx] = ulong.MaxValue;
        m.State[Gpr.Rcx] = 0xFFFF_FFFF_0000_0000 | subleaf;
        m.State[Gpr.Rdx] = ulong.MaxValue;
        AssertHalted(m.Run());
        foreach (Gpr r in new[] { Gpr.Rax, Gpr.Rbx, Gpr.Rcx, Gpr.Rdx }) Assert.True(m.State[r] <= uint.MaxValue);
        return ((uint)m.State[Gpr.Rax], (uint)m.State[Gpr.Rbx], (uint)m.State[Gpr.Rcx], (uint)m.State[Gpr.Rdx]);
    }

    private static string Ascii(params uint[] words)
    {
        var sb = new StringBuilder();
        foreach (uint w in words)
            for (int i = 0; i < 4; i++)
            {
                char c = (char)((w >> (8 * i)) & 0xFF);
                if (c != 0) sb.Append(c);
            }
        return sb.ToString();
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Cpuid_Leaf0_GenuineIntelWithMaxLeaf7(ExecutionMode mode)
    {
        var (a, b, c, d) = Cpuid(mode, 0);
        Assert.Equal(7u, a);
        Assert.Equal("GenuineIntel", Ascii(b, d, c));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Cpuid_Leaf1_AdvertisesExactlyTheImplementedFeatures(ExecutionMode mode)
    {
        var (a, b, c, d) = Cpuid(mode, 1);
        Assert.Equal(6u, (a >> 8) & 0xF); // family 6
        Assert.Equal(8u, (b >> 8) & 0xFF); // CLFLUSH line = 64 bytes
        uint edxRequired = 1u << 0 | 1u << 4 | 1u << 8 | 1u << 15 | 1u << 23 | 1u << 24 | 1u << 25 | 1u << 26;
        Assert.Equal(edxRequired, d & edxRequired);
        uint ecxExpected = (Sse3.IsSupported ? 1u : 0) | (Ssse3.IsSupported ? 1u << 9 : 0) | 1u << 13
            | (Sse41.IsSupported ? 1u << 19 : 0) | (Sse42.IsSupported ? 1u << 20 : 0) | (Popcnt.IsSupported ? 1u << 23 : 0);
        Assert.Equal(ecxExpected, c);
        // Explicitly absent: OSXSAVE(27), AVX(28), FMA(12), RDRAND(30), AES(25), PCLMUL(1), F16C(29), XSAVE(26), HTT.
        Assert.Equal(0u, c & (1u << 27 | 1u << 28 | 1u << 12 | 1u << 30 | 1u << 25 | 1u << 1 | 1u << 29 | 1u << 26));
        Assert.Equal(0u, d & (1u << 28));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Cpuid_Leaf7_AllZero(ExecutionMode mode)
    {
        Assert.Equal((0u, 0u, 0u, 0u), Cpuid(mode, 7));
        Assert.Equal((0u, 0u, 0u, 0u), Cpuid(mode, 7, 1));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Cpuid_Leaf4_DescribesFourCachesThenNull(ExecutionMode mode)
    {
        ulong[] sizes = [32 << 10, 32 << 10, 256 << 10, 8 << 20];
        uint[] types = [1, 2, 3, 3];
        for (uint i = 0; i < 4; i++)
        {
            var (a, b, c, _) = Cpuid(mode, 4, i);
            Assert.Equal(types[i], a & 0x1F);
            Assert.Equal(i < 2 ? 1u : i, (a >> 5) & 7);
            ulong size = (ulong)((b >> 22) + 1) * (((b >> 12) & 0x3FF) + 1) * ((b & 0xFFF) + 1) * (c + 1);
            Assert.Equal(sizes[i], size);
        }
        Assert.Equal(0u, Cpuid(mode, 4, 4).A & 0x1F);
        Assert.Equal(0xFFu, (Cpuid(mode, 2).A >> 8) & 0xFF); // leaf 2 defers to leaf 4
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Cpuid_ExtendedLeaves_LongModeBrandAndAddressSizes(ExecutionMode mode)
    {
        Assert.Equal(0x8000_0008u, Cpuid(mode, 0x8000_0000).A);
        var (_, _, c1, d1) = Cpuid(mode, 0x8000_0001);
        Assert.Equal(1u << 11 | 1u << 20 | 1u << 29, d1);
        Assert.Equal(1u | 1u << 5, c1);
        var l2 = Cpuid(mode, 0x8000_0002);
        var l3 = Cpuid(mode, 0x8000_0003);
        var l4 = Cpuid(mode, 0x8000_0004);
        Assert.Equal("Hv virtual CPU", Ascii(l2.A, l2.B, l2.C, l2.D, l3.A, l3.B, l3.C, l3.D, l4.A, l4.B, l4.C, l4.D));
        Assert.Equal(256u, Cpuid(mode, 0x8000_0006).C >> 16);
        Assert.Equal(0x3027u, Cpuid(mode, 0x8000_0008).A);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Cpuid_LeafAboveMax_ReturnsHighestBasicLeaf(ExecutionMode mode)
    {
        Assert.Equal(Cpuid(mode, CpuidModel.MaxBasicLeaf), Cpuid(mode, 0x20));
        Assert.Equal(Cpuid(mode, CpuidModel.MaxBasicLeaf), Cpuid(mode, 0x8000_0100));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Rdtsc_TwoReads_Increase(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a =>
        {
            a.rdtsc();
            a.push(rdx);
            a.push(rax);
            a.rdtscp();
        });
        m.State[Gpr.Rcx] = 77;
        AssertHalted(m.Run());
        ulong top = TestMachine.StackTop - 0x100;
        ulong first = (m.ReadData64(top - 8) << 32) | m.ReadData64(top - 16);
        ulong second = (m.State[Gpr.Rdx] << 32) | m.State[Gpr.Rax];
        Assert.True(m.State[Gpr.Rax] <= uint.MaxValue && m.State[Gpr.Rdx] <= uint.MaxValue);
        Assert.True(second >= first);
        Assert.True(first > 0);
        Assert.Equal(0UL, m.State[Gpr.Rcx]); // TSC_AUX
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void HintsAndNops_ChangeNothing(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a =>
        {
            a.endbr64();
            a.pause();
            a.nop();
            a.db(0x66, 0x90);                                     // xchg ax,ax = 2-byte nop
            a.db(0x0F, 0x1F, 0x44, 0x00, 0x00);                   // nop dword [rax+rax]
            a.db(0x66, 0x2E, 0x0F, 0x1F, 0x84, 0, 0, 0, 0, 0);    // nop word cs:[rax+rax]
            a.db(0x0F, 0x1E, 0xC8);                               // reserved-nop space (0F 1E /r)
            a.prefetchnta(__byte_ptr[rbx]);
            a.prefetcht0(__byte_ptr[rbx]);
            a.prefetchw(__byte_ptr[rbx]);
            a.lfence();
            a.sfence();
            a.mfence();
            a.clflush(__byte_ptr[rcx]);
        });
        m.State[Gpr.Rbx] = 0x1000; // prefetches of unmapped memory never fault
        m.State[Gpr.Rcx] = Data;
        m.State.RFlags = 0x202 | (ulong)RFlags.CF;
        var before = new CpuState();
        before.CopyFrom(m.State);
        AssertHalted(m.Run());
        Assert.Equal(before.Gpr, m.State.Gpr);
        Assert.Equal(before.RFlags, m.State.RFlags);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Clflush_Unmapped_PageFault(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a => a.clflush(__byte_ptr[rcx]));
        m.State[Gpr.Rcx] = 0x1000;
        StopReason stop = m.Run();
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.PageNotMapped, stop.Fault!.Value.Kind);
        Assert.Equal(0x1000UL, stop.Fault.Value.Address);
    }

    public static TheoryData<ExecutionMode, int> ModesAndUndefined()
    {
        var d = new TheoryData<ExecutionMode, int>();
        foreach (var mode in new[] { ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered })
            for (int i = 0; i < 4; i++) d.Add(mode, i);
        return d;
    }

    [Theory]
    [MemberData(nameof(ModesAndUndefined))]
    public void UndefinedOpcodes_InvalidOpcodeAtInstruction(ExecutionMode mode, int which)
    {
        byte[][] encodings =
        [
            [0x0F, 0x0B],              // ud2
            [0x0F, 0xB9, 0xC0],        // ud1 eax, eax
            [0x0F, 0xFF, 0xC0],        // ud0 eax, eax
            [0x0F, 0x01, 0xD0],        // xgetbv (OSXSAVE not advertised)
        ];
        var m = new TestMachine(mode).Load(a => { a.nop(); a.db(encodings[which]); });
        StopReason stop = m.Run();
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.InvalidOpcode, stop.Fault!.Value.Kind);
        Assert.Equal(Code + 1, m.State.Rip);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Int3_BreakpointWithTrapAddressAfterInstruction(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a => { a.nop(); a.int3(); });
        StopReason stop = m.Run();
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.Breakpoint, stop.Fault!.Value.Kind);
        Assert.Equal(Code + 1, m.State.Rip);           // restartable RIP, like every fault
        Assert.Equal(Code + 2, stop.Fault.Value.Address); // where Linux reports the trap
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void IntImm3_TrapsLikeInt3(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a => a.db(0xCD, 0x03));
        StopReason stop = m.Run();
        Assert.Equal(FaultKind.Breakpoint, stop.Fault!.Value.Kind);
        Assert.Equal(Code, m.State.Rip);
        Assert.Equal(Code + 2, stop.Fault.Value.Address);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Int1_DebugTrapWithTrapAddress(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a => a.db(0xF1));
        StopReason stop = m.Run();
        Assert.Equal(FaultKind.DebugTrap, stop.Fault!.Value.Kind);
        Assert.Equal(Code, m.State.Rip);
        Assert.Equal(Code + 1, stop.Fault.Value.Address);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void IntN_GeneralProtection(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a => a.@int(0x80));
        StopReason stop = m.Run();
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.GeneralProtection, stop.Fault!.Value.Kind);
        Assert.Equal(Code, m.State.Rip);
    }

    [Fact]
    public void CpuidModel_Leaf1Edx_HasNoUnimplementedExtras()
    {
        // Only FPU TSC CX8 CMOV CLFSH MMX FXSR SSE SSE2.
        Assert.Equal(0x0788_8111u, CpuidModel.Leaf1Edx);
    }
}
