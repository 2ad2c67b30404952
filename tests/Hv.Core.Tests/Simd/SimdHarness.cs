using System.Runtime.Intrinsics;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Iced.Intel;

namespace Hv.Core.Tests.Simd;

/// <summary>Runs SIMD/x87 snippets on a bare test machine with RSI pointing at the (16-byte aligned) data area.</summary>
internal static class SimdHarness
{
    public const ulong Data = TestMachine.DataBase;

    public static TestMachine Create(ExecutionMode mode, Action<Assembler> code)
    {
        var m = new TestMachine(mode).Load(code);
        m.State[Gpr.Rsi] = Data;
        return m;
    }

    public static TestMachine RunToHalt(TestMachine m)
    {
        StopReason stop = m.Run();
        Assert.True(stop.Kind == StopKind.Halted, $"expected halt, got {stop.Kind}: {stop.Message}");
        return m;
    }

    public static GuestFault RunToFault(TestMachine m)
    {
        StopReason stop = m.Run();
        Assert.True(stop.Kind == StopKind.Faulted, $"expected fault, got {stop.Kind}: {stop.Message}");
        return stop.Fault!.Value;
    }

    public static void Write(TestMachine m, ulong address, ReadOnlySpan<byte> bytes) =>
        Assert.True(m.Memory.TryWrite(address, bytes, checkPermissions: false));

    public static void Write64(TestMachine m, ulong address, ulong value) => Write(m, address, BitConverter.GetBytes(value));

    public static void WriteDouble(TestMachine m, ulong address, double value) => Write64(m, address, BitConverter.DoubleToUInt64Bits(value));

    public static byte[] Read(TestMachine m, ulong address, int length)
    {
        var b = new byte[length];
        Assert.True(m.Memory.TryRead(address, b, checkPermissions: false));
        return b;
    }

    public static ref Vector128<byte> Xmm(TestMachine m, int index) => ref m.State.Xmm(index);

    public static ulong XmmLow(TestMachine m, int index) => m.State.Xmm(index).AsUInt64().GetElement(0);

    public static ulong XmmHigh(TestMachine m, int index) => m.State.Xmm(index).AsUInt64().GetElement(1);

    public static void SetXmm(TestMachine m, int index, ulong low, ulong high) =>
        m.State.Xmm(index) = Vector128.Create(low, high).AsByte();

    public static void SetXmmDouble(TestMachine m, int index, double value) =>
        SetXmm(m, index, BitConverter.DoubleToUInt64Bits(value), 0);

    /// <summary>Address of the <paramref name="index"/>-th instruction of the loaded code.</summary>
    public static ulong InstructionAddress(TestMachine m, int index)
    {
        byte[] code = Read(m, TestMachine.CodeBase, 256);
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(code), TestMachine.CodeBase);
        ulong ip = TestMachine.CodeBase;
        for (int i = 0; i <= index; i++)
        {
            decoder.Decode(out Instruction ins);
            ip = ins.IP;
        }
        return ip;
    }
}
