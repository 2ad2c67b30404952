using Hv.Core.Cpu;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Interpretation;

/// <summary>
/// Control-flow, stack and string instructions checked against the host CPU: the same snippet runs natively and
/// under Hv from the same (often random) state, and registers, flags, data and stack must come out identical.
/// </summary>
public sealed class ControlStringOracleTests
{
    private const ulong Data = TestMachine.DataBase;
    private const ulong Window = CpuSnapshot.DataWindow;
    private const ulong StatusAndDf = CpuSnapshot.ComparedFlags;

    private static CpuSnapshot RandomState(Random random, bool df)
    {
        CpuSnapshot s = CpuSnapshot.CreateRandom(random);
        s.RFlags = ((ulong)random.NextInt64() & (ulong)RFlags.Status) | (df ? (ulong)RFlags.DF : 0);
        return s;
    }

    // ---- string instructions ----

    public static TheoryData<ExecutionMode, string> StringCases()
    {
        var d = new TheoryData<ExecutionMode, string>();
        string[] names =
        [
            "movsb", "movsw", "movsd", "movsq", "stosb", "stosw", "stosd", "stosq", "lodsb", "lodsw", "lodsd", "lodsq",
            "cmpsb", "cmpsw", "cmpsd", "cmpsq", "scasb", "scasw", "scasd", "scasq",
        ];
        foreach (var mode in new[] { ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered })
            foreach (string n in names) d.Add(mode, n);
        return d;
    }

    private static int SizeOf(string name) => name[^1] switch { 'b' => 1, 'w' => 2, 'd' => 4, _ => 8 };

    private static void Emit(Assembler a, string name, int prefix)
    {
        // prefix: 0 none, 1 rep/repe (F3), 2 repne (F2)
        Assembler p = prefix switch { 1 => a.rep, 2 => a.repne, _ => a };
        switch (name)
        {
            case "movsb": p.movsb(); break;
            case "movsw": p.movsw(); break;
            case "movsd": p.movsd(); break;
            case "movsq": p.movsq(); break;
            case "stosb": p.stosb(); break;
            case "stosw": p.stosw(); break;
            case "stosd": p.stosd(); break;
            case "stosq": p.stosq(); break;
            case "lodsb": p.lodsb(); break;
            case "lodsw": p.lodsw(); break;
            case "lodsd": p.lodsd(); break;
            case "lodsq": p.lodsq(); break;
            case "cmpsb": p.cmpsb(); break;
            case "cmpsw": p.cmpsw(); break;
            case "cmpsd": p.cmpsd(); break;
            case "cmpsq": p.cmpsq(); break;
            case "scasb": p.scasb(); break;
            case "scasw": p.scasw(); break;
            case "scasd": p.scasd(); break;
            default: p.scasq(); break;
        }
    }

    [Theory]
    [MemberData(nameof(StringCases))]
    public void StringInstruction_RandomStatesAllPrefixesBothDirections_MatchHost(ExecutionMode mode, string name)
    {
        int size = SizeOf(name);
        var random = new Random(name.GetHashCode(StringComparison.Ordinal) ^ (int)mode);
        for (int prefix = 0; prefix < 3; prefix++)
        {
            using var oracle = new OracleCase(mode, a => Emit(a, name, prefix));
            for (int i = 0; i < 12; i++)
            {
                bool df = (i & 1) != 0;
                CpuSnapshot s = RandomState(random, df);
                ulong count = (ulong)random.Next(0, i < 6 ? 40 : 900);
                ulong span = count * (ulong)size + 8;
                // Keep every element inside the data window: forward from low offsets, backward from high ones.
                int lo = (int)span, hi = (int)(Window - span) - 24;
                ulong src = Data + (ulong)(df ? random.Next(lo, (int)Window - 24) : random.Next(0, hi));
                ulong dst = Data + (ulong)(df ? random.Next(lo, (int)Window - 24) : random.Next(0, hi));
                if (i % 4 == 2) dst = src + (ulong)random.Next(1, 12); // overlapping (and equal-data) cases
                if (i % 4 == 3)
                {
                    // Long equal runs so REPE/REPNE comparisons go far before they stop.
                    int from = (int)(src - Data), to = (int)(dst - Data);
                    int n = (int)Math.Min(span, Window - (ulong)Math.Max(from, to) - 1);
                    if (!df) Array.Copy(s.Data, from, s.Data, to, n);
                    s[Gpr.Rax] = s.Data[to] * 0x0101_0101_0101_0101UL;
                    for (int k = 0; k < n / 2; k++) s.Data[to + k] = s.Data[to];
                }
                s[Gpr.Rsi] = src;
                s[Gpr.Rdi] = dst;
                s[Gpr.Rcx] = prefix == 0 ? (ulong)random.NextInt64() : count;
                oracle.Run(s).AssertSame(context: $"{name} prefix {prefix} iteration {i} count {count} df {df}");
            }
        }
    }

    // ---- branches, loops ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Jcc_AllConditionsRandomFlags_MatchHost(ExecutionMode mode)
    {
        var random = new Random(77);
        for (int cc = 0; cc < 16; cc++)
        {
            int c = cc;
            using var oracle = new OracleCase(mode, a =>
            {
                Label skip = a.CreateLabel();
                a.db((byte)(0x70 + c), 2); // jcc +2
                a.push(1);
                a.Label(ref skip);
                a.push(2);
            });
            for (int i = 0; i < 12; i++)
            {
                CpuSnapshot s = CpuSnapshot.Create();
                s.RFlags = (ulong)random.NextInt64() & StatusAndDf;
                oracle.Run(s).AssertSame(context: $"cc {c} flags {CpuSnapshot.DescribeFlags(s.RFlags)}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void LoopVariants_WithScasBody_MatchHost(ExecutionMode mode)
    {
        var random = new Random(5);
        Action<Assembler>[] snippets =
        [
            a => { Label l = a.CreateLabel(); a.Label(ref l); a.push(rcx); a.loop(l); },
            a => { Label l = a.CreateLabel(); a.Label(ref l); a.scasb(); a.loopne(l); },
            a => { Label l = a.CreateLabel(); a.Label(ref l); a.scasb(); a.loope(l); },
            a => { Label l = a.CreateLabel(), e = a.CreateLabel(); a.jrcxz(e); a.Label(ref l); a.lodsb(); a.loop(l); a.Label(ref e); },
        ];
        foreach (Action<Assembler> snippet in snippets)
        {
            using var oracle = new OracleCase(mode, snippet);
            for (int i = 0; i < 10; i++)
            {
                CpuSnapshot s = RandomState(random, df: false);
                for (int k = 0; k < 64; k++) s.Data[k] = (byte)(i & 1); // runs of equal bytes for loope/loopne
                s.Data[random.Next(0, 64)] = 9;
                s[Gpr.Rcx] = (ulong)random.Next(0, 100);
                s[Gpr.Rax] = (ulong)(i & 1);
                s[Gpr.Rsi] = Data;
                s[Gpr.Rdi] = Data;
                oracle.Run(s).AssertSame(context: $"iteration {i}");
            }
        }
    }

    // ---- calls, stack, frames, flags ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void CallRetSequences_MatchHost(ExecutionMode mode)
    {
        Action<Assembler>[] snippets =
        [
            a =>
            {
                Label f = a.CreateLabel(), end = a.CreateLabel();
                a.call(f);
                a.push(rax);
                a.jmp(end);
                a.Label(ref f);
                a.push(rbx);
                a.pop(rax);
                a.ret();
                a.Label(ref end);
            },
            a =>
            {
                // ret imm16 dropping pushed arguments; an indirect call through memory and a register. g sits at
                // CodeBase+2 (behind a short jmp) so the test can hand its address in RDX.
                Label f = a.CreateLabel(), g = a.CreateLabel(), start = a.CreateLabel(), end = a.CreateLabel();
                a.jmp(start);
                a.Label(ref g);
                a.push(__qword_ptr[rsp]);
                a.pop(r8);
                a.ret();
                a.Label(ref start);
                a.push(3);
                a.push(4);
                a.call(f);
                a.push(rdx);
                a.call(__qword_ptr[rsp]);
                a.pop(rdx);
                a.call(rdx);
                a.jmp(end);
                a.Label(ref f);
                a.pop(rcx);      // return address
                a.push(rcx);
                a.ret(16);
                a.Label(ref end);
            },
            a =>
            {
                a.enter(0x28, 0);
                a.push(rbp);
                a.push(rsp);
                a.leave();
                a.enter(0x10, 3);
                a.push(rsp);
                a.leave();
            },
            a =>
            {
                a.push(ax);
                a.pop(r9w);
                a.push(__word_ptr[rsi]);
                a.pop(__word_ptr[rsi + 2]);
                a.push(rsp);
                a.pop(__qword_ptr[rsp]);
                a.pushfq();
                a.pop(rbx);
            },
        ];
        var random = new Random(9);
        foreach (Action<Assembler> snippet in snippets)
        {
            using var oracle = new OracleCase(mode, snippet);
            for (int i = 0; i < 6; i++)
            {
                CpuSnapshot s = RandomState(random, df: false);
                s[Gpr.Rbp] = Data + 0x800; // ENTER with nesting reads the enclosing display below RBP
                s[Gpr.Rsi] = Data + 0x100;
                s[Gpr.Rdx] = TestMachine.CodeBase + 2;
                oracle.Run(s).AssertSame(context: $"iteration {i}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void PopfqPushfq_RandomImages_MatchHost(ExecutionMode mode)
    {
        // AC is left out: Linux sets CR0.AM, so AC would turn on alignment checking in the test process.
        // TF is left out: it would single-step the host.
        using var oracle = new OracleCase(mode, a =>
        {
            a.push(rax);
            a.popfq();
            a.pushfq();
            a.pop(rbx);
            a.db(0x66, 0x9C);  // pushf (16-bit)
            a.pop(cx);
            a.push(rdx);
            a.db(0x66, 0x9D);  // popf (16-bit)
            a.pushfq();
            a.pop(rdi);
        });
        var random = new Random(3);
        for (int i = 0; i < 24; i++)
        {
            CpuSnapshot s = CpuSnapshot.Create();
            ulong allowed = StatusAndDf | (1UL << 21); // status, DF, ID
            s[Gpr.Rax] = ((ulong)random.NextInt64() & allowed) | 0x202;
            s[Gpr.Rdx] = ((ulong)random.NextInt64() & StatusAndDf & 0xFFFF) | 0x202;
            s.RFlags = (ulong)random.NextInt64() & StatusAndDf;
            oracle.Run(s).AssertSame(context: $"image 0x{s[Gpr.Rax]:x}");
        }
    }
}
