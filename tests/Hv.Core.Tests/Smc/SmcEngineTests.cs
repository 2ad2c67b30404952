using Hv.Core.Cpu;
using Hv.Core.Decoding;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Smc;
using Hv.Core.Tests.Support;
using Hv.Core.Translation;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Smc;

/// <summary>
/// What the SMC engine decides for a given write: false hits, unchanged bytes, exactly which blocks and units
/// die, chains cut, write protection dropped, precise exits, demotion, TLB flushes, aliases and events.
/// </summary>
public sealed class SmcEngineTests
{
    private const ulong F = TestMachine.CodeBase + 0x1000; // functions live on the second code page
    private const ulong G = F + 0x40;

    /// <summary>
    /// A machine running <paramref name="build"/> from an RWX code page. Translation is synchronous so that
    /// which units exist when the test writes is deterministic (background compilation has its own tests).
    /// </summary>
    private static TestMachine Writable(ExecutionMode mode, Action<Assembler> build)
    {
        var m = new TestMachine(mode, backgroundTranslation: false).Load(build);
        Assert.True(m.Memory.Protect(TestMachine.CodeBase, m.Memory.FindRegion(TestMachine.CodeBase)!.End - TestMachine.CodeBase, PagePermissions.All));
        return m;
    }

    /// <summary>
    /// Main code on page 0 calls F (mov eax, 5; ret) and G (mov esi, 7; ret), both on page 1, four times and
    /// halts; edx sums eax + esi.
    /// </summary>
    private static void CallerOfTwoFunctions(Assembler a)
    {
        a.xor(edx, edx);
        GuestLoops.CountDown(a, 4, b =>
        {
            b.call(F);
            b.add(edx, eax);
            b.call(G);
            b.add(edx, esi);
        });
        a.hlt();
        ReturnFiveAt(a, F);
        PadTo(a, G);
        a.AddInstruction(Instruction.Create(Code.Mov_r32_imm32, Register.ESI, 7));
        a.ret();
    }

    /// <summary>Pads with int3 up to <paramref name="address"/> (assembling what is there so far to measure it).</summary>
    private static void PadTo(Assembler a, ulong address)
    {
        var w = new OracleCase.ByteWriter();
        a.Assemble(w, TestMachine.CodeBase);
        int have = w.ToArray().Length;
        for (ulong i = TestMachine.CodeBase + (ulong)have; i < address; i++) a.int3();
    }

    /// <summary>Pads up to <paramref name="address"/> and puts a function there: mov eax, 5; ret.</summary>
    private static void ReturnFiveAt(Assembler a, ulong address)
    {
        PadTo(a, address);
        a.AddInstruction(Instruction.Create(Code.Mov_r32_imm32, Register.EAX, 5));
        a.ret();
    }

    /// <summary>
    /// <paramref name="rounds"/> rounds of <paramref name="store"/> (rbx = T) followed by T: mov eax, 0x12345600.
    /// </summary>
    private static Action<Assembler> ImmediateStoreLoop(int rounds, Action<Assembler> store) => a =>
        GuestLoops.CountDown(a, rounds, b =>
        {
            Label t = b.CreateLabel();
            b.lea(rbx, __[t]);
            store(b);
            b.Label(ref t);
            b.AddInstruction(Instruction.Create(Code.Mov_r32_imm32, Register.EAX, 0x12345600));
        });

    /// <summary>
    /// Five rounds: with RSP = T + 10, <paramref name="pushOntoT"/> writes T's imm64; then calls T
    /// (mov rax, <paramref name="initial"/>; ret) and sums rax into rdx.
    /// </summary>
    private static Action<Assembler> Imm64PushedOntoLoop(ulong t, ulong initial, Action<Assembler> pushOntoT) => a =>
    {
        a.xor(edx, edx);
        a.mov(r8, rsp);
        GuestLoops.CountDown(a, 5, b =>
        {
            b.mov(rsp, t + 10);
            pushOntoT(b);
            b.mov(rsp, r8);
            b.call(t);
            b.add(rdx, rax);
        });
        a.hlt();
        PadTo(a, t);
        a.AddInstruction(Instruction.Create(Code.Mov_r64_imm64, Register.RAX, initial));
        a.ret();
    };

    /// <summary>A machine with one shared frame mapped twice: RX at <see cref="AliasRx"/>, RW at <see cref="AliasRw"/>.</summary>
    private static TestMachine WithAliases(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        var frame = new SharedMemoryObject(0x1000);
        m.Memory.Map(AliasRx, 0x1000, PagePermissions.ReadExecute, "jit-rx", frame);
        m.Memory.Map(AliasRw, 0x1000, PagePermissions.ReadWrite, "jit-rw", frame);
        return m;
    }

    private const ulong AliasRx = TestMachine.CodeBase + 0x4_0000, AliasRw = TestMachine.CodeBase + 0x8_0000;

    /// <summary>Collects every SMC event the machine raises from now on.</summary>
    private static List<SmcEvent> CollectEvents(TestMachine m)
    {
        var events = new List<SmcEvent>();
        m.Machine.SmcEventRaised += (_, e) => events.Add(e);
        return events;
    }

    private static T? Chained<T>(T node) where T : class, IChained<T> => node.Link.Successor;

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void DataStore_OnCodePage_IsFalseHitAndInvalidatesNothing(ExecutionMode mode)
    {
        TestMachine m = Writable(mode, a =>
        {
            Label start = a.CreateLabel(), data = a.CreateLabel();
            a.jmp(start);
            a.Label(ref data);
            a.dq(0);
            a.Label(ref start);
            a.lea(rbx, __[data]);
            GuestLoops.CountDown(a, 10, b => b.mov(__dword_ptr[rbx], ecx));
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        HvStatsView s = new(m);
        Assert.Equal(10, s.Stats.SmcFalseHits);
        Assert.Equal(0, s.Stats.SmcEvents);
        Assert.Equal(0, s.Stats.BlocksInvalidated);
        Assert.Equal(0, s.Stats.UnitsInvalidated);
        Assert.Equal(1UL, m.ReadData64(TestMachine.CodeBase + 2) & 0xFFFF_FFFF);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Store_LeavingCodeBytesUnchanged_InvalidatesNothing(ExecutionMode mode)
    {
        // The imm32's low byte is already 0x00.
        TestMachine m = Writable(mode, ImmediateStoreLoop(10, a => a.mov(__byte_ptr[rbx + 1], 0x00)));
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(10, m.Machine.Stats.SmcUnchangedWrites);
        Assert.Equal(0, m.Machine.Stats.SmcEvents);
        Assert.Equal(0, m.Machine.Stats.BlocksInvalidated);
        Assert.Equal(0, m.Machine.Stats.UnitsInvalidated);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void OpcodeWrite_IntoOneFunction_KillsExactlyItsBlockAndUnit(ExecutionMode mode)
    {
        TestMachine m = Writable(mode, CallerOfTwoFunctions);
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(48UL, m.State[Gpr.Rdx]);
        CodeCache code = m.Machine.CodeCache;
        TranslationCache? units = m.Machine.Cpu.TranslationCache;
        Assert.True(code.TryGet(F, out DecodedBlock? f));
        Assert.True(code.TryGet(G, out DecodedBlock? g));
        TranslatedUnit? fUnit = null, gUnit = null;
        if (units is not null)
        {
            Assert.True(units.TryGet(F, out fUnit));
            Assert.True(units.TryGet(G, out gUnit));
        }
        long unitsBefore = m.Machine.Stats.UnitsInvalidated;

        Assert.True(m.Machine.WriteMemoryAsDebugger(F, [0x05])); // mov eax, 5 -> add eax, 5: another instruction

        Assert.True(f!.Invalidated);
        Assert.False(g!.Invalidated);
        Assert.False(code.TryGet(F, out _));
        Assert.True(code.TryGet(G, out DecodedBlock? gAgain));
        Assert.Same(g, gAgain);
        Assert.Equal(1, m.Machine.Stats.SmcEvents);
        if (units is not null)
        {
            Assert.True(fUnit!.Invalidated);
            Assert.False(gUnit!.Invalidated);
            Assert.False(units.TryGet(F, out _));
            Assert.True(units.TryGet(G, out _));
            Assert.Equal(unitsBefore + 1, m.Machine.Stats.UnitsInvalidated);
        }
        // The page still holds G: it stays write-protected.
        Assert.NotEqual(default, m.Machine.Cpu.Memory.PageAt(F)!.EngineFlags & EnginePageFlags.CodeWriteProtected);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void KilledBlockAndUnit_ChainsIntoThem_AreCut(ExecutionMode mode)
    {
        TestMachine m = Writable(mode, CallerOfTwoFunctions);
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.True(m.Machine.CodeCache.TryGet(F, out DecodedBlock? f));
        var blockCallers = new List<DecodedBlock>(((IChained<DecodedBlock>)f!).Link.Predecessors);
        var unitCallers = new List<TranslatedUnit>();
        var callSiteCallers = new List<TranslatedUnit>();
        TranslatedUnit? fUnit = null;
        if (m.Machine.Cpu.TranslationCache is { } units)
        {
            Assert.True(units.TryGet(F, out fUnit));
            unitCallers.AddRange(((IChained<TranslatedUnit>)fUnit!).Link.Predecessors);
            // Translated CALLs enter F's unit through their call sites rather than the dispatcher's chain.
            callSiteCallers.AddRange(fUnit.Callers);
            foreach (TranslatedUnit u in callSiteCallers) Assert.Contains(fUnit, u.CallTargets!);
            Assert.NotEmpty(unitCallers.Count > 0 ? unitCallers : callSiteCallers);
        }
        else
        {
            Assert.NotEmpty(blockCallers);
        }
        foreach (DecodedBlock b in blockCallers) Assert.Same(f, Chained(b));

        Assert.True(m.Machine.WriteMemoryAsDebugger(F, [0x05]));

        foreach (DecodedBlock b in blockCallers) Assert.Null(Chained(b));
        foreach (TranslatedUnit u in unitCallers) Assert.Null(Chained(u));
        foreach (TranslatedUnit u in callSiteCallers) Assert.DoesNotContain(fUnit, u.CallTargets!);
        if (fUnit is not null) Assert.Empty(fUnit.Callers);
        Assert.Empty(((IChained<DecodedBlock>)f).Link.Predecessors);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void LastBlockOfAFrameDies_FrameDropsWriteProtection(ExecutionMode mode)
    {
        TestMachine m = Writable(mode, a =>
        {
            a.call(F);
            a.hlt();
            ReturnFiveAt(a, F);
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        PhysicalPage page = m.Machine.Cpu.Memory.PageAt(F)!;
        Assert.NotEqual(default, page.EngineFlags & EnginePageFlags.CodeWriteProtected);
        Assert.True(m.Machine.WriteMemoryAsDebugger(F + 5, [0xC2])); // ret -> ret imm16: another instruction
        Assert.Equal(default, page.EngineFlags & EnginePageFlags.CodeWriteProtected);
        // The caller's page keeps its protection.
        Assert.NotEqual(default, m.Machine.Cpu.Memory.PageAt(TestMachine.CodeBase)!.EngineFlags & EnginePageFlags.CodeWriteProtected);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void StoreRewritingTheNextOpcode_LeavesTheRunningCodePrecisely(ExecutionMode mode)
    {
        TestMachine m = Writable(mode, a =>
        {
            a.xor(edx, edx);
            a.xor(esi, esi);
            GuestLoops.CountDown(a, 6, b =>
            {
                Label t = b.CreateLabel();
                b.lea(rbx, __[t]);
                b.mov(eax, ecx);
                b.and(eax, 1);
                b.imul(eax, eax, 0x28);
                b.inc(eax);
                b.mov(__byte_ptr[rbx], al); // odd rounds: sub (29), even rounds: add (01)
                b.Label(ref t);
                b.add(edx, ecx);
                b.inc(esi);
            });
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)(6 - 5 + 4 - 3 + 2 - 1), m.State[Gpr.Rdx]);
        Assert.Equal(6UL, m.State[Gpr.Rsi]);
        Assert.True(m.Machine.Stats.PreciseSmcExits > 0);
        Assert.Equal(5, m.Machine.Stats.SmcEvents); // the first round writes the opcode already there
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void PushOntoCode_RewritesTheImmediate(ExecutionMode mode)
    {
        // T is "mov rax, imm64" (48 B8 imm64); RSP = T + 10 makes a push write exactly the imm64.
        ulong t = TestMachine.CodeBase + 0x800;
        TestMachine m = Writable(mode, Imm64PushedOntoLoop(t, 0x1111_2222_3333_4444, a => a.push(rcx)));
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(5UL + 4 + 3 + 2 + 1, m.State[Gpr.Rdx]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void CallPushingItsReturnAddressOntoCode_IsSeenByTheNextFetch(ExecutionMode mode)
    {
        ulong t = TestMachine.CodeBase + 0x800;
        TestMachine m = Writable(mode, Imm64PushedOntoLoop(t, 0, a =>
        {
            Label returned = a.CreateLabel();
            a.call(returned); // pushes the address of "returned" over T's imm64
            a.Label(ref returned);
        }));
        ulong returnAddress = Decode(m, TestMachine.CodeBase, 0x40).First(ins => ins.Code == Code.Call_rel32_64).NextIP;
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(5 * returnAddress, m.State[Gpr.Rdx]);
    }

    /// <summary>
    /// 40 rounds of "patch F, call F", then calm calls. F's operand at <paramref name="operandOffset"/> takes ecx
    /// (40 down to 1) each round, so F returns ecx while patched and 1 when calm.
    /// </summary>
    private static TestMachine PatchedThenCalm(ExecutionMode mode, Action<Assembler> f, int operandOffset, int calmRounds)
    {
        TestMachine m = Writable(mode, a =>
        {
            a.mov(rbx, F);
            a.xor(edx, edx);
            a.xor(edi, edi);
            GuestLoops.CountDown(a, 40, hot =>
            {
                hot.mov(__dword_ptr[rbx + operandOffset], ecx);
                hot.call(F);
                hot.add(edx, eax);
            });
            GuestLoops.CountDown(a, calmRounds, calm =>
            {
                calm.call(F);
                calm.add(edx, eax);
            });
            a.hlt();
            PadTo(a, F);
            f(a);
            a.ret();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)(40 * 41 / 2 + calmRounds), m.State[Gpr.Rdx]);
        return m;
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void DisplacementRewrittenAgainAndAgain_IsDemotedAndRepromotedWhenCalm(ExecutionMode mode)
    {
        // F: lea eax, [rdi + disp32] (8D 87 disp32) with rdi = 0: a displacement is no loaded immediate.
        TestMachine m = PatchedThenCalm(mode, a => a.lea(eax, __[rdi + 0x1234_5678]), 2, SmcEngine.CooldownExecutions + 100);
        HvStatsView s = new(m);
        Assert.Equal(1, s.Stats.SmcDemotions);
        Assert.True(39 == s.Stats.SmcInPlacePatches, s.Stats.ToJson()); // the first store precedes F's first decode
        Assert.Equal(0, s.Stats.SmcImmediatePatches);
        Assert.Equal(0, s.Stats.BlocksInvalidated); // a patched displacement is re-decoded in place
        Assert.Equal(mode == ExecutionMode.Interpret ? 0 : 1, s.Stats.SmcRepromotions);
        // While demoted, F was not translated again after each patch: few units died.
        Assert.True(s.Stats.UnitsInvalidated <= SmcEngine.DemoteAfter, $"{s.Stats.UnitsInvalidated} units invalidated");
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void ImmediateRewrittenAgainAndAgain_StaysTranslatedAndIsLoadedFromMemory(ExecutionMode mode)
    {
        // F: mov eax, imm32 (B8 imm32). The first patch makes the immediate volatile (the unit made so far dies);
        // the 38 after it change only bytes translated code loads: nothing dies, nothing is demoted.
        TestMachine m = PatchedThenCalm(mode, a => a.AddInstruction(Instruction.Create(Code.Mov_r32_imm32, Register.EAX, 5)), 1, 100);
        HvStatsView s = new(m);
        Assert.True(39 == s.Stats.SmcInPlacePatches, s.Stats.ToJson());
        Assert.Equal(38, s.Stats.SmcImmediatePatches);
        Assert.Equal(0, s.Stats.SmcDemotions);
        Assert.Equal(0, s.Stats.BlocksInvalidated);
        Assert.True(s.Stats.UnitsInvalidated <= 1, $"{s.Stats.UnitsInvalidated} units invalidated");
        Assert.True(m.Machine.CodeCache.TryGet(F, out DecodedBlock? b));
        Assert.Equal(1UL, b!.VolatileImmediates);
        Assert.False(b.Demoted);
        if (mode != ExecutionMode.Interpret)
            Assert.True(m.Machine.Cpu.TranslationCache!.TryGet(F, out TranslatedUnit? u) && !u!.Invalidated);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Mprotect_RxToRwAndBack_FlushesTheTlbAndDropsCode(ExecutionMode mode)
    {
        TestMachine m = new TestMachine(mode).Load(a => a.mov(eax, 1));
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        long flushes = m.Machine.Stats.TlbFlushes;
        Assert.True(m.Memory.Protect(TestMachine.CodeBase, 0x1000, PagePermissions.ReadWrite));
        Assert.False(m.Machine.CodeCache.TryGet(TestMachine.CodeBase, out _)); // no exec: its code is gone
        Assert.Equal(default, m.Machine.Cpu.Memory.PageAt(TestMachine.CodeBase)!.EngineFlags & EnginePageFlags.CodeWriteProtected);
        Assert.True(m.Memory.Protect(TestMachine.CodeBase, 0x1000, PagePermissions.ReadExecute));
        Assert.Equal(flushes + 2, m.Machine.Stats.TlbFlushes);
        m.State.Rip = TestMachine.CodeBase;
        Assert.Equal(StopKind.Halted, m.Run().Kind);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void JitBufferFlippedRwRxAgainAndAgain_IsDemoted(ExecutionMode mode)
    {
        const ulong Jit = TestMachine.CodeBase + 0x4_0000;
        var m = new TestMachine(mode);
        m.Memory.Map(Jit, 0x1000, PagePermissions.ReadWrite, "jit");
        for (uint round = 1; round <= 6; round++)
        {
            Assert.True(m.Memory.Protect(Jit, 0x1000, PagePermissions.ReadWrite));
            Assert.True(m.Memory.TryWrite(Jit, [0xB8, (byte)round, 0, 0, 0, 0xF4])); // mov eax, round; hlt
            Assert.True(m.Memory.Protect(Jit, 0x1000, PagePermissions.ReadExecute));
            m.State.Rip = Jit;
            Assert.Equal(StopKind.Halted, m.Run().Kind);
            Assert.Equal(round, (uint)m.State[Gpr.Rax]);
        }
        Assert.Equal(1, m.Machine.Stats.SmcDemotions);
        Assert.True(m.Machine.CodeCache.TryGet(Jit, out DecodedBlock? b));
        Assert.True(b!.Demoted);
        Assert.True(b.Executions < 0);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void StoreToReadExecutePage_Faults_WithTheStoreAddress(ExecutionMode mode)
    {
        TestMachine m = new TestMachine(mode).Load(a =>
        {
            a.mov(rbx, TestMachine.CodeBase + 0x10);
            a.mov(__byte_ptr[rbx], 0x90);
        });
        StopReason stop = m.Run();
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.PageProtection, stop.Fault!.Value.Kind);
        Assert.Equal(TestMachine.CodeBase + 0x10, stop.Fault.Value.Address);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void StoreThroughReadWriteAlias_ChangesCodeRunThroughExecuteAlias(ExecutionMode mode)
    {
        const ulong Rx = AliasRx, Rw = AliasRw;
        TestMachine m = WithAliases(mode);
        var a = new Assembler(64);
        a.xor(edx, edx);
        GuestLoops.CountDown(a, 8, b =>
        {
            Label t = b.CreateLabel();
            b.lea(rbx, __[t]);
            b.mov(__byte_ptr[rbx + (int)(Rw - Rx) + 1], cl); // through the RW alias
            b.Label(ref t);
            b.AddInstruction(Instruction.Create(Code.Mov_r32_imm32, Register.EAX, 0x12345600));
            b.add(edx, eax);
        });
        a.hlt();
        var w = new OracleCase.ByteWriter();
        a.Assemble(w, Rx);
        Assert.True(m.Memory.TryWrite(Rw, w.ToArray()));
        m.State.Rip = Rx;
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        uint expected = 0;
        for (uint c = 8; c >= 1; c--) expected += 0x12345600 | c;
        Assert.Equal(expected, (uint)m.State[Gpr.Rdx]);
        Assert.Equal(8, m.Machine.Stats.SmcEvents);

        // A debugger write through the RW alias also reaches code decoded through the RX alias.
        Assert.True(m.Machine.WriteMemoryAsDebugger(Rw, [0xF4])); // first instruction becomes hlt
        m.State.Rip = Rx;
        m.State[Gpr.Rcx] = 77;
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(77UL, m.State[Gpr.Rcx]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void UnmappingOneAlias_KeepsCodeDecodedThroughTheOther(ExecutionMode mode)
    {
        const ulong Rx = AliasRx, Rw = AliasRw;
        TestMachine m = WithAliases(mode);
        Assert.True(m.Memory.TryWrite(Rw, [0xB8, 1, 0, 0, 0, 0xF4]));
        m.State.Rip = Rx;
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        m.Memory.Unmap(Rw, 0x1000);
        Assert.True(m.Machine.CodeCache.TryGet(Rx, out DecodedBlock? b));
        Assert.False(b!.Invalidated);
        m.Memory.Unmap(Rx, 0x1000);
        Assert.True(b.Invalidated);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void SmcEvent_WhenSomebodyListens_DescribesTheWrite(ExecutionMode mode)
    {
        TestMachine m = Writable(mode, CallerOfTwoFunctions);
        List<SmcEvent> events = CollectEvents(m);
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Empty(events);
        Assert.True(m.Machine.WriteMemoryAsDebugger(F + 1, [9]));
        SmcEvent ev = Assert.Single(events);
        Assert.Equal("debugger", ev.Writer);
        Assert.Equal(F + 1, ev.Address);
        Assert.Equal([5], ev.OldBytes);
        Assert.Equal([9], ev.NewBytes);
        Assert.Equal(["0x10000000100" + "0 mov eax,5"], ev.Before);
        Assert.Equal(["0x10000000100" + "0 mov eax,9"], ev.After);
        Assert.Contains(ev.Invalidated, r => r.Start == F && r.Kind == "patched");
        Assert.Equal(mode != ExecutionMode.Interpret, ev.Invalidated.Any(r => r.Start == F && r.Kind == "unit"));
        Assert.True(SmcEventJson.TryParse(SmcEventJson.ToLine(ev), out SmcEvent? parsed, out string? error), error);
        Assert.Equal(ev.Address, parsed!.Address);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void SmcEvent_FromAGuestStore_NamesTheStoringInstruction(ExecutionMode mode)
    {
        TestMachine m = Writable(mode, ImmediateStoreLoop(6, a => a.mov(__byte_ptr[rbx + 1], cl)));
        ulong store = Decode(m, TestMachine.CodeBase, 0x20).First(ins => ins.Code == Code.Mov_rm8_r8).IP;
        List<SmcEvent> events = CollectEvents(m);
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(6, events.Count); // T is decoded with the storing block, before the first store
        foreach (SmcEvent e in events)
        {
            Assert.Equal(store, e.WriterRip);
            Assert.StartsWith("mov [rbx+1],cl", e.Writer, StringComparison.Ordinal);
            Assert.Single(e.NewBytes);
        }
        Assert.Equal(events.Count, m.Machine.Stats.SmcEvents);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void UnitMadeBeforeAnInPlacePatch_IsRefusedByTheCache(ExecutionMode mode)
    {
        TestMachine m = Writable(mode, CallerOfTwoFunctions);
        var cache = new TranslationCache(m.Machine.Stats);
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.True(m.Machine.CodeCache.TryGet(F, out DecodedBlock? f));
        var stale = new TranslatedUnit(F, [f!], f!.Code.ToArray()); // as if compiled apart from the vCPU
        Assert.True(m.Machine.WriteMemoryAsDebugger(F + 1, [9])); // patched in place: the block lives on
        Assert.False(f.Invalidated);
        Assert.False(cache.Add(stale));
        Assert.True(stale.Invalidated);
        Assert.True(cache.Add(new TranslatedUnit(F, [f], f.Code.ToArray())));
    }

    private static List<Instruction> Decode(TestMachine m, ulong address, int length)
    {
        var bytes = new byte[length];
        Assert.True(m.Memory.TryRead(address, bytes, checkPermissions: false));
        var d = Decoder.Create(64, new ByteArrayCodeReader(bytes), address);
        var list = new List<Instruction>();
        while (d.IP < address + (ulong)length) list.Add(d.Decode());
        return list;
    }

    /// <summary>The machine's counters (a named view keeps assertions short).</summary>
    private readonly record struct HvStatsView(TestMachine Machine)
    {
        public Diagnostics.HvStats Stats => Machine.Machine.Stats;
    }
}
