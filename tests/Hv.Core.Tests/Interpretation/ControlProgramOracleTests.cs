using Hv.Core.Cpu;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Interpretation;

/// <summary>
/// Small programs mixing integer instructions with branches, calls and string instructions, checked against
/// the host CPU: branches on lazily computed flags of every kind, recursion, and libc-style string routines.
/// </summary>
public sealed class ControlProgramOracleTests
{
    private const ulong Data = TestMachine.DataBase;

    private static readonly ulong[] Interesting =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
        0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFE,
    ];

    private static ulong Pick(Random r) => r.Next(3) == 0 ? (ulong)r.NextInt64() : Interesting[r.Next(Interesting.Length)];

    public static TheoryData<ExecutionMode, int> ModesAndFlagProducers()
    {
        var d = new TheoryData<ExecutionMode, int>();
        foreach (var mode in new[] { ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered })
            for (int p = 0; p < 8; p++) d.Add(mode, p);
        return d;
    }

    private static void Produce(Assembler a, int producer)
    {
        switch (producer)
        {
            case 0: a.cmp(rax, rbx); break;
            case 1: a.cmp(eax, ebx); break;
            case 2: a.cmp(al, bl); break;
            case 3: a.sub(ax, bx); break;
            case 4: a.add(rax, rbx); break;
            case 5: a.test(rax, rbx); break;
            case 6: a.dec(rax); break;
            default: a.inc(eax); break;
        }
    }

    [Theory]
    [MemberData(nameof(ModesAndFlagProducers))]
    public void Jcc_AfterEveryKindOfFlagProducer_MatchesHost(ExecutionMode mode, int producer)
    {
        var random = new Random(producer * 31 + (int)mode);
        for (int cc = 0; cc < 16; cc++)
        {
            int c = cc;
            using var oracle = new OracleCase(mode, a =>
            {
                Produce(a, producer);
                a.db((byte)(0x70 + c), 2); // jcc +2
                a.push(1);
                a.push(2);
                a.db((byte)(0x70 + (c ^ 1)), 2); // the opposite condition on the same flags
                a.push(3);
                a.push(4);
            });
            for (int i = 0; i < 10; i++)
            {
                CpuSnapshot s = CpuSnapshot.Create();
                s[Gpr.Rax] = Pick(random);
                s[Gpr.Rbx] = i % 4 == 0 ? s[Gpr.Rax] : Pick(random);
                s.RFlags = (ulong)random.NextInt64() & (ulong)RFlags.Status;
                oracle.Run(s).AssertSame(context: $"producer {producer} cc {c} rax 0x{s[Gpr.Rax]:x} rbx 0x{s[Gpr.Rbx]:x}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Xlatb_RandomTables_MatchHost(ExecutionMode mode)
    {
        using var oracle = new OracleCase(mode, a => { a.xlatb(); a.xlatb(); });
        var random = new Random(21);
        for (int i = 0; i < 10; i++)
        {
            CpuSnapshot s = CpuSnapshot.CreateRandom(random);
            s[Gpr.Rbx] = Data + (ulong)random.Next(0, 0x1F00);
            oracle.Run(s).AssertSame(context: $"iteration {i}");
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RecursiveFibonacci_CallRetStackFrames_MatchHost(ExecutionMode mode)
    {
        // rax = fib(rdi) with a frame per call (push rbp / mov rbp,rsp / leave) and the callee-saved rbx on the stack.
        using var oracle = new OracleCase(mode, a =>
        {
            Label fib = a.CreateLabel(), small = a.CreateLabel(), end = a.CreateLabel();
            a.call(fib);
            a.jmp(end);
            a.Label(ref fib);
            a.push(rbp);
            a.mov(rbp, rsp);
            a.push(rbx);
            a.push(rdi);
            a.cmp(rdi, 2);
            a.jb(small);
            a.dec(rdi);
            a.call(fib);
            a.mov(rbx, rax);
            a.mov(rdi, __qword_ptr[rbp - 16]);
            a.sub(rdi, 2);
            a.call(fib);
            a.add(rax, rbx);
            a.pop(rdi);
            a.pop(rbx);
            a.leave();
            a.ret();
            a.Label(ref small);
            a.mov(rax, rdi);
            a.pop(rdi);
            a.pop(rbx);
            a.leave();
            a.ret();
            a.Label(ref end);
        });
        foreach (ulong n in new ulong[] { 0, 1, 2, 10, 17 })
        {
            CpuSnapshot s = CpuSnapshot.Create();
            s[Gpr.Rdi] = n;
            s[Gpr.Rbx] = 0xB0B;
            var r = oracle.Run(s);
            r.AssertSame(context: $"fib({n})");
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void MuslStyleMemcpyAndMemmove_MatchHost(ExecutionMode mode)
    {
        // memcpy: rep movsq for the bulk, rep movsb for the tail; memmove backwards with std/rep movsb/cld.
        using var copy = new OracleCase(mode, a =>
        {
            a.mov(rcx, rdx);
            a.shr(rcx, 3);
            a.rep.movsq();
            a.mov(rcx, rdx);
            a.and(ecx, 7);
            a.rep.movsb();
        });
        using var move = new OracleCase(mode, a =>
        {
            a.std();
            a.lea(rdi, __[rdi + rdx - 1]);
            a.lea(rsi, __[rsi + rdx - 1]);
            a.mov(rcx, rdx);
            a.rep.movsb();
            a.cld();
        });
        var random = new Random(11);
        for (int i = 0; i < 20; i++)
        {
            CpuSnapshot s = CpuSnapshot.CreateRandom(random);
            s.RFlags = 0;
            ulong n = (ulong)random.Next(0, 0xC00);
            s[Gpr.Rsi] = Data + (ulong)random.Next(0, 0x600);
            s[Gpr.Rdi] = Data + (ulong)random.Next(0, 0x600);
            s[Gpr.Rdx] = n;
            copy.Run(s).AssertSame(context: $"memcpy n={n}");
            move.Run(s).AssertSame(context: $"memmove n={n}");
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepneScasbStrlenAndRepeCmpsbStrcmp_MatchHost(ExecutionMode mode)
    {
        using var strlen = new OracleCase(mode, a =>
        {
            a.xor(eax, eax);
            a.mov(rcx, -1);
            a.repne.scasb();
            a.not(rcx);
            a.dec(rcx);
        });
        using var strcmp = new OracleCase(mode, a =>
        {
            Label done = a.CreateLabel();
            a.repe.cmpsb();
            a.setne(al);
            a.ja(done);
            a.neg(al);
            a.Label(ref done);
        });
        var random = new Random(12);
        for (int i = 0; i < 16; i++)
        {
            CpuSnapshot s = CpuSnapshot.CreateRandom(random);
            int length = random.Next(0, 0x1800);
            for (int k = 0; k < length; k++) s.Data[k] = (byte)random.Next(1, 256);
            s.Data[length] = 0;
            Array.Copy(s.Data, 0, s.Data, 0x1900, 0x600);
            if (i % 3 == 0) s.Data[0x1900 + random.Next(0, 0x600)] ^= 0x40;
            s.RFlags = 0;
            s[Gpr.Rdi] = Data;
            strlen.Run(s).AssertSame(context: $"strlen {length}");
            s[Gpr.Rsi] = Data;
            s[Gpr.Rdi] = Data + 0x1900;
            s[Gpr.Rcx] = 0x600;
            strcmp.Run(s).AssertSame(context: $"strcmp {i}");
        }
    }
}
