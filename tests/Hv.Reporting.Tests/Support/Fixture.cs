using Hv.Core.Smc;

namespace Hv.Reporting.Tests.Support;

/// <summary>Builds SMC events and logs for tests, in the real line format (<see cref="SmcEventJson.ToLine"/>).</summary>
internal static class Fixture
{
    public static SmcEvent Event(long seq, long tUs, ulong rip, string writer, ulong addr, int len, long ns,
        params InvalidatedRange[] invalidated) => new()
    {
        Sequence = seq,
        TimeMicroseconds = tUs,
        GuestInstructions = seq * 1000,
        WriterRip = rip,
        Writer = writer,
        Address = addr,
        OldBytes = new byte[len],
        NewBytes = Enumerable.Repeat((byte)0x90, len).ToArray(),
        Before = [$"0x{addr:x} add eax,{seq}"],
        After = [$"0x{addr:x} nop"],
        Invalidated = invalidated,
        HandlingNanoseconds = ns,
    };

    public static InvalidatedRange Unit(ulong start, ulong end) => new(start, end, "unit");

    public static InvalidatedRange Block(ulong start, ulong end) => new(start, end, "block");

    public static InvalidatedRange Patched(ulong start, ulong end) => new(start, end, "patched");

    public const ulong PatchRip = 0x401000, LoopRip = 0x401100, SyscallRip = 0x402000;

    /// <summary>
    /// Seven events: a patcher writing 4 bytes at 0x500000 three times and 1 byte at 0x500002 once (one merged
    /// range 0x500000-0x500004 with two writers once the loop writer's byte is counted), a loop writer hitting
    /// 0x500002 and 0x600000, and a read() syscall filling 0x600000-0x600010. Invalidated: 5 units, 3 blocks,
    /// 1 patched block and 1 range of an unknown kind.
    /// </summary>
    public static SmcEvent[] Events() =>
    [
        Event(1, 100, PatchRip, "mov dword ptr [rdi],eax", 0x500000, 4, 1000, Unit(0x500000, 0x500010)),
        Event(2, 200, PatchRip, "mov dword ptr [rdi],eax", 0x500000, 4, 2000, Unit(0x500000, 0x500010), Block(0x500000, 0x500008)),
        Event(3, 300, LoopRip, "mov byte ptr [rsi+rcx],dl", 0x500002, 1, 500),
        Event(4, 400, PatchRip, "mov dword ptr [rdi],eax", 0x500000, 4, 1500, Unit(0x500000, 0x500010)),
        Event(5, 1000, LoopRip, "mov byte ptr [rsi+rcx],dl", 0x600000, 1, 300, Block(0x600000, 0x600004)),
        Event(6, 5000, SyscallRip, "syscall read", 0x600000, 16, 9000, Unit(0x600000, 0x600020), Unit(0x600004, 0x600010), Block(0x600000, 0x600004), Patched(0x600010, 0x600018)),
        Event(7, 5100, LoopRip, "mov byte ptr [rsi+rcx],dl", 0x700000, 1, 200, new InvalidatedRange(0x700000, 0x700001, "frame")),
    ];

    public static SmcReport Report(IEnumerable<SmcEvent> events)
    {
        var analyzer = new SmcAnalyzer();
        foreach (SmcEvent e in events) analyzer.Add(e);
        return analyzer.Build();
    }

    public static string Log(IEnumerable<SmcEvent> events) => string.Join("\n", events.Select(SmcEventJson.ToLine)) + "\n";
}
