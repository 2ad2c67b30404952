using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Hv.Core.Translation;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Translation;

public sealed class TranslationTests
{
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Loop_AnyMode_ComputesSameResult(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(GuestLoops.CountingLoop);
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(500500UL, m.State[Gpr.Rax]);
        Assert.Equal(0UL, m.State[Gpr.Rcx]);
        Assert.Equal(2 + 3 * 1000L + 1, m.Machine.Stats.GuestInstructions);
    }

    [Fact]
    public void Loop_TranslateMode_RunsTranslatedCode()
    {
        var m = new TestMachine(ExecutionMode.Translate).Load(GuestLoops.CountingLoop);
        m.Run();
        var s = m.Machine.Stats.Snapshot();
        Assert.True(s["regions_translated"] >= 1);
        Assert.True(s["guest_instructions_translated"] >= 3000, $"translated {s["guest_instructions_translated"]}");
    }

    /// <summary>
    /// Translate mode compiles code the first time it runs in the baseline form (memory accesses outside loops
    /// call the TLB lookup out of line); a function entered 1000 times gets hot and is compiled again in full.
    /// Tiered mode compiles only hot code, always in full. Every form computes the interpreter's result. With
    /// background translation, translate mode regrows in the background: the run stops once the function got hot,
    /// waits for the worker, and goes on, so the full units are installed (at the next dispatch) while it runs.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesWithAndWithoutBackground))]
    public void HotFunction_AnyMode_BaselineOnlyOnFirstCompileInTranslateMode(ExecutionMode mode, bool background)
    {
        var m = new TestMachine(mode, backgroundTranslation: background).Load(a =>
        {
            Label loop = a.CreateLabel(), f = a.CreateLabel(), done = a.CreateLabel();
            a.mov(ecx, 1000);
            a.mov(rdi, (long)TestMachine.DataBase);
            a.xor(eax, eax);
            a.Label(ref loop);
            a.call(f);
            a.dec(ecx);
            a.jnz(loop);
            a.jmp(done);
            a.Label(ref f); // mem[0] += ecx; rax += mem[0]: a load and a store outside any loop of f's own
            a.add(__qword_ptr[rdi], rcx);
            a.add(rax, __qword_ptr[rdi]);
            a.ret();
            a.Label(ref done);
        });
        List<TranslatedUnit> added = m.RecordUnitsAdded();

        if (background)
        {
            Assert.Equal(StopKind.InstructionLimit, m.Run(limit: 6 * 400).Kind); // 400 calls: hot, regrowing requested
            m.Machine.Cpu.WaitForBackgroundTranslations();
        }
        Assert.Equal(StopKind.Halted, m.Run().Kind);

        ulong sum = 0, total = 0;
        for (ulong c = 1000; c >= 1; c--) total += sum += c;
        Assert.Equal(sum, m.ReadData64(TestMachine.DataBase));
        Assert.Equal(total, m.State[Gpr.Rax]);
        if (mode == ExecutionMode.Translate)
        {
            Assert.True(added[0].Baseline);
            // Every full unit replaces a baseline unit from the same entry (regrown when it got hot).
            Assert.Contains(added, u => !u.Baseline);
            Assert.All(added.FindAll(u => !u.Baseline), u => Assert.Contains(added, v => v.Baseline && v.Start == u.Start));
        }
        else Assert.DoesNotContain(added, u => u.Baseline);
        // f and the loop's blocks are baseline units without loops of their own: MinOpts (see BaselineAssemblies).
        Assert.All(added, u => Assert.Equal(u.Baseline, IsMinOpts(u)));
    }

    /// <summary>
    /// Translate mode's first compiles: a block that runs once per entry is compiled with MinOpts, a block that
    /// branches back to itself with full optimization, as its loop may run long before the unit is regrown.
    /// Every later unit is fully optimized.
    /// </summary>
    [Fact]
    public void BaselineUnits_AreMinOptsUnlessTheyLoop()
    {
        var m = new TestMachine(ExecutionMode.Translate).Load(GuestLoops.CountingLoop);
        List<TranslatedUnit> added = m.RecordUnitsAdded();
        Assert.Equal(StopKind.Halted, m.Run().Kind);

        // mov rcx; xor; add; dec; jnz loop (the first round), then the loop (add; dec; jnz to itself), then hlt.
        TranslatedUnit entry = added[0], loop = added[1];
        Assert.True(entry.Baseline && loop.Baseline);
        Assert.True(loop.Start > entry.Start, "the loop's unit starts after mov rcx, 1000; xor eax, eax");
        Assert.True(IsMinOpts(entry));
        Assert.False(IsMinOpts(loop));
        Assert.All(added, u => Assert.True(u.Baseline || !IsMinOpts(u)));
        Assert.Equal(500500UL, m.State[Gpr.Rax]);
    }

    private static bool IsMinOpts(TranslatedUnit unit) =>
        (unit.Body.Method.MethodImplementationFlags & System.Reflection.MethodImplAttributes.NoOptimization) != 0;

    /// <summary>
    /// Baseline units live in collectible assemblies (see <see cref="BaselineAssemblies"/>): once the machine that
    /// compiled them is gone, the runtime unloads their code.
    /// </summary>
    [Fact]
    public void BaselineUnits_OfADroppedMachine_AreCollected()
    {
        WeakReference assembly = RunAndDrop();
        for (int i = 0; i < 20 && assembly.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.False(assembly.IsAlive, "the baseline units' assembly is still loaded");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference RunAndDrop()
    {
        var m = new TestMachine(ExecutionMode.Translate).Load(GuestLoops.CountingLoop);
        List<TranslatedUnit> added = m.RecordUnitsAdded();
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        TranslatedUnit baseline = added[0];
        Assert.True(baseline.Baseline && IsMinOpts(baseline));
        Assert.True(baseline.Body.Method.Module.Assembly.IsCollectible);
        return new WeakReference(baseline.Body.Method.Module.Assembly);
    }

    /// <summary>
    /// A loop whose first round takes a detour (a block that runs once) and then calls a function every round.
    /// Translate mode has translated every block that ran, the detour too; when the loop's unit is regrown, only
    /// blocks whose own units were entered often join it (as tiered mode takes only blocks run a quarter of its
    /// hot threshold): the callee and the return address do, the detour does not. Every mode computes the
    /// interpreter's result.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RegrownRegion_TakesWarmBlocksOnly(ExecutionMode mode)
    {
        static void Program(Assembler a)
        {
            Label f = a.CreateLabel(), back = a.CreateLabel(), detour = a.CreateLabel();
            a.xor(ebx, ebx);
            GuestLoops.CountDown(a, 2000, b =>
            {
                b.cmp(ecx, 2000);
                b.je(detour);
                b.Label(ref back);
                b.mov(edi, ecx);
                b.call(f);
            });
            a.hlt();
            a.Label(ref detour); // the first round only
            a.add(rbx, 7);
            a.jmp(back);
            a.Label(ref f);
            a.lea(rbx, __[rbx + rdi * 2]);
            a.ret();
        }
        List<TranslatedUnit> added = [];
        TestMachine Run(ExecutionMode mode)
        {
            var m = new TestMachine(mode, backgroundTranslation: false).Load(Program);
            added = m.RecordUnitsAdded();
            Assert.Equal(StopKind.Halted, m.Run().Kind);
            return m;
        }
        TestMachine expected = Run(ExecutionMode.Interpret);
        TestMachine m = Run(mode);
        Assert.Equal(7UL + 2000 * 2001, m.State[Gpr.Rbx]);
        Assert.Equal(expected.State.Gpr, m.State.Gpr);
        if (mode != ExecutionMode.Translate) return; // tiered mode's tests run at a hot threshold of 2: every block that ran is warm
        TranslatedUnit grown = added.FindLast(u => !u.Baseline && u.SourceBlocks.Count > 2)!;
        Assert.NotNull(grown);
        Assert.Contains(grown.SourceBlocks, b => b.Instructions[^1].Mnemonic == Mnemonic.Ret); // the callee
        Assert.DoesNotContain(grown.SourceBlocks, b => b.Instructions[0] is { Mnemonic: Mnemonic.Add, Immediate32: 7 }); // the detour
    }

    public static TheoryData<ExecutionMode, bool> ModesWithAndWithoutBackground()
    {
        var data = new TheoryData<ExecutionMode, bool>();
        foreach (ExecutionMode mode in TestMachine.AllModes)
        {
            data.Add(mode, false);
            data.Add(mode, true);
        }
        return data;
    }

    [Fact]
    public void Loop_InterpretMode_TranslatesNothing()
    {
        var m = new TestMachine(ExecutionMode.Interpret).Load(GuestLoops.CountingLoop);
        m.Run();
        Assert.Equal(0, m.Machine.Stats.RegionsTranslated);
        Assert.Equal(0, m.Machine.Stats.TranslatedInstructions);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void InstructionLimit_InsideTranslatedLoop_StopsAtBudget(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(GuestLoops.CountingLoop);
        StopReason r = m.Run(limit: 100);
        Assert.Equal(StopKind.InstructionLimit, r.Kind);
        Assert.InRange(m.Machine.Stats.GuestInstructions, 100, 200);
    }

    /// <summary>
    /// The loop body rewrites the immediate of an instruction a few bytes ahead in the same block each
    /// iteration: every mode must execute the freshly written bytes.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void StoreIntoOwnBlock_NextInstruction_ExecutesNewBytes(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a =>
        {
            Label loop = a.CreateLabel(), patched = a.CreateLabel();
            a.mov(rcx, 50);
            a.xor(ebx, ebx);
            a.Label(ref loop);
            a.lea(rdi, __[patched]);
            a.mov(__dword_ptr[rdi + 1], ecx); // rewrites the imm32 of "mov eax, imm32" below
            a.Label(ref patched);
            a.mov(eax, 0x11111111);
            a.add(rbx, rax);
            a.dec(rcx);
            a.jnz(loop);
        });
        Assert.True(m.Memory.Protect(TestMachine.CodeBase, 0x1000, PagePermissions.All));
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)(50 * 51 / 2), m.State[Gpr.Rbx]);
    }

    /// <summary>
    /// Each block of the loop closes with a flag producer (SUB before JZ, CMP before JMP) and every block it goes
    /// to in the unit overwrites the flags first, so translated code records those flags only where the unit
    /// leaves: when the instruction budget stops the loop at a back edge. Wherever translated code stopped, the
    /// interpreter run to that same instruction count (a block boundary) must have exactly the same state, flags
    /// included (the CMP's borrow and negative result differ from the SUB's).
    /// </summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void CompareFlagsSeenOnlyWhereTheUnitLeaves_AreThoseOfTheInterpreter(ExecutionMode mode)
    {
        static void Program(Assembler a)
        {
            Label loop = a.CreateLabel(), done = a.CreateLabel();
            a.mov(ecx, 3000);
            a.xor(ebx, ebx);
            a.Label(ref loop);
            a.sub(ecx, 1); // writes every flag first thing: the compare's are dead where the loop starts
            a.jz(done);
            a.lea(rsi, __[rbx + rcx * 2 + 1]);
            a.add(rbx, rcx);
            a.cmp(rbx, rsi); // rbx - rsi = -(rcx + 1)
            a.jmp(loop);
            a.Label(ref done);
            a.hlt();
        }
        foreach (long limit in new[] { 2 + 6 * 100, 2 + 6 * 1_000, 1_001, long.MaxValue })
        {
            // Translated code stops at a back edge of its unit, which need not be where the interpreter's budget
            // check stops: the interpreter runs to the count translated code reached.
            var actual = new TestMachine(mode).Load(Program);
            StopKind stop = actual.Run(limit).Kind;
            long reached = actual.Machine.Stats.GuestInstructions;
            var expected = new TestMachine(ExecutionMode.Interpret).Load(Program);
            Assert.Equal(stop, expected.Run(stop == StopKind.InstructionLimit ? reached : limit).Kind);
            Assert.Equal(expected.State.Rip, actual.State.Rip);
            Assert.Equal(expected.State.Gpr, actual.State.Gpr);
            Assert.Equal(expected.State.RFlags, actual.State.RFlags);
            Assert.Equal(expected.Machine.Stats.GuestInstructions, reached);
        }
    }

    /// <summary>
    /// SUB's flags are seen only if the XOR's load faults; in between, a store rewrites an opcode of this very
    /// code (mov eax/mov edx, alternately), so translated code leaves the unit right after it: that exit, too,
    /// must publish the SUB's flags, which the fault (in the third iteration) then shows.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void FaultAfterStoreIntoOwnCode_FlagsOfEarlierSub_AreThoseOfTheInterpreter(ExecutionMode mode)
    {
        TestMachine Run(ExecutionMode m)
        {
            var machine = new TestMachine(m).Load(a =>
            {
                Label loop = a.CreateLabel(), patched = a.CreateLabel();
                a.mov(rcx, 50);
                a.xor(ebx, ebx);
                a.mov(rsi, (long)(TestMachine.DataBase + TestMachine.DataSize - 8 * 2));
                a.Label(ref loop);
                a.lea(rdi, __[patched]);
                a.mov(r8d, ecx);
                a.and(r8d, 1);
                a.lea(r8d, __[r8 * 2 + 0xB8]); // B8 (mov eax, imm32) or BA (mov edx, imm32)
                a.sub(rbx, rcx); // borrows and goes negative: flags unlike those AND and DEC leave
                a.mov(__byte_ptr[rdi], r8b);
                a.xor(rdx, __qword_ptr[rsi]); // faults in iteration 3
                a.Label(ref patched);
                a.mov(eax, 0x11111111);
                a.lea(rsi, __[rsi + 8]);
                a.dec(rcx);
                a.jnz(loop);
            });
            Assert.True(machine.Memory.Protect(TestMachine.CodeBase, 0x1000, PagePermissions.All));
            Assert.Equal(StopKind.Faulted, machine.Run().Kind);
            return machine;
        }
        TestMachine expected = Run(ExecutionMode.Interpret), actual = Run(mode);
        Assert.Equal(expected.State.Rip, actual.State.Rip);
        Assert.Equal(expected.State.Gpr, actual.State.Gpr);
        Assert.Equal(expected.State.RFlags, actual.State.RFlags);
        Assert.Equal(expected.Machine.Stats.GuestInstructions, actual.Machine.Stats.GuestInstructions);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void FaultInTranslatedLoop_IsPrecise(ExecutionMode mode)
    {
        var m = new TestMachine(mode).Load(a =>
        {
            Label loop = a.CreateLabel();
            a.mov(rcx, 100);
            a.mov(rdi, TestMachine.DataBase + TestMachine.DataSize - 8 * 50);
            a.Label(ref loop);
            a.mov(__qword_ptr[rdi], rcx);
            a.add(rdi, 8);
            a.dec(rcx);
            a.jnz(loop);
        });
        StopReason r = m.Run();
        Assert.Equal(StopKind.Faulted, r.Kind);
        Assert.Equal(FaultKind.PageNotMapped, r.Fault!.Value.Kind);
        Assert.Equal(TestMachine.DataBase + TestMachine.DataSize, r.Fault.Value.Address);
        Assert.Equal(50UL, m.State[Gpr.Rcx]);
        Assert.Equal(TestMachine.DataBase + TestMachine.DataSize, m.State[Gpr.Rdi]);
        // RIP points at the faulting store.
        Assert.StartsWith("mov [rdi],rcx", m.Machine.Cpu.DisassembleAt(m.State.Rip));
    }
}

public sealed class TranslatedFaultTests
{
    public static TheoryData<string> Faults => new() { "unmapped-load", "unmapped-store", "divide-error", "undefined-opcode", "readonly-store", "misaligned-sse", "unmapped-sse", "noncanonical-call", "noncanonical-jmp", "call-unmapped-target" };

    private static void Program(Assembler a, string fault)
    {
        Label loop = a.CreateLabel(), start = a.CreateLabel();
        a.Label(ref start);
        a.mov(rcx, 40);
        a.mov(rbx, 0x1234);
        a.Label(ref loop);
        a.add(rbx, rcx);
        a.cmp(rcx, 7);
        Label skip = a.CreateLabel();
        a.jne(skip);
        switch (fault)
        {
            case "unmapped-load": a.mov(rax, __qword_ptr[rbx * 8 + 0x10]); break;
            case "unmapped-store": a.mov(__qword_ptr[rbx * 8 + 0x10], rcx); break;
            case "divide-error": a.xor(edx, edx); a.xor(esi, esi); a.div(rsi); break;
            case "undefined-opcode": a.ud2(); break;
            case "misaligned-sse": a.movdqa(xmm1, __xmmword_ptr[rsp + 8]); break;
            case "noncanonical-call": a.mov(rax, unchecked((long)0x8000_0000_0000_1000UL)); a.call(rax); break;
            case "noncanonical-jmp": a.mov(rdx, 0x0001_0000_0000_0000L); a.jmp(rdx); break;
            case "call-unmapped-target": a.mov(rsi, 0x7000_0000L); a.call(rsi); break;
            case "unmapped-sse": a.pxor(xmm1, __xmmword_ptr[rbx * 16]); break;
            default: a.mov(__qword_ptr[start], rax); break; // the code page is read-only
        }
        a.Label(ref skip);
        a.sub(rbx, 3);
        a.dec(rcx);
        a.jnz(loop);
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public void FaultInTranslatedCode_LeavesInterpreterState(string fault)
    {
        TestMachine Run(ExecutionMode mode)
        {
            var m = new TestMachine(mode).Load(a => Program(a, fault));
            StopReason r = m.Run();
            Assert.Equal(StopKind.Faulted, r.Kind);
            return m;
        }
        TestMachine interpreted = Run(ExecutionMode.Interpret), translated = Run(ExecutionMode.Translate);
        Assert.Equal(interpreted.State.Rip, translated.State.Rip);
        Assert.Equal(interpreted.State.Gpr, translated.State.Gpr);
        Assert.Equal(interpreted.State.RFlags, translated.State.RFlags);
        Assert.Equal(interpreted.Machine.Cpu.StopReason!.Value.Fault, translated.Machine.Cpu.StopReason!.Value.Fault);
        Assert.Equal(interpreted.Machine.Stats.GuestInstructions, translated.Machine.Stats.GuestInstructions);
        Assert.True(translated.Machine.Stats.TranslatedInstructions > 0);
    }
}
