using System.Diagnostics;
using Hv.Core.Decoding;
using Hv.Core.Diagnostics;
using Hv.Core.Execution;
using Hv.Core.Translation;
using Iced.Intel;

namespace Hv.Core.Smc;

/// <summary>
/// An <see cref="SmcEvent"/> being assembled: what is known before the write lands (old bytes, old
/// disassembly, what was thrown away) is captured first; the disassembly after and the time are added once the
/// bytes are in. Only built when somebody listens (<see cref="Machine.WantsSmcEvents"/>).
/// </summary>
internal sealed class PendingEvent
{
    private readonly List<InvalidatedRange> invalidated = [];
    private SmcEvent draft = null!;
    private ulong codeFirst, codeEnd;

    public static PendingEvent Begin(long sequence, Stopwatch clock, HvStats stats, Vcpu cpu, string? writer,
        CodeFrame frame, int offset, ReadOnlySpan<byte> newBytes, ulong guestAddress, int changedStart, int changedEnd,
        List<DecodedBlock> hits)
    {
        var e = new PendingEvent();
        // Where the changed bytes are as code (the alias the code was decoded through).
        ulong codeBase = 0;
        var before = new SortedDictionary<ulong, string>();
        foreach (DecodedBlock b in hits)
            for (int part = 0; part < b.PartCount; part++)
            {
                if (!ReferenceEquals(b.PageOf(part), frame.Page)) continue;
                ulong pageBase = b.PartBase(part);
                if (codeBase == 0) codeBase = pageBase;
                ulong first = pageBase + (ulong)changedStart, end = pageBase + (ulong)changedEnd;
                foreach (Instruction ins in b.Code)
                {
                    if (ins.IP >= end || ins.NextIP <= first) continue;
                    before.TryAdd(ins.IP, $"0x{ins.IP:x} {ins}");
                    e.codeFirst = e.codeEnd == 0 ? ins.IP : Math.Min(e.codeFirst, ins.IP);
                    e.codeEnd = Math.Max(e.codeEnd, Math.Max(ins.NextIP, end));
                }
            }
        ulong rip = cpu.InstructionStart;
        e.draft = new SmcEvent
        {
            Sequence = sequence,
            TimeMicroseconds = (long)clock.Elapsed.TotalMicroseconds,
            GuestInstructions = stats.GuestInstructions,
            WriterRip = rip,
            Writer = writer ?? cpu.DisassembleAt(rip) ?? "<unknown>",
            Address = guestAddress != 0 ? guestAddress : codeBase + (ulong)offset,
            OldBytes = frame.Page.Data.AsSpan(offset, newBytes.Length).ToArray(),
            NewBytes = newBytes.ToArray(),
            Before = [.. before.Values],
            After = [],
            Invalidated = [],
            HandlingNanoseconds = 0,
        };
        return e;
    }

    public void Patched(DecodedBlock b) => invalidated.Add(new InvalidatedRange(b.Start, b.End, "patched"));

    public void Killed(DecodedBlock b) => invalidated.Add(new InvalidatedRange(b.Start, b.End, "block"));

    public void Killed(TranslatedUnit u)
    {
        ulong end = u.Start;
        foreach (DecodedBlock b in u.Blocks) end = Math.Max(end, b.End);
        invalidated.Add(new InvalidatedRange(u.Start, end, "unit"));
    }

    /// <summary>Completes the event once the write has landed.</summary>
    public SmcEvent Finish(Vcpu cpu, TimeSpan elapsed) => draft with
    {
        After = DisassembleNow(cpu),
        Invalidated = [.. invalidated],
        HandlingNanoseconds = (long)(elapsed.TotalMicroseconds * 1000),
    };

    private string[] DisassembleNow(Vcpu cpu)
    {
        if (codeEnd <= codeFirst) return [];
        var bytes = new byte[(int)Math.Min(codeEnd - codeFirst + 15, 4096)];
        int n = 0;
        while (n < bytes.Length && cpu.Memory.Space.TryRead(codeFirst + (ulong)n, bytes.AsSpan(n, 1), checkPermissions: false)) n++;
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes, 0, n), codeFirst);
        var lines = new List<string>();
        while (decoder.IP < codeEnd && decoder.IP < codeFirst + (ulong)n)
        {
            decoder.Decode(out Instruction ins);
            if (ins.Length == 0) break;
            lines.Add(ins.Code == Code.INVALID ? $"0x{ins.IP:x} (bad)" : $"0x{ins.IP:x} {ins}");
        }
        return [.. lines];
    }
}
