using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Support;

/// <summary>Small guest loops shared by the translation tests.</summary>
internal static class GuestLoops
{
    /// <summary>rax = 1 + 2 + … + 1000 (500500), rcx counting down from 1000 to 0: 2 + 3 * 1000 instructions.</summary>
    public static void CountingLoop(Assembler a) => Accumulate(a, b => b.add(rax, rcx));

    /// <summary>rax = 7 * 1000, its "add rax, 7" encoded with an imm32 (48 05 07 00 00 00) so tests can patch it.</summary>
    public static void AddImmediateLoop(Assembler a) => Accumulate(a, b => b.add(rax, 7));

    /// <summary>ecx counts down from <paramref name="rounds"/> to 0, running <paramref name="body"/> each round.</summary>
    public static void CountDown(Assembler a, int rounds, Action<Assembler> body)
    {
        Label loop = a.CreateLabel();
        a.mov(ecx, rounds);
        a.Label(ref loop);
        body(a);
        a.dec(ecx);
        a.jnz(loop);
    }

    /// <summary>Zeroes eax, then runs <paramref name="add"/> with rcx = 1000 down to 1.</summary>
    private static void Accumulate(Assembler a, Action<Assembler> add)
    {
        Label loop = a.CreateLabel();
        a.mov(rcx, 1000);
        a.xor(eax, eax);
        a.Label(ref loop);
        add(a);
        a.dec(rcx);
        a.jnz(loop);
    }
}
