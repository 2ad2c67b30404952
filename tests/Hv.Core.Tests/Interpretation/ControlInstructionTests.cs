using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Interpretation;

public sealed class ControlInstructionTests
{
    private const ulong Code = TestMachine.CodeBase;
    private const ulong Data = TestMachine.DataBase;
    private const ulong Top = TestMachine.StackTop - 0x100; // initial RSP
    private const ulong Status = (ulong)RFlags.Status;

    private static (TestMachine M, StopReason Stop) Run(ExecutionMode mode, Action<Assembler> code, Action<TestMachine>? setup = null)
    {
        var m = new TestMachine(mode).Load(code);
        setup?.Invoke(m);
        StopReason stop = m.Run();
        return (m, stop);
    }

    private static void AssertHalted(StopReason stop) => Assert.True(stop.Kind == StopKind.Halted, stop.Message ?? stop.Kind.ToString());

    private static GuestFault AssertFaulted(StopReason stop)
    {
        Assert.Equal(StopKind.Faulted, stop.Kind);
        return stop.Fault!.Value;
    }

    // ---- jumps ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Jmp_Relative_SkipsOverCode(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            Label over = a.CreateLabel();
            a.jmp(over);
            a.ud2();
            a.Label(ref over);
            a.nop();
        });
        AssertHalted(stop);
        Assert.Equal(Code + 2 + 2 + 1 + 1, m.State.Rip); // jmp rel8, ud2, nop, hlt
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Jmp_IndirectRegisterAndMemory_ReachesTargets(ExecutionMode mode)
    {
        // jmp rax → hlt at Code+0x20 ; second run: jmp [Data] → hlt at Code+0x30.
        var (m, stop) = Run(mode, a =>
        {
            a.jmp(rax);                   // 2 bytes
            a.jmp(__qword_ptr[rbx]);      // 2 bytes
            for (int i = 0; i < 0x40; i++) a.hlt();
        }, t => { t.State[Gpr.Rax] = Code + 0x20; });
        AssertHalted(stop);
        Assert.Equal(Code + 0x21, m.State.Rip);

        Assert.True(m.Memory.TryWrite(Data, BitConverter.GetBytes(Code + 0x30)));
        m.State[Gpr.Rbx] = Data;
        m.State.Rip = Code + 2;
        AssertHalted(m.Run());
        Assert.Equal(Code + 0x31, m.State.Rip);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void JmpCall_RipRelativeSlot_PltStyle(ExecutionMode mode)
    {
        // jmp [rip+slot] as in a PLT stub, and call [rip+slot] as in -fno-plt code; "rep ret" returns too.
        var (m, stop) = Run(mode, a =>
        {
            Label slot = a.CreateLabel(), slot2 = a.CreateLabel(), back = a.CreateLabel();
            a.call(__qword_ptr[slot]); // Code+0, 6 bytes
            a.jmp(__qword_ptr[slot2]); // Code+6, 6 bytes
            a.Label(ref slot);         // Code+12
            a.dq(Code + 28);
            a.Label(ref slot2);        // Code+20
            a.dq(Code + 31);
            a.nop();                   // Code+28: callee
            a.db(0xF3, 0xC3);          // rep ret
            a.Label(ref back);         // Code+31: jump target
        });
        AssertHalted(stop);
        Assert.Equal(Code + 32, m.State.Rip);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
        Assert.Equal(Code + 6, m.ReadData64(Top - 8));
    }

    public static TheoryData<ExecutionMode, bool> ModesAndEncodings()
    {
        var d = new TheoryData<ExecutionMode, bool>();
        foreach (var mode in new[] { ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered })
        {
            d.Add(mode, false);
            d.Add(mode, true);
        }
        return d;
    }

    private static bool Expected(int cc, ulong f)
    {
        bool cf = (f & (ulong)RFlags.CF) != 0, pf = (f & (ulong)RFlags.PF) != 0, zf = (f & (ulong)RFlags.ZF) != 0;
        bool sf = (f & (ulong)RFlags.SF) != 0, of = (f & (ulong)RFlags.OF) != 0;
        bool r = (cc >> 1) switch
        {
            0 => of,
            1 => cf,
            2 => zf,
            3 => cf || zf,
            4 => sf,
            5 => pf,
            6 => sf != of,
            _ => zf || sf != of,
        };
        return (cc & 1) == 0 ? r : !r;
    }

    [Theory]
    [MemberData(nameof(ModesAndEncodings))]
    public void Jcc_EveryConditionAndFlagCombination_MatchesArchitecture(ExecutionMode mode, bool rel32)
    {
        // Sixteen snippets "jcc +1; hlt; hlt": the HLT reached tells whether the branch was taken.
        int snippet = rel32 ? 8 : 4;
        var m = new TestMachine(mode).Load(a =>
        {
            for (int cc = 0; cc < 16; cc++)
            {
                if (rel32) a.db(0x0F, (byte)(0x80 + cc), 1, 0, 0, 0, 0xF4, 0xF4);
                else a.db((byte)(0x70 + cc), 1, 0xF4, 0xF4);
            }
        });
        ulong[] bits = [(ulong)RFlags.CF, (ulong)RFlags.PF, (ulong)RFlags.ZF, (ulong)RFlags.SF, (ulong)RFlags.OF];
        for (int cc = 0; cc < 16; cc++)
        {
            for (int combo = 0; combo < 32; combo++)
            {
                ulong flags = 0x202;
                for (int b = 0; b < 5; b++) if ((combo & (1 << b)) != 0) flags |= bits[b];
                ulong start = Code + (ulong)(cc * snippet);
                m.State.Rip = start;
                m.State.RFlags = flags;
                AssertHalted(m.Run());
                bool taken = m.State.Rip == start + (ulong)snippet;
                Assert.True(m.State.Rip == start + (ulong)snippet - 1 || taken);
                Assert.True(Expected(cc, flags) == taken, $"cc {cc} flags 0x{flags:x}");
                Assert.Equal(flags, m.State.RFlags); // branches never change flags
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void JrcxzJecxz_UpperHalfSet_OnlyJecxzTaken(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            Label l1 = a.CreateLabel();
            a.jrcxz(l1);          // not taken: RCX != 0
            a.push(1);
            a.Label(ref l1);
            a.db(0x67, 0xE3, 0x02); // jecxz +2: taken, ECX == 0
            a.push(2);              // 2 bytes
        }, t => t.State[Gpr.Rcx] = 0x1_0000_0000);
        AssertHalted(stop);
        Assert.Equal(Top - 8, m.State[Gpr.Rsp]);
        Assert.Equal(1UL, m.ReadData64(Top - 8));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Loop_FiveIterations_RunsBodyFiveTimes(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            Label top = a.CreateLabel();
            a.Label(ref top);
            a.push(rcx);
            a.loop(top);
        }, t => { t.State[Gpr.Rcx] = 5; t.State.RFlags = 0x202 | (ulong)RFlags.ZF; });
        AssertHalted(stop);
        Assert.Equal(0UL, m.State[Gpr.Rcx]);
        Assert.Equal(Top - 40, m.State[Gpr.Rsp]);
        for (int i = 0; i < 5; i++) Assert.Equal((ulong)(5 - i), m.ReadData64(Top - 8 - (ulong)(8 * i)));
        Assert.Equal(0x202 | (ulong)RFlags.ZF, m.State.RFlags);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void LoopeLoopne_ZeroFlag_StopAfterOneIterationWhenConditionFails(ExecutionMode mode)
    {
        // ZF=0: loope falls through after one decrement, loopne loops until RCX is 0.
        var (m, stop) = Run(mode, a =>
        {
            Label l1 = a.CreateLabel(), l2 = a.CreateLabel();
            a.Label(ref l1);
            a.loope(l1);
            a.push(rcx);
            a.Label(ref l2);
            a.loopne(l2);
            a.push(rcx);
        }, t => { t.State[Gpr.Rcx] = 10; t.State.RFlags = 0x202; });
        AssertHalted(stop);
        Assert.Equal(9UL, m.ReadData64(Top - 8));
        Assert.Equal(0UL, m.ReadData64(Top - 16));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Loop_AddressSize32_CountsEcxAndZeroExtends(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            a.db(0x67, 0xE2, 0xFD); // loop $ with ECX (jumps to itself)
        }, t => t.State[Gpr.Rcx] = 0xFFFF_FFFF_0000_0003);
        AssertHalted(stop);
        Assert.Equal(0UL, m.State[Gpr.Rcx]);
    }

    // ---- calls and returns ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void CallRet_Relative_PushesReturnAddressAndComesBack(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            Label f = a.CreateLabel(), end = a.CreateLabel();
            a.call(f);               // 5 bytes; returns to Code+5
            a.jmp(end);
            a.Label(ref f);
            a.push(__qword_ptr[rsp]); // copy the return address where the test can see it after RET
            a.pop(__qword_ptr[rbx]);
            a.ret();
            a.Label(ref end);
        }, t => t.State[Gpr.Rbx] = Data);
        AssertHalted(stop);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
        Assert.Equal(Code + 5, m.ReadData64(Data));
        Assert.Equal(Code + 5, m.ReadData64(Top - 8));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Call_IndirectThroughRsp_UsesRspBeforePush(ExecutionMode mode)
    {
        // call [rsp] reads the target with the old RSP; the callee returns with ret 8 dropping the slot.
        var (m, stop) = Run(mode, a =>
        {
            a.call(__qword_ptr[rsp]); // 3 bytes
            a.hlt();                  // Code+3
            a.nop();                  // Code+4: callee
            a.ret(8);
        }, t =>
        {
            t.State[Gpr.Rsp] = Top - 8;
            Assert.True(t.Memory.TryWrite(Top - 8, BitConverter.GetBytes(Code + 4)));
        });
        AssertHalted(stop);
        Assert.Equal(Code + 4, m.State.Rip);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
        Assert.Equal(Code + 3, m.ReadData64(Top - 16));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Call_IndirectRegister_Works(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            a.call(rax);   // 2 bytes
            a.hlt();       // Code+2
            a.ret();       // Code+3
        }, t => t.State[Gpr.Rax] = Code + 3);
        AssertHalted(stop);
        Assert.Equal(Code + 3, m.State.Rip);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Ret_StackUnmapped_FaultsWithRspAndRipUnchanged(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a => { a.nop(); a.ret(); }, t => t.State[Gpr.Rsp] = 0x1000);
        GuestFault f = AssertFaulted(stop);
        Assert.Equal(FaultKind.PageNotMapped, f.Kind);
        Assert.Equal(0x1000UL, f.Address);
        Assert.Equal(AccessKind.Read, f.Access);
        Assert.Equal(Code + 1, m.State.Rip);
        Assert.Equal(0x1000UL, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Call_StackUnmapped_FaultsWithRspAndRipUnchanged(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            Label f = a.CreateLabel();
            a.nop();
            a.call(f);
            a.Label(ref f);
        }, t => t.State[Gpr.Rsp] = 0x2000);
        GuestFault f = AssertFaulted(stop);
        Assert.Equal(FaultKind.PageNotMapped, f.Kind);
        Assert.Equal(0x1FF8UL, f.Address);
        Assert.Equal(AccessKind.Write, f.Access);
        Assert.Equal(Code + 1, m.State.Rip);
        Assert.Equal(0x2000UL, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Call_StackReadOnly_FaultsWithProtection(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a => a.call(rax), t =>
        {
            Assert.True(t.Memory.Protect(TestMachine.StackTop - 0x1000, 0x1000, PagePermissions.Read));
            t.State[Gpr.Rax] = Code;
        });
        GuestFault f = AssertFaulted(stop);
        Assert.Equal(FaultKind.PageProtection, f.Kind);
        Assert.Equal(Top - 8, f.Address);
        Assert.Equal(Code, m.State.Rip);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Jmp_UnmappedTarget_FaultsWithRipAtTarget(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a => a.jmp(rax), t => t.State[Gpr.Rax] = 0x1234_5000);
        GuestFault f = AssertFaulted(stop);
        Assert.Equal(FaultKind.PageNotMapped, f.Kind);
        Assert.Equal(AccessKind.Execute, f.Access);
        Assert.Equal(0x1234_5000UL, f.Address);
        Assert.Equal(0x1234_5000UL, m.State.Rip);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Ret_ToNonExecutablePage_FaultsWithRipAtTarget(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a => a.ret(), t =>
        {
            Assert.True(t.Memory.TryWrite(Top, BitConverter.GetBytes(Data + 0x10)));
        });
        GuestFault f = AssertFaulted(stop);
        Assert.Equal(FaultKind.PageProtection, f.Kind);
        Assert.Equal(AccessKind.Execute, f.Access);
        Assert.Equal(Data + 0x10, f.Address);
        Assert.Equal(Data + 0x10, m.State.Rip);
        Assert.Equal(Top + 8, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void FallThrough_IntoUnmappedPage_FaultsAtPageStart(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a => { for (int i = 0; i < 0x1000; i++) a.nop(); });
        m.Memory.Unmap(Code + 0x1000, 0x1000);
        GuestFault f = AssertFaulted(m.Run());
        Assert.Equal(FaultKind.PageNotMapped, f.Kind);
        Assert.Equal(AccessKind.Execute, f.Access);
        Assert.Equal(Code + 0x1000, f.Address);
        Assert.Equal(Code + 0x1000, m.State.Rip);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void InstructionStraddlingIntoUnmappedPage_FaultsWithRipAtInstruction(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a =>
        {
            for (int i = 0; i < 0xFFE; i++) a.nop();
            a.push(0x12345678); // 5 bytes: 2 on the first page, 3 on the unmapped one
        });
        m.Memory.Unmap(Code + 0x1000, 0x1000);
        GuestFault f = AssertFaulted(m.Run());
        Assert.Equal(FaultKind.PageNotMapped, f.Kind);
        Assert.Equal(Code + 0x1000, f.Address);
        Assert.Equal(Code + 0xFFE, m.State.Rip);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Jmp_NonCanonicalTarget_GeneralProtectionAtBranch(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a => { a.nop(); a.jmp(rax); }, t => t.State[Gpr.Rax] = 0x8000_0000_0000_0000);
        GuestFault f = AssertFaulted(stop);
        Assert.Equal(FaultKind.GeneralProtection, f.Kind);
        Assert.Equal(Code + 1, m.State.Rip);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RetImm_PopsExtraBytes(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            Label f = a.CreateLabel(), end = a.CreateLabel();
            a.push(7);
            a.push(8);
            a.call(f);
            a.jmp(end);
            a.Label(ref f);
            a.ret(16);
            a.Label(ref end);
        });
        AssertHalted(stop);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
    }

    // ---- push / pop ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void PushPop_RegistersImmediatesMemory_MoveValuesThroughStack(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            a.push(rax);
            a.pop(r9);                 // r9 = rax
            a.push(-2);                // imm8, sign-extended
            a.pop(r10);
            a.push(0x12345678);        // imm32
            a.pop(r11);
            a.push(__qword_ptr[rbx]);  // memory source
            a.pop(__qword_ptr[rbx + 8]); // memory destination
        }, t =>
        {
            t.State[Gpr.Rax] = 0x1122_3344_5566_7788;
            t.State[Gpr.Rbx] = Data;
            Assert.True(t.Memory.TryWrite(Data, BitConverter.GetBytes(0xDEAD_BEEF_CAFE_F00DUL)));
        });
        AssertHalted(stop);
        Assert.Equal(0x1122_3344_5566_7788UL, m.State[Gpr.R9]);
        Assert.Equal(0xFFFF_FFFF_FFFF_FFFEUL, m.State[Gpr.R10]);
        Assert.Equal(0x12345678UL, m.State[Gpr.R11]);
        Assert.Equal(0xDEAD_BEEF_CAFE_F00DUL, m.ReadData64(Data + 8));
        Assert.Equal(Top, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void PushRspPopRsp_UseOldValueAndLoadedValue(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            a.push(rsp);
            a.pop(rax);            // rax = Top
            a.push(rbx);
            a.pop(rsp);            // rsp = loaded value, not +8
        }, t => t.State[Gpr.Rbx] = Data + 0x100);
        AssertHalted(stop);
        Assert.Equal(Top, m.State[Gpr.Rax]);
        Assert.Equal(Data + 0x100, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void PopMemory_RspBasedDestination_UsesIncrementedRsp(ExecutionMode mode)
    {
        // pop [rsp]: the address is computed after RSP += 8, so the value lands in the next slot.
        var (m, stop) = Run(mode, a =>
        {
            a.push(5);
            a.push(6);
            a.pop(__qword_ptr[rsp]);
        });
        AssertHalted(stop);
        Assert.Equal(Top - 8, m.State[Gpr.Rsp]);
        Assert.Equal(6UL, m.ReadData64(Top - 8));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void PopMemory_DestinationUnmapped_FaultsWithRspUnchanged(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            a.push(5);
            a.pop(__qword_ptr[rbx]);
        }, t => t.State[Gpr.Rbx] = 0x3000);
        GuestFault f = AssertFaulted(stop);
        Assert.Equal(FaultKind.PageNotMapped, f.Kind);
        Assert.Equal(0x3000UL, f.Address);
        Assert.Equal(Top - 8, m.State[Gpr.Rsp]);
        Assert.Equal(Code + 2, m.State.Rip);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Push16Pop16_MoveTwoBytesAndMergeRegister(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            a.db(0x66, 0x68, 0x34, 0x12); // push word 0x1234
            a.db(0x66, 0x6A, 0xFE);       // push word -2
            a.push(ax);
            a.pop(bx);                    // bx = ax, rest of rbx kept
            a.pop(cx);                    // 0xFFFE
            a.pop(__word_ptr[rdi]);
        }, t =>
        {
            t.State[Gpr.Rax] = 0xAAAA_BBBB_CCCC_5678;
            t.State[Gpr.Rbx] = 0x1111_2222_3333_4444;
            t.State[Gpr.Rcx] = 0;
            t.State[Gpr.Rdi] = Data;
        });
        AssertHalted(stop);
        Assert.Equal(0x1111_2222_3333_5678UL, m.State[Gpr.Rbx]);
        Assert.Equal(0xFFFEUL, m.State[Gpr.Rcx]);
        Assert.Equal(0x1234UL, m.ReadData64(Data));
        Assert.Equal(Top, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void PushFs_PushesNullSelector(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a => a.push(fs), t =>
        {
            t.State.FsBase = 0x1234;
            Assert.True(t.Memory.TryWrite(Top - 8, BitConverter.GetBytes(ulong.MaxValue)));
        });
        AssertHalted(stop);
        Assert.Equal(Top - 8, m.State[Gpr.Rsp]);
        Assert.Equal(0UL, m.ReadData64(Top - 8));
    }

    // ---- flags ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Pushfq_StoresMaterializedFlags(ExecutionMode mode)
    {
        ulong flags = 0x202 | (ulong)(RFlags.CF | RFlags.ZF | RFlags.DF | RFlags.OF);
        var (m, stop) = Run(mode, a => a.pushfq(), t => t.State.RFlags = flags);
        AssertHalted(stop);
        Assert.Equal(flags, m.ReadData64(Top - 8));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Popfq_AllBitsSet_ChangesOnlyUserModifiableFlags(ExecutionMode mode)
    {
        // Everything but TF (single-stepping is not what this test is about).
        ulong image = ~(ulong)RFlags.TF;
        var (m, stop) = Run(mode, a => { a.push(rax); a.popfq(); }, t => t.State[Gpr.Rax] = image);
        AssertHalted(stop);
        ulong expected = 0x202 | Status | (ulong)(RFlags.DF | RFlags.AC | RFlags.ID);
        Assert.Equal(expected, m.State.RFlags);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Popfq_ZeroImage_KeepsIfAndReservedBit(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a => { a.push(0); a.popfq(); },
            t => t.State.RFlags = 0x202 | Status | (ulong)RFlags.DF);
        AssertHalted(stop);
        Assert.Equal(0x202UL, m.State.RFlags);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Popfw_ChangesLowSixteenBitsOnly(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            a.db(0x66, 0x6A, 0xC1); // push word 0xFFC1: CF, SF, ZF, TF... minus TF below
            a.db(0x66, 0x9D);       // popf (16-bit)
        }, t => t.State.RFlags = 0x202 | (ulong)RFlags.AC);
        AssertHalted(stop);
        // 0xFFC1 & mask(CF PF AF ZF SF TF DF OF) = CF|ZF|SF|TF|DF|OF; TF shows up as stored.
        ulong expected = 0x202 | (ulong)(RFlags.AC | RFlags.CF | RFlags.ZF | RFlags.SF | RFlags.TF | RFlags.DF | RFlags.OF);
        Assert.Equal(expected, m.State.RFlags);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
    }

    // ---- frames ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void EnterLeave_LevelZero_BuildsAndTearsDownFrame(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a =>
        {
            a.enter(32, 0);
            a.push(rbp);
            a.push(rsp);
            a.pop(rcx);
            a.pop(rdx);
            a.leave();
        }, t => t.State[Gpr.Rbp] = 0xB0B0);
        AssertHalted(stop);
        Assert.Equal(Top - 8, m.State[Gpr.Rdx]);            // RBP inside the frame
        Assert.Equal(Top - 8 - 32 - 8, m.State[Gpr.Rcx]);   // RSP inside the frame, after one push
        Assert.Equal(0xB0B0UL, m.State[Gpr.Rbp]);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Enter_NestingLevelThree_CopiesDisplay(ExecutionMode mode)
    {
        // The enclosing frame's display: [rbp-8] and [rbp-16] hold two outer frame pointers.
        ulong rbp = Data + 0x100;
        var (m, stop) = Run(mode, a => a.enter(16, 3), t =>
        {
            t.State[Gpr.Rbp] = rbp;
            Assert.True(t.Memory.TryWrite(rbp - 8, BitConverter.GetBytes(0x1111UL)));
            Assert.True(t.Memory.TryWrite(rbp - 16, BitConverter.GetBytes(0x2222UL)));
        });
        AssertHalted(stop);
        ulong frame = Top - 8;
        Assert.Equal(rbp, m.ReadData64(frame));
        Assert.Equal(0x1111UL, m.ReadData64(frame - 8));
        Assert.Equal(0x2222UL, m.ReadData64(frame - 16));
        Assert.Equal(frame, m.ReadData64(frame - 24));
        Assert.Equal(frame, m.State[Gpr.Rbp]);
        Assert.Equal(frame - 24 - 16, m.State[Gpr.Rsp]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Leave_RbpUnmapped_FaultsWithRegistersUnchanged(ExecutionMode mode)
    {
        var (m, stop) = Run(mode, a => a.leave(), t => t.State[Gpr.Rbp] = 0x5000);
        GuestFault f = AssertFaulted(stop);
        Assert.Equal(0x5000UL, f.Address);
        Assert.Equal(0x5000UL, m.State[Gpr.Rbp]);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
        Assert.Equal(Code, m.State.Rip);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RecursiveCalls_DeepChain_Unwinds(ExecutionMode mode)
    {
        // f: loop pushes until RCX is 0 via recursion: call f while --rcx != 0, then ret all the way.
        var (m, stop) = Run(mode, a =>
        {
            Label f = a.CreateLabel(), done = a.CreateLabel(), end = a.CreateLabel();
            a.call(f);
            a.jmp(end);
            a.Label(ref f);
            a.loop(done); // not at zero yet → go recurse
            a.ret();
            a.Label(ref done);
            a.call(f);
            a.ret();
            a.Label(ref end);
        }, t => t.State[Gpr.Rcx] = 1000);
        AssertHalted(stop);
        Assert.Equal(0UL, m.State[Gpr.Rcx]);
        Assert.Equal(Top, m.State[Gpr.Rsp]);
    }
}
