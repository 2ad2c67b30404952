using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Translation;

/// <summary>
/// CALLs in translated code enter the callee's unit as a nested host call and continue in the caller's unit
/// when the callee returns to the return address; a CALL of a block in its own unit (recursion) is a branch, and
/// a RET to a return address in its unit branches back. Everything unusual (no return, deep recursion, faults, SMC
/// on the caller, a callee that dies) must leave exactly the interpreter's results.
/// </summary>
public sealed class TranslatedCallTests
{
    /// <summary>rax = fib(<paramref name="n"/>), computed by naive recursion (two calls per level).</summary>
    private static void Fibonacci(Assembler a, int n)
    {
        Label fib = a.CreateLabel(), small = a.CreateLabel();
        a.mov(edi, n);
        a.call(fib);
        a.hlt();
        a.Label(ref fib);
        a.cmp(edi, 2);
        a.jb(small);
        a.push(rbx);
        a.push(rdi);
        a.dec(edi);
        a.call(fib);
        a.mov(rbx, rax);
        a.pop(rdi);
        a.push(rdi);
        a.sub(edi, 2);
        a.call(fib);
        a.add(rax, rbx);
        a.pop(rdi);
        a.pop(rbx);
        a.ret();
        a.Label(ref small);
        a.mov(eax, edi);
        a.ret();
    }

    /// <summary>
    /// The driver most programs here share: rbx = 0, then <paramref name="body"/> <paramref name="rounds"/> times
    /// (ECX counts them down, to 1 in the last round), then HLT. Functions the body calls follow it.
    /// </summary>
    private static void CountedLoop(Assembler a, int rounds, Action body)
    {
        a.xor(ebx, ebx);
        GuestLoops.CountDown(a, rounds, _ => body());
        a.hlt();
    }

    /// <summary>
    /// <paramref name="rounds"/> times rax = 1 + 2 + … + <paramref name="depth"/>, one call level per term (deeper
    /// than the host nesting bound if asked); rbx sums the rounds. The deepest call sets rax = 0 and then runs
    /// <paramref name="atBottom"/>, given the label of the ADD that follows the recursive call.
    /// </summary>
    private static void DeepSum(Assembler a, int depth, int rounds = 1, Action<Assembler, Label>? atBottom = null)
    {
        Label sum = a.CreateLabel(), after = a.CreateLabel(), bottom = a.CreateLabel();
        CountedLoop(a, rounds, () =>
        {
            a.mov(edi, depth);
            a.call(sum);
            a.add(rbx, rax);
        });
        a.Label(ref sum);
        a.test(edi, edi);
        a.jz(bottom);
        a.push(rdi);
        a.dec(edi);
        a.call(sum);
        a.pop(rdi);
        a.Label(ref after);
        a.add(rax, rdi);
        a.ret();
        a.Label(ref bottom);
        a.xor(eax, eax);
        atBottom?.Invoke(a, after);
        a.ret();
    }

    /// <param name="mode">The execution mode.</param>
    /// <param name="program">The guest code.</param>
    /// <param name="writableCode">Make the code page writable first (code that patches itself, PLT slots beside it).</param>
    private static TestMachine RunToHalt(ExecutionMode mode, Action<Assembler> program, bool writableCode = false)
    {
        var m = new TestMachine(mode, backgroundTranslation: false).Load(program);
        if (writableCode) Assert.True(m.Memory.Protect(TestMachine.CodeBase, 0x1000, PagePermissions.All));
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        return m;
    }

    private static void AssertSameAsInterpreter(TestMachine interpreted, TestMachine other)
    {
        for (int r = 0; r < 16; r++) Assert.Equal(interpreted.State[(Gpr)r], other.State[(Gpr)r]);
        Assert.Equal(interpreted.State.Rip, other.State.Rip);
        Assert.Equal(interpreted.Machine.Stats.GuestInstructions, other.Machine.Stats.GuestInstructions);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Recursion_AnyMode_SameResultAsInterpreter(ExecutionMode mode)
    {
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, a => Fibonacci(a, 16));
        TestMachine m = RunToHalt(mode, a => Fibonacci(a, 16));
        Assert.Equal(987UL, m.State[Gpr.Rax]);
        AssertSameAsInterpreter(expected, m);
        if (mode != ExecutionMode.Interpret)
            Assert.True(m.Machine.Stats.TranslatedCalls > 100, $"translated calls: {m.Machine.Stats.TranslatedCalls}");
    }

    /// <summary>
    /// rax = 1 if <paramref name="depth"/> is even, by mutual recursion of two functions (two units, so each call
    /// is a host call: deeper than the nesting bound if asked).
    /// </summary>
    private static void EvenOdd(Assembler a, int depth)
    {
        Label even = a.CreateLabel(), odd = a.CreateLabel();
        a.mov(edi, depth);
        a.call(even);
        a.hlt();
        // f(n) = n == 0 ? atZero : other(n - 1)
        void Function(ref Label self, Label other, int atZero)
        {
            Label zero = a.CreateLabel();
            a.Label(ref self);
            a.test(edi, edi);
            a.jz(zero);
            a.dec(edi);
            a.call(other);
            a.ret();
            a.Label(ref zero);
            a.mov(eax, atZero);
            a.ret();
        }
        Function(ref even, odd, 1);
        Function(ref odd, even, 0);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void MutualRecursionDeeperThanNestingBound_AnyMode_SameResultAsInterpreter(ExecutionMode mode)
    {
        int depth = Vcpu.MaxCallDepth * 5 + 2;
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, a => EvenOdd(a, depth));
        TestMachine m = RunToHalt(mode, a => EvenOdd(a, depth));
        Assert.Equal(1UL, m.State[Gpr.Rax]);
        AssertSameAsInterpreter(expected, m);
        Assert.Equal(TestMachine.StackTop - 0x100, m.State[Gpr.Rsp]);
        if (mode != ExecutionMode.Interpret) Assert.True(m.Machine.Stats.TranslatedCalls > Vcpu.MaxCallDepth, $"translated calls: {m.Machine.Stats.TranslatedCalls}");
    }

    /// <summary>
    /// Once fib's unit covers its whole body, its recursive calls are branches inside the unit and its RETs branch
    /// back to the return addresses in it: almost none of fib(20)'s 21,891 calls is a host call any more.
    /// </summary>
    [Theory]
    [InlineData(ExecutionMode.Translate)]
    [InlineData(ExecutionMode.Tiered)]
    public void Recursion_HotUnit_CallsAndReturnsInsideTheUnit(ExecutionMode mode)
    {
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, a => Fibonacci(a, 20));
        TestMachine m = RunToHalt(mode, a => Fibonacci(a, 20));
        Assert.Equal(6765UL, m.State[Gpr.Rax]);
        AssertSameAsInterpreter(expected, m);
        Assert.InRange(m.Machine.Stats.TranslatedCalls, 1, 21_891 / 20);
        Assert.Equal(TestMachine.StackTop - 0x100, m.State[Gpr.Rsp]);
    }

    /// <summary>
    /// A loop calling a small function (two blocks) 5,000 times: once the loop's unit is regrown (after 256 calls,
    /// as it loops inside itself and is entered only once), the warm callee is part of its region, the CALL is a
    /// branch and the RET comes back in line, so almost no call is a host call. A call through a PLT stub stays a
    /// translated call (see the PLT tests).
    /// </summary>
    [Theory]
    [InlineData(ExecutionMode.Translate)]
    [InlineData(ExecutionMode.Tiered)]
    public void HotCallee_JoinsCallersRegion_CallsAndReturnsInLine(ExecutionMode mode)
    {
        static void Program(Assembler a)
        {
            Label clamp = a.CreateLabel(), small = a.CreateLabel();
            CountedLoop(a, 5000, () =>
            {
                a.mov(edi, ecx);
                a.call(clamp);
                a.add(rbx, rax);
            });
            a.Label(ref clamp); // rax = min(rdi, 1000)
            a.mov(eax, edi);
            a.cmp(edi, 1000);
            a.jb(small);
            a.mov(eax, 1000);
            a.Label(ref small);
            a.ret();
        }
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, Program);
        TestMachine m = RunToHalt(mode, Program);
        Assert.Equal(999UL * 1000 / 2 + 4001UL * 1000, m.State[Gpr.Rbx]);
        AssertSameAsInterpreter(expected, m);
        Assert.True(m.Machine.Stats.TranslatedCalls <= 1000, $"translated calls: {m.Machine.Stats.TranslatedCalls}, units regrown: {m.Machine.Stats.UnitsRegrown}");
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RecursionDeeperThanNestingBound_AnyMode_SameResultAsInterpreter(ExecutionMode mode)
    {
        int depth = Vcpu.MaxCallDepth * 5 + 3;
        // Three rounds, so that the deep path is translated and re-entered from the dispatcher.
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, a => DeepSum(a, depth, rounds: 3));
        TestMachine m = RunToHalt(mode, a => DeepSum(a, depth, rounds: 3));
        Assert.Equal((ulong)(depth * (depth + 1) / 2), m.State[Gpr.Rax]);
        Assert.Equal(3 * m.State[Gpr.Rax], m.State[Gpr.Rbx]);
        AssertSameAsInterpreter(expected, m);
        Assert.Equal(TestMachine.StackTop - 0x100, m.State[Gpr.Rsp]);
    }

    /// <summary>
    /// The callee drops its return address and jumps elsewhere (as longjmp does): the caller's unit must not
    /// go on at its return address.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void CalleeThatDoesNotReturn_CallerDoesNotContinue(ExecutionMode mode)
    {
        static void Program(Assembler a)
        {
            Label loop = a.CreateLabel(), callee = a.CreateLabel(), escape = a.CreateLabel(), done = a.CreateLabel();
            a.mov(ecx, 40);
            a.xor(ebx, ebx);
            a.xor(esi, esi);
            a.Label(ref loop);
            a.call(callee);
            a.add(esi, 1000); // runs only when the callee returned normally
            a.Label(ref escape);
            a.dec(ecx);
            a.jnz(loop);
            a.jmp(done);
            a.Label(ref callee);
            a.inc(ebx);
            a.test(ecx, 1);
            Label normal = a.CreateLabel();
            a.jz(normal);
            a.add(rsp, 8);    // drop the return address
            a.jmp(escape);
            a.Label(ref normal);
            a.ret();
            a.Label(ref done);
        }
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, Program);
        TestMachine m = RunToHalt(mode, Program);
        Assert.Equal(40UL, m.State[Gpr.Rbx]);
        Assert.Equal(20UL * 1000, m.State[Gpr.Rsi]);
        AssertSameAsInterpreter(expected, m);
    }

    /// <summary>A fault three translated calls deep shows the interpreter's precise state.</summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void FaultInNestedCallee_IsPrecise(ExecutionMode mode)
    {
        static void Program(Assembler a)
        {
            Label loop = a.CreateLabel(), f1 = a.CreateLabel(), f2 = a.CreateLabel(), f3 = a.CreateLabel();
            a.mov(ecx, 30);
            a.mov(rdi, TestMachine.DataBase + TestMachine.DataSize - 8 * 20);
            a.Label(ref loop);
            a.call(f1);
            a.dec(ecx);
            a.jnz(loop);
            a.hlt();
            a.Label(ref f1);
            a.push(rcx);
            a.call(f2);
            a.pop(rcx);
            a.ret();
            a.Label(ref f2);
            a.inc(rbx);
            a.call(f3);
            a.ret();
            a.Label(ref f3);
            a.mov(__qword_ptr[rdi], rbx); // faults once rdi leaves the data region
            a.add(rdi, 8);
            a.ret();
        }
        var expected = new TestMachine(ExecutionMode.Interpret).Load(Program);
        var m = new TestMachine(mode).Load(Program);
        StopReason want = expected.Run(), got = m.Run();
        Assert.Equal(StopKind.Faulted, got.Kind);
        Assert.Equal(want.Fault!.Value.Address, got.Fault!.Value.Address);
        Assert.Equal(TestMachine.DataBase + TestMachine.DataSize, got.Fault.Value.Address);
        AssertSameAsInterpreter(expected, m);
        Assert.StartsWith("mov [rdi],rbx", m.Machine.Cpu.DisassembleAt(m.State.Rip));
    }

    /// <summary>
    /// The callee rewrites the instruction at its caller's return address: when it returns, the caller's unit
    /// (waiting on the host stack) must not run its stale translation of it.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void CalleeRewritesCallersNextInstruction_CallerRunsNewBytes(ExecutionMode mode)
    {
        static void Program(Assembler a)
        {
            Label patch = a.CreateLabel(), patched = a.CreateLabel();
            CountedLoop(a, 50, () =>
            {
                a.call(patch);
                a.Label(ref patched);
                a.mov(eax, 0x11111111); // imm32 rewritten by the callee with ecx
                a.add(rbx, rax);
            });
            a.Label(ref patch);
            a.lea(rdi, __[patched]);
            a.mov(__dword_ptr[rdi + 1], ecx);
            a.ret();
        }
        TestMachine m = RunToHalt(mode, Program, writableCode: true);
        Assert.Equal((ulong)(50 * 51 / 2), m.State[Gpr.Rbx]);
    }

    /// <summary>
    /// Recursion (a unit calling its own entry, a branch inside the unit) whose deepest call rewrites, once the
    /// function is hot, the opcode right after the recursive call (ADD into SUB): every pending frame returns to
    /// code of the unit just invalidated and must run the new instruction, as the interpreter does.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RecursionRewritingItsOwnCode_CallersRunNewInstruction(ExecutionMode mode)
    {
        // 48 01 F8 (add rax, rdi) becomes 48 29 F8 (sub rax, rdi) in the 31st round, 330 calls in: past the hot
        // threshold, so the function runs translated in every mode but the interpreter by then.
        static void Program(Assembler a) => DeepSum(a, depth: 10, rounds: 40, atBottom: (b, after) =>
        {
            Label done = b.CreateLabel();
            b.cmp(ecx, 10);
            b.jne(done);
            b.lea(rsi, __[after]);
            b.mov(__byte_ptr[rsi + 1], 0x29);
            b.Label(ref done);
        });
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, Program, writableCode: true);
        TestMachine m = RunToHalt(mode, Program, writableCode: true);
        Assert.Equal(unchecked((ulong)-55L), m.State[Gpr.Rax]); // 0 - 1 - 2 - … - 10
        Assert.Equal(20UL * 55, m.State[Gpr.Rbx]); // 30 rounds of +55 (ADD), 10 of -55 (SUB)
        AssertSameAsInterpreter(expected, m);
        if (mode != ExecutionMode.Interpret) Assert.True(m.Machine.Stats.UnitsInvalidated >= 1);
    }

    /// <summary>
    /// 600 calls through a PLT-style stub (<c>jmp qword ptr [slot]</c>) to rax = rdi + 1; in the round with
    /// ecx = 300, <paramref name="retarget"/> runs (rsi = the slot, rdx = the stub, r8 = a second slot holding
    /// rax = 2·rdi, r9 = that function). The stub and slot share the code page, which is made writable. Runs in
    /// the interpreter and in <paramref name="mode"/>.
    /// </summary>
    private static (TestMachine Interpreted, TestMachine Machine, StopKind Stop) RunPltCalls(ExecutionMode mode, Action<Assembler> retarget)
    {
        TestMachine Run(ExecutionMode mode, out StopKind stop)
        {
            var m = new TestMachine(mode, backgroundTranslation: false).Load(Program);
            Assert.True(m.Memory.Protect(TestMachine.CodeBase, 0x1000, PagePermissions.All));
            stop = m.Run().Kind;
            return m;
        }
        TestMachine interpreted = Run(ExecutionMode.Interpret, out _), machine = Run(mode, out StopKind stop);
        return (interpreted, machine, stop);

        void Program(Assembler a)
        {
            Label skip = a.CreateLabel(), stub = a.CreateLabel(), slot = a.CreateLabel(),
                slot2 = a.CreateLabel(), f = a.CreateLabel(), g = a.CreateLabel();
            a.lea(rsi, __[slot]);
            a.lea(rdx, __[stub]);
            a.lea(r8, __[slot2]);
            a.lea(r9, __[g]);
            a.lea(rax, __[f]);
            a.mov(__qword_ptr[rsi], rax);
            a.mov(__qword_ptr[r8], r9);
            CountedLoop(a, 600, () =>
            {
                a.mov(edi, ecx);
                a.call(stub);
                a.add(rbx, rax);
                a.cmp(ecx, 300);
                a.jne(skip);
                retarget(a);
                a.Label(ref skip);
            });
            a.Label(ref stub);
            a.jmp(__qword_ptr[slot]);
            a.Label(ref f);
            a.lea(rax, __[rdi + 1]);
            a.ret();
            a.Label(ref g);
            a.lea(rax, __[rdi + rdi]);
            a.ret();
            a.Label(ref slot);
            a.dq(0);
            a.Label(ref slot2);
            a.dq(0);
        }
    }

    /// <summary>Σ (c + 1) for c = 600…300, then Σ 2c for c = 299…1.</summary>
    private const ulong PltCallsRetargeted = 301 * 451 + 299 * 300;

    /// <summary>
    /// A call through a PLT stub, which translated calls take themselves, goes on into the function the stub
    /// names now: after the slot is rewritten, or the stub itself (its displacement then names the second slot),
    /// the new function.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesTimesTwo))]
    public void CallThroughPltStub_Retargeted_CallsNewTarget(ExecutionMode mode, bool rewriteStub)
    {
        // jmp [rip+disp32] is FF 25 disp32, relative to the end of the 6-byte instruction: add the slots' distance.
        Action<Assembler> retarget = rewriteStub ? a => a.add(__dword_ptr[rdx + 2], 8) : a => a.mov(__qword_ptr[rsi], r9);
        (TestMachine expected, TestMachine m, StopKind stop) = RunPltCalls(mode, retarget);
        Assert.Equal(StopKind.Halted, stop);
        Assert.Equal(PltCallsRetargeted, m.State[Gpr.Rbx]);
        AssertSameAsInterpreter(expected, m);
    }

    /// <summary>A slot holding a non-canonical address faults at the stub's jump, with the call's push done.</summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void CallThroughPltStub_NonCanonicalSlot_FaultsAtStubPrecisely(ExecutionMode mode)
    {
        static void Retarget(Assembler a)
        {
            a.mov(rax, unchecked((long)0x8000_0000_0000_0000UL));
            a.mov(__qword_ptr[rsi], rax);
        }
        (TestMachine expected, TestMachine m, StopKind stop) = RunPltCalls(mode, Retarget);
        Assert.Equal(StopKind.Faulted, stop);
        Assert.Equal(m.State[Gpr.Rdx], m.State.Rip); // at the stub
        AssertSameAsInterpreter(expected, m);
        Assert.StartsWith("jmp qword ptr", m.Machine.Cpu.DisassembleAt(m.State.Rip));
    }

    /// <summary>
    /// Calls f in a loop and sums its results in rbx; f ends by jumping through a table (in the data region) to
    /// one of four cases by n &amp; 3, each of which adds <see cref="JumpTableCase"/>(n) to rax and returns.
    /// Non-recursive: 600 rounds of f(n = ecx) = case(n). Recursive: 100 rounds of f(12), where f(n) = 0 for
    /// n = 0 and f(n - 1) + case(n) otherwise, the jump coming after the recursive call returned.
    /// </summary>
    private static void JumpTableCalls(Assembler a, bool recursive)
    {
        Label f = a.CreateLabel(), zero = a.CreateLabel();
        Label[] cases = [a.CreateLabel(), a.CreateLabel(), a.CreateLabel(), a.CreateLabel()];
        a.mov(rsi, (long)TestMachine.DataBase);
        for (int i = 0; i < cases.Length; i++)
        {
            a.lea(rax, __[cases[i]]);
            a.mov(__qword_ptr[rsi + 8 * i], rax);
        }
        CountedLoop(a, recursive ? 100 : 600, () =>
        {
            if (recursive) a.mov(edi, 12); else a.mov(edi, ecx);
            a.call(f);
            a.add(rbx, rax);
        });
        a.Label(ref f);
        if (recursive)
        {
            a.test(edi, edi);
            a.jz(zero);
            a.push(rdi);
            a.dec(edi);
            a.call(f);
            a.pop(rdi);
        }
        else a.xor(eax, eax);
        a.mov(edx, edi);
        a.and(edx, 3);
        a.jmp(__qword_ptr[rsi + rdx * 8]);
        a.Label(ref cases[0]);
        a.lea(rax, __[rax + rdi + 1]);
        a.ret();
        a.Label(ref cases[1]);
        a.lea(rax, __[rax + rdi * 2]);
        a.ret();
        a.Label(ref cases[2]);
        a.lea(rdx, __[rdi + rdi * 2]);
        a.add(rax, rdx);
        a.ret();
        a.Label(ref cases[3]);
        a.ret();
        a.Label(ref zero);
        a.xor(eax, eax);
        a.ret();
    }

    private static ulong JumpTableCase(ulong n) => (n & 3) switch { 0 => n + 1, 1 => 2 * n, 2 => 3 * n, _ => 0 };

    /// <summary>
    /// The callee leaves its unit through a jump table for a case that returns (and, recursive, after its own
    /// recursive call, which the unit makes directly): the caller follows it there, still nested, and goes on
    /// when it returns.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesTimesTwo))]
    public void CalleeLeavingThroughJumpTable_ReturnsIntoCaller(ExecutionMode mode, bool recursive)
    {
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, a => JumpTableCalls(a, recursive));
        TestMachine m = RunToHalt(mode, a => JumpTableCalls(a, recursive));
        ulong sum = 0;
        if (recursive)
            for (ulong n = 1; n <= 12; n++) sum += 100 * JumpTableCase(n);
        else
            for (ulong c = 600; c >= 1; c--) sum += JumpTableCase(c);
        Assert.Equal(sum, m.State[Gpr.Rbx]);
        AssertSameAsInterpreter(expected, m);
    }

    /// <summary>Every execution mode, each with false and true.</summary>
    public static TheoryData<ExecutionMode, bool> ModesTimesTwo()
    {
        var data = new TheoryData<ExecutionMode, bool>();
        foreach (ExecutionMode mode in Enum.GetValues<ExecutionMode>())
        {
            data.Add(mode, false);
            data.Add(mode, true);
        }
        return data;
    }

    /// <summary>
    /// A loop calling a function through a register 5,000 times (a comparator passed to qsort): once the loop's
    /// unit is regrown, the site's first target is part of its region and entered in line behind a compare, so
    /// those calls are no host calls. The last 1,000 calls go to a second function: the compare fails and they are
    /// translated calls, with the same results as the interpreter's.
    /// </summary>
    [Theory]
    [InlineData(ExecutionMode.Translate)]
    [InlineData(ExecutionMode.Tiered)]
    public void HotIndirectCallee_JoinsCallersRegionBehindCompare(ExecutionMode mode)
    {
        static void Program(Assembler a)
        {
            Label twice = a.CreateLabel(), square = a.CreateLabel(), first = a.CreateLabel();
            CountedLoop(a, 5000, () =>
            {
                a.lea(rdx, __[twice]);
                a.lea(rsi, __[square]);
                a.cmp(ecx, 1000);
                a.cmovbe(rdx, rsi);
                a.mov(edi, ecx);
                a.call(rdx);
                a.add(rbx, rax);
            });
            a.Label(ref twice); // rax = 2·rdi, in two blocks
            a.lea(rax, __[rdi + rdi]);
            a.test(edi, 1);
            a.jz(first);
            a.Label(ref first);
            a.ret();
            a.Label(ref square);
            a.mov(rax, rdi);
            a.imul(rax, rdi);
            a.ret();
        }
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, Program);
        TestMachine m = RunToHalt(mode, Program);
        ulong sum = 0;
        for (ulong c = 1; c <= 5000; c++) sum += c <= 1000 ? c * c : 2 * c;
        Assert.Equal(sum, m.State[Gpr.Rbx]);
        AssertSameAsInterpreter(expected, m);
        Assert.True(m.Machine.Stats.TranslatedCalls is >= 1000 and <= 2000, $"translated calls: {m.Machine.Stats.TranslatedCalls}");
    }

    /// <summary>
    /// A recursive function whose deepest level tail-calls a function through a PLT stub (<c>jmp stub</c>, as
    /// glibc's msort ends with <c>jmp memcpy</c>), 2,000 times 8 levels deep. The recursion is inside one unit;
    /// the tail call is a nested host call whose RET comes back to a return site of that unit, so a round makes
    /// few trips out of the unit (without that, it would return through the dispatcher once per level).
    /// </summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void TailCallFromRecursion_ComesBackInLine(ExecutionMode mode)
    {
        static void Program(Assembler a)
        {
            Label stub = a.CreateLabel(), slot = a.CreateLabel(), seven = a.CreateLabel();
            a.lea(rax, __[seven]);
            a.mov(__qword_ptr[slot], rax);
            DeepSum(a, 8, rounds: 2000, atBottom: (a, _) => a.jmp(stub));
            a.Label(ref stub);
            a.jmp(__qword_ptr[slot]);
            a.Label(ref seven);
            a.mov(eax, 7);
            a.ret();
            a.Label(ref slot);
            a.dq(0);
        }
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, Program, writableCode: true);
        TestMachine m = RunToHalt(mode, Program, writableCode: true);
        Assert.Equal(2000UL * (36 + 7), m.State[Gpr.Rbx]);
        AssertSameAsInterpreter(expected, m);
        if (mode == ExecutionMode.Interpret) return;
        // Trips to the next unit other than by a branch: fewer than 4 a round (one per level, 8 a round, and
        // about 22,000 in all, when the tail call leaves the unit).
        long trips = m.Machine.Stats.TranslationCacheLookups + m.Machine.Stats.ChainedExits;
        Assert.True(trips < 4 * 2000, $"lookups + chained exits: {trips}");
    }

    /// <summary>
    /// A hot indirect callee entered in line (see the test above) is rewritten by its caller when ECX reaches
    /// 2,000 of 3,000 (its ADD becomes a SUB): the caller's unit holds a copy of the callee, so it must die and
    /// every later call must run the new instruction, as in the interpreter; the regrown unit takes the new
    /// callee in again.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void HotIndirectCallee_RewrittenByCaller_RunsNewInstruction(ExecutionMode mode)
    {
        static void Program(Assembler a)
        {
            Label callee = a.CreateLabel(), keep = a.CreateLabel();
            CountedLoop(a, 3000, () =>
            {
                a.cmp(ecx, 2000);
                a.jne(keep);
                a.lea(rdi, __[callee]);
                a.mov(__byte_ptr[rdi + 1], 0x29); // 48 01 F3 (add rbx, rsi) becomes 48 29 F3 (sub rbx, rsi)
                a.Label(ref keep);
                a.mov(esi, ecx);
                a.lea(rdx, __[callee]);
                a.call(rdx);
            });
            a.Label(ref callee);
            a.add(rbx, rsi);
            a.ret();
        }
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, Program, writableCode: true);
        TestMachine m = RunToHalt(mode, Program, writableCode: true);
        ulong sum = 0;
        for (ulong c = 3000; c >= 1; c--) sum = c > 2000 ? sum + c : sum - c;
        Assert.Equal(sum, m.State[Gpr.Rbx]);
        AssertSameAsInterpreter(expected, m);
        if (mode == ExecutionMode.Interpret) return;
        Assert.True(m.Machine.Stats.UnitsInvalidated >= 1, $"units invalidated: {m.Machine.Stats.UnitsInvalidated}");
        Assert.True(m.Machine.Stats.TranslatedCalls < 1000, $"translated calls: {m.Machine.Stats.TranslatedCalls}"); // in line before and after
    }

    /// <summary>An indirect call whose target changes every time calls the right function each time.</summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void IndirectCallWithChangingTarget_CallsEachTarget(ExecutionMode mode)
    {
        static void Program(Assembler a)
        {
            Label addOne = a.CreateLabel(), addHundred = a.CreateLabel();
            CountedLoop(a, 60, () =>
            {
                a.lea(rax, __[addOne]);
                a.lea(rdx, __[addHundred]);
                a.test(ecx, 1);
                a.cmovz(rax, rdx);
                a.call(rax);
            });
            a.Label(ref addOne);
            a.add(rbx, 1);
            a.ret();
            a.Label(ref addHundred);
            a.add(rbx, 100);
            a.ret();
        }
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, Program);
        TestMachine m = RunToHalt(mode, Program);
        Assert.Equal(30UL * 101, m.State[Gpr.Rbx]);
        AssertSameAsInterpreter(expected, m);
    }

    /// <summary>
    /// One indirect call site cycling through <paramref name="targets"/> functions (function j adds j + 1), 3,000
    /// calls. The site's <see cref="Vcpu.IndirectCallWays"/> slots serve the calls of its first targets without a
    /// translation-cache lookup, and once the loop's unit is regrown it enters those targets in line and its new
    /// slots serve as many more (translate mode's baseline blocks still go through the dispatcher until they are
    /// regrown, a few hundred lookups); the calls of the targets beyond are looked up each time. Every mode
    /// computes the same.
    /// </summary>
    [Theory]
    [MemberData(nameof(ModesTimesTargets))]
    public void IndirectCallSiteWithSeveralTargets_CallsEachTarget(ExecutionMode mode, int targets)
    {
        void Program(Assembler a)
        {
            var functions = new Label[targets];
            for (int j = 0; j < targets; j++) functions[j] = a.CreateLabel();
            a.mov(rdi, (long)TestMachine.DataBase);
            for (int j = 0; j < targets; j++)
            {
                a.lea(rax, __[functions[j]]);
                a.mov(__qword_ptr[rdi + 8 * j], rax);
            }
            a.xor(esi, esi); // the table index
            CountedLoop(a, 3000, () =>
            {
                a.call(__qword_ptr[rdi + rsi * 8]);
                a.inc(esi);
                a.cmp(esi, targets);
                a.mov(edx, 0);
                a.cmove(esi, edx);
            });
            for (int j = 0; j < targets; j++)
            {
                a.Label(ref functions[j]);
                a.add(rbx, j + 1);
                a.ret();
            }
        }
        TestMachine expected = RunToHalt(ExecutionMode.Interpret, Program);
        TestMachine m = RunToHalt(mode, Program);
        int[] perTarget = new int[targets];
        for (int i = 0; i < 3000; i++) perTarget[i % targets]++;
        ulong sum = 0;
        for (int j = 0; j < targets; j++) sum += (ulong)(perTarget[j] * (j + 1));
        Assert.Equal(sum, m.State[Gpr.Rbx]);
        AssertSameAsInterpreter(expected, m);
        if (mode == ExecutionMode.Interpret) return;
        long lookups = m.Machine.Stats.TranslationCacheLookups;
        const int served = 2 * Vcpu.IndirectCallWays; // in line, then in the regrown unit's slots
        if (targets <= served) Assert.True(lookups < 600, $"lookups: {lookups}");
        else Assert.True(lookups > 3000 * (targets - served) / targets * 9 / 10, $"lookups: {lookups}"); // the targets without a slot
    }

    public static TheoryData<ExecutionMode, int> ModesTimesTargets()
    {
        var data = new TheoryData<ExecutionMode, int>();
        foreach (ExecutionMode mode in TestMachine.AllModes)
            foreach (int targets in new[] { 2, Vcpu.IndirectCallWays, Vcpu.IndirectCallWays + 2, 2 * Vcpu.IndirectCallWays + 2 }) data.Add(mode, targets);
        return data;
    }

    /// <summary>The instruction budget still stops the guest inside nested translated calls.</summary>
    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void InstructionLimit_InsideRecursion_StopsNearBudget(ExecutionMode mode)
    {
        var m = new TestMachine(mode, backgroundTranslation: false).Load(a => Fibonacci(a, 20));
        StopReason r = m.Run(limit: 5000);
        Assert.Equal(StopKind.InstructionLimit, r.Kind);
        Assert.InRange(m.Machine.Stats.GuestInstructions, 5000, 5000 + 2000);
        // And it resumes to the right answer.
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(6765UL, m.State[Gpr.Rax]);
    }
}
