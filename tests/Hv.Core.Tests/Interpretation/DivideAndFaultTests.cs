using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Interpretation;

/// <summary>DIV/IDIV against the host (inputs that cannot fault), and guest faults checked under Hv only.</summary>
public sealed class DivideAndFaultTests
{
    private const ulong AllStatus = (ulong)RFlags.Status;

    private static readonly ExecutionMode[] Modes = [ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered];

    public static TheoryData<ExecutionMode, IntegerForm> DivideCases
    {
        get
        {
            var data = new TheoryData<ExecutionMode, IntegerForm>();
            foreach (ExecutionMode mode in Modes)
                foreach (Mnemonic m in (Mnemonic[])[Mnemonic.Div, Mnemonic.Idiv])
                    foreach (IntegerForm form in IntegerOracle.Forms(m))
                        data.Add(mode, form);
            return data;
        }
    }

    /// <summary>
    /// Divisors are edge and random values; the dividend is built as quotient * divisor + remainder with a
    /// quotient that fits, so the native run never raises #DE (which would kill the test host).
    /// </summary>
    [Theory]
    [MemberData(nameof(DivideCases))]
    public void Divide_NonFaultingInputs_MatchHost(ExecutionMode mode, IntegerForm form)
    {
        Instruction ins = IntegerOracle.Build(form);
        int size = IntegerOracle.OperandSize(form.Code);
        int bits = size * 8;
        bool signed = ins.Mnemonic == Mnemonic.Idiv;
        using var oracle = new OracleCase(mode, a => a.AddInstruction(ins));
        var random = new Random((int)form.Code * 7 + form.Variant);
        ulong[] edges = IntegerOracle.EdgeValues(size);
        int runs = 0;
        for (int i = 0; i < 40; i++)
        {
            ulong divisorBits = i < edges.Length ? edges[i] : (ulong)random.NextInt64() >> random.Next(64);
            divisorBits &= size == 8 ? ulong.MaxValue : (1UL << bits) - 1;
            if (divisorBits == 0) divisorBits = 3;
            Int128 divisor = signed ? (Int128)(long)Hv.Core.Interpretation.Operands.SignExtend(divisorBits, size) : (Int128)divisorBits;
            // Quotient: an edge of its range or random; remainder below |divisor| with the dividend's sign.
            Int128 qMax = signed ? (Int128.One << (bits - 1)) - 1 : (Int128.One << bits) - 1;
            Int128 qMin = signed ? -(Int128.One << (bits - 1)) : 0;
            Int128 q = (i % 4) switch
            {
                0 => qMax,
                1 => qMin,
                2 => 0,
                _ => qMin + (Int128)(UInt128)((ulong)random.NextInt64()) % (qMax - qMin + 1),
            };
            Int128 absDivisor = Int128.Abs(divisor);
            Int128 r = (Int128)(UInt128)(ulong)random.NextInt64() % absDivisor;
            Int128 product = q * divisor;
            if (product < 0 || (product == 0 && random.Next(2) == 0 && signed)) r = -r;
            Int128 dividend = product + r;
            if (signed && q == qMin && divisor < 0 && r != 0) continue; // would round out of range
            CpuSnapshot s = IntegerOracle.State(ins, random, divisorBits, 0);
            UInt128 u = (UInt128)dividend;
            ulong low = (ulong)u, high = (ulong)(u >> 64);
            switch (size)
            {
                case 1: IntegerOracle.PlaceRegister(s, Register.AX, low); break;
                case 2:
                    IntegerOracle.PlaceRegister(s, Register.AX, low);
                    IntegerOracle.PlaceRegister(s, Register.DX, low >> 16);
                    break;
                case 4:
                    IntegerOracle.PlaceRegister(s, Register.EAX, low);
                    IntegerOracle.PlaceRegister(s, Register.EDX, low >> 32);
                    break;
                default:
                    s[Gpr.Rax] = low;
                    s[Gpr.Rdx] = high;
                    break;
            }
            if (ins.Op0Kind == OpKind.Register && (Hv.Core.Interpretation.Operands.GprIndex(ins.Op0Register) is 0 or 2)) continue; // divisor is part of the dividend
            oracle.Run(s).AssertSame(AllStatus, $"{form} [{ins}] divisor=0x{divisorBits:x} dividend={dividend}");
            runs++;
        }
        Assert.True(runs > 0 || ins.Op0Kind == OpKind.Register);
    }

    private static (TestMachine Machine, StopReason Stop) RunFaulting(ExecutionMode mode, Action<Assembler> code, Action<CpuState> setup)
    {
        var m = new TestMachine(mode);
        m.Load(code);
        setup(m.State);
        return (m, m.Run());
    }

    private static void AssertFault(TestMachine m, StopReason stop, FaultKind kind, ulong[] gprBefore, ulong flagsBefore, ulong rip)
    {
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(kind, stop.Fault!.Value.Kind);
        Assert.Equal(rip, m.State.Rip);
        Assert.Equal(gprBefore, m.State.Gpr);
        Assert.Equal(flagsBefore & AllStatus, m.State.RFlags & AllStatus);
    }

    public static TheoryData<ExecutionMode, string> DivideFaultCases
    {
        get
        {
            var data = new TheoryData<ExecutionMode, string>();
            foreach (ExecutionMode mode in Modes)
                foreach (string c in (string[])["div8-zero", "div64-zero", "div32-overflow", "idiv8-min", "idiv16-min", "idiv32-min",
                             "idiv64-min", "idiv64-wide-overflow", "div64-mem-zero"])
                    data.Add(mode, c);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(DivideFaultCases))]
    public void Divide_ZeroOrOverflow_RaisesDivideErrorWithStateUnchanged(ExecutionMode mode, string name)
    {
        ulong vRax = 0, vRdx = 0, vRbx = 0;
        Action<Assembler> insn;
        switch (name)
        {
            case "div8-zero": vRax = 0x1234; insn = a => a.div(bl); break;
            case "div64-zero": vRax = 5; insn = a => a.div(rbx); break;
            case "div32-overflow": vRax = 0; vRdx = 5; vRbx = 5; insn = a => a.div(ebx); break;
            case "idiv8-min": vRax = 0xFFFF_FF80; vRbx = 0xFF; insn = a => a.idiv(bl); break;
            case "idiv16-min": vRax = 0x8000; vRdx = 0xFFFF; vRbx = 0xFFFF; insn = a => a.idiv(bx); break;
            case "idiv32-min": vRax = 0x8000_0000; vRdx = 0xFFFF_FFFF; vRbx = 0xFFFF_FFFF; insn = a => a.idiv(ebx); break;
            case "idiv64-min": vRax = 0x8000_0000_0000_0000; vRdx = ulong.MaxValue; vRbx = ulong.MaxValue; insn = a => a.idiv(rbx); break;
            case "idiv64-wide-overflow": vRax = 0; vRdx = 1; vRbx = 2; insn = a => a.idiv(rbx); break;
            default: vRax = 7; insn = a => a.div(__qword_ptr[rdi]); break;
        }
        var (m, stop) = RunFaulting(mode, a => { a.mov(rcx, 1); a.add(rcx, rcx); insn(a); a.mov(rax, 0); }, s =>
        {
            s[Gpr.Rax] = vRax;
            s[Gpr.Rdx] = vRdx;
            s[Gpr.Rbx] = vRbx;
            s[Gpr.Rdi] = TestMachine.DataBase;
        });
        // The faulting instruction follows "mov rcx,1" (Iced picks the 10-byte imm64 form) and "add rcx,rcx" (3 bytes).
        ulong[] expected = (ulong[])m.State.Gpr.Clone();
        expected[(int)Gpr.Rax] = vRax;
        expected[(int)Gpr.Rdx] = vRdx;
        expected[(int)Gpr.Rbx] = vRbx;
        expected[(int)Gpr.Rcx] = 2;
        // add rcx,rcx (1 + 1 = 2) leaves every status flag clear.
        AssertFault(m, stop, FaultKind.DivideError, expected, 0, TestMachine.CodeBase + 13);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Cmpxchg16b_Misaligned_RaisesGeneralProtection(ExecutionMode mode)
    {
        var (m, stop) = RunFaulting(mode, a => a.cmpxchg16b(__xmmword_ptr[rdi + 8]), s =>
        {
            s[Gpr.Rdi] = TestMachine.DataBase;
            s[Gpr.Rax] = 1;
        });
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.GeneralProtection, stop.Fault!.Value.Kind);
        Assert.Equal(TestMachine.CodeBase, m.State.Rip);
        Assert.Equal(1UL, m.State[Gpr.Rax]);
    }

    public static TheoryData<ExecutionMode, string> ReadOnlyStoreCases
    {
        get
        {
            var data = new TheoryData<ExecutionMode, string>();
            foreach (ExecutionMode mode in Modes)
                foreach (string c in (string[])["add", "adc", "neg", "inc", "xchg", "xadd", "cmpxchg", "cmpxchg8b", "shl", "rcl", "shld",
                             "bts-reg", "btc-imm", "setne", "mov", "not", "movbe", "sub-straddle"])
                    data.Add(mode, c);
            return data;
        }
    }

    /// <summary>A read-modify-write into a read-only page faults with registers, flags and memory unchanged.</summary>
    [Theory]
    [MemberData(nameof(ReadOnlyStoreCases))]
    public void MemoryDestination_ReadOnlyPage_FaultsWithStateUnchanged(ExecutionMode mode, string name)
    {
        const ulong ReadOnlyPage = TestMachine.DataBase + 0x8000;
        Action<Assembler> insn = name switch
        {
            "add" => a => a.add(__qword_ptr[rdi], rsi),
            "adc" => a => a.adc(__dword_ptr[rdi], 5),
            "neg" => a => a.neg(__word_ptr[rdi]),
            "inc" => a => a.inc(__byte_ptr[rdi]),
            "xchg" => a => a.xchg(__qword_ptr[rdi], rsi),
            "xadd" => a => a.xadd(__dword_ptr[rdi], esi),
            "cmpxchg" => a => a.cmpxchg(__qword_ptr[rdi], rsi),
            "cmpxchg8b" => a => a.cmpxchg8b(__qword_ptr[rdi]),
            "shl" => a => a.shl(__qword_ptr[rdi], cl),
            "rcl" => a => a.rcl(__dword_ptr[rdi], 3),
            "shld" => a => a.shld(__qword_ptr[rdi], rsi, 4),
            "bts-reg" => a => a.bts(__qword_ptr[rdi], rsi),
            "btc-imm" => a => a.btc(__word_ptr[rdi], 3),
            "setne" => a => a.setne(__byte_ptr[rdi]),
            "mov" => a => a.mov(__qword_ptr[rdi], rsi),
            "not" => a => a.not(__qword_ptr[rdi]),
            "movbe" => a => a.movbe(__qword_ptr[rdi], rsi),
            _ => a => a.sub(__qword_ptr[rdi - 4], rsi), // first half writable, second half read-only
        };
        var m = new TestMachine(mode);
        m.Load(a => { a.cmp(rsi, rcx); insn(a); a.mov(rax, 0); });
        m.Memory.Map(ReadOnlyPage, 0x1000, PagePermissions.Read, "ro");
        byte[] before = new byte[16];
        Assert.True(m.Memory.TryWrite(ReadOnlyPage - 8, Enumerable.Range(1, 16).Select(i => (byte)i).ToArray(), checkPermissions: false));
        var s = m.State;
        s[Gpr.Rdi] = ReadOnlyPage;
        s[Gpr.Rsi] = 0x1234;
        s[Gpr.Rcx] = 0x99;
        s[Gpr.Rax] = 0x0403020100;
        StopReason stop = m.Run();
        // After "cmp rsi, rcx" (3 bytes): flags are those of 0x1234 - 0x99.
        ulong flags = s.RFlags;
        var expected = new ulong[16];
        expected[(int)Gpr.Rdi] = ReadOnlyPage;
        expected[(int)Gpr.Rsi] = 0x1234;
        expected[(int)Gpr.Rcx] = 0x99;
        expected[(int)Gpr.Rax] = 0x0403020100;
        expected[(int)Gpr.Rsp] = TestMachine.StackTop - 0x100;
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.PageProtection, stop.Fault!.Value.Kind);
        Assert.Equal(TestMachine.CodeBase + 3, s.Rip);
        Assert.Equal(expected, s.Gpr);
        Assert.Equal((ulong)RFlags.AF, flags & AllStatus); // 0x1234 - 0x99: only the nibble borrow
        Assert.True(m.Memory.TryRead(ReadOnlyPage - 8, before, checkPermissions: false));
        Assert.Equal(Enumerable.Range(1, 16).Select(i => (byte)i).ToArray(), before);
    }
}

/// <summary>LOCK-prefixed read-modify-write instructions are accepted and behave like the plain ones.</summary>
public sealed class LockPrefixTests
{
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void LockedRmw_MemoryOperands_MatchHost(ExecutionMode mode)
    {
        var random = new Random(5);
        using var oracle = new OracleCase(mode, a =>
        {
            a.@lock.add(__qword_ptr[rdi], rsi);
            a.@lock.xadd(__dword_ptr[rdi + 8], ebx);
            a.@lock.cmpxchg(__qword_ptr[rdi + 16], rcx);
            a.@lock.inc(__word_ptr[rdi + 24]);
            a.@lock.bts(__qword_ptr[rdi + 32], rdx);
            a.@lock.cmpxchg16b(__xmmword_ptr[rdi + 48]);
            a.@lock.xchg(__byte_ptr[rdi + 64], al);
            a.@lock.sbb(__dword_ptr[rdi + 72], 0x1234);
            a.@lock.neg(__qword_ptr[rdi + 80]);
        });
        for (int i = 0; i < 10; i++)
        {
            CpuSnapshot s = CpuSnapshot.CreateRandom(random);
            s[Gpr.Rdi] = IntegerOracle.MemoryBase;
            s[Gpr.Rdx] &= 0xFFF; // keeps BTS inside the data window
            if (i % 2 == 0) s[Gpr.Rax] = s.ReadData64(0x1010);
            oracle.Run(s).AssertSame(0, $"iteration {i}");
        }
    }
}
