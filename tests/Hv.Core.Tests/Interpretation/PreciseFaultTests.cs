using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Iced.Intel;

namespace Hv.Core.Tests.Interpretation;

/// <summary>
/// Every memory-destination encoding of the integer group against a read-only page (Hv only): writers fault
/// with RIP, registers, flags and memory unchanged (also when the operand straddles into the read-only page
/// from a writable one); CMP/TEST/BT only read and complete, as do writes that stay in the writable page.
/// </summary>
public sealed class PreciseFaultTests
{
    private static readonly Mnemonic[] Writers =
    [
        Mnemonic.Add, Mnemonic.Or, Mnemonic.Adc, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Sub, Mnemonic.Xor, Mnemonic.Neg, Mnemonic.Not,
        Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Mov, Mnemonic.Xchg, Mnemonic.Xadd, Mnemonic.Cmpxchg, Mnemonic.Cmpxchg8b,
        Mnemonic.Cmpxchg16b, Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr, Mnemonic.Sar, Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl,
        Mnemonic.Rcr, Mnemonic.Shld, Mnemonic.Shrd, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Movbe, Mnemonic.Sete,
        Mnemonic.Setne, Mnemonic.Setb, Mnemonic.Setg,
    ];

    private static readonly Mnemonic[] Readers = [Mnemonic.Cmp, Mnemonic.Test, Mnemonic.Bt];

    public static TheoryData<ExecutionMode, IntegerForm> Cases
    {
        get
        {
            var data = new TheoryData<ExecutionMode, IntegerForm>();
            foreach (ExecutionMode mode in (ExecutionMode[])[ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered])
                foreach (Mnemonic m in (Mnemonic[])[.. Writers, .. Readers])
                    foreach (IntegerForm form in IntegerOracle.Forms(m))
                    {
                        Instruction ins = IntegerOracle.Build(form);
                        if (ins.Op0Kind != OpKind.Memory) continue;
                        // A zero immediate count writes nothing.
                        if (ins.OpCount > 1 && ins.GetOpKind(ins.OpCount - 1) == OpKind.Immediate8 && ins.Mnemonic is Mnemonic.Shl or Mnemonic.Sal
                                or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr or Mnemonic.Shld
                                or Mnemonic.Shrd && (ins.GetImmediate(ins.OpCount - 1) & 31) == 0)
                            continue;
                        data.Add(mode, form);
                    }
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MemoryDestination_ReadOnlyPage_FaultsPreciselyOrReads(ExecutionMode mode, IntegerForm form)
    {
        Instruction ins = IntegerOracle.Build(form);
        var m = new TestMachine(mode);
        m.Load(a => a.AddInstruction(ins));
        Assert.True(m.Memory.Protect(IntegerOracle.MemoryBase, 0x1000, PagePermissions.Read));
        var random = new Random((int)form.Code);
        CpuSnapshot init = IntegerOracle.State(ins, random, (ulong)random.NextInt64(), 5, 5);
        init[Gpr.Rcx] = (init[Gpr.Rcx] & ~0xFFUL) | 5; // nonzero CL count
        StopReason stop = m.RunSnapshot(init, out CpuSnapshot final);
        // [rdi-3] with a byte or word operand stays in the writable page below.
        ulong address = IntegerOracle.MemoryBase + ins.MemoryDisplacement64;
        bool touchesReadOnly = address + (ulong)ins.MemorySize.GetSize() > IntegerOracle.MemoryBase;
        bool writes = Array.IndexOf(Readers, ins.Mnemonic) < 0 && touchesReadOnly;
        if (!writes)
        {
            Assert.Equal(StopKind.Halted, stop.Kind);
            return;
        }
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.PageProtection, stop.Fault!.Value.Kind);
        Assert.Equal(TestMachine.CodeBase, m.State.Rip);
        Assert.Equal(init.Gpr, final.Gpr);
        Assert.Equal(init.RFlags & CpuSnapshot.ComparedFlags, final.RFlags & CpuSnapshot.ComparedFlags);
        Assert.Equal(init.Data, final.Data);
    }
}
