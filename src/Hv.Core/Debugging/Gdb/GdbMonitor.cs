using System.Text;
using Hv.Core.Smc;

namespace Hv.Core.Debugging.Gdb;

/// <summary>gdb's <c>monitor</c> commands (qRcmd): Hv-specific inspection of self-modifying code.</summary>
internal static class GdbMonitor
{
    private const string Help =
        "hv monitor commands:\n" +
        "  smc-break on|off   stop at every SMC event (reported as a write watchpoint hit on the written address)\n" +
        "  smc-stats          SMC and invalidation counters\n" +
        "  smc-last           the last SMC event, with the code before and after\n";

    /// <summary>Runs one command and returns its output (one or more lines).</summary>
    public static string Run(DebugController debugger, string command)
    {
        string[] words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        switch (words.Length == 0 ? "" : words[0])
        {
            case "" or "help":
                return Help;
            case "smc-break" when words.Length == 1:
                return $"smc-break is {(debugger.BreakOnSmc ? "on" : "off")}\n";
            case "smc-break" when words.Length == 2 && words[1] is "on" or "off":
                debugger.BreakOnSmc = words[1] == "on";
                return $"smc-break {words[1]}\n";
            case "smc-stats":
                return Stats(debugger);
            case "smc-last":
                return debugger.LastSmcEvent is { } e ? Describe(e) : "no SMC event yet\n";
            default:
                return $"unknown monitor command '{command}'\n" + Help;
        }
    }

    private static string Stats(DebugController debugger)
    {
        var sb = new StringBuilder();
        foreach (var (name, value) in debugger.Machine.Stats.Snapshot())
            if (name.StartsWith("smc_", StringComparison.Ordinal) || name.StartsWith("icache_", StringComparison.Ordinal)
                || name is "units_invalidated" or "blocks_invalidated")
                sb.Append(name).Append(' ').Append(value).Append('\n');
        sb.Append("smc_events_seen_by_debugger ").Append(debugger.SmcEvents).Append('\n');
        return sb.ToString();
    }

    /// <summary>One SMC event for a human: where, who, which bytes, and the code before and after.</summary>
    public static string Describe(SmcEvent e)
    {
        var sb = new StringBuilder();
        sb.Append($"smc event #{e.Sequence}: {e.NewBytes.Length} byte(s) at 0x{e.Address:x} written by 0x{e.WriterRip:x} ({e.Writer})\n");
        sb.Append($"  old bytes: {GdbPacket.ToHex(e.OldBytes)}\n  new bytes: {GdbPacket.ToHex(e.NewBytes)}\n");
        sb.Append("  before:\n");
        foreach (string line in e.Before) sb.Append("    ").Append(line).Append('\n');
        sb.Append("  after:\n");
        foreach (string line in e.After) sb.Append("    ").Append(line).Append('\n');
        foreach (InvalidatedRange r in e.Invalidated) sb.Append($"  invalidated {r.Kind} 0x{r.Start:x}-0x{r.End:x}\n");
        return sb.ToString();
    }
}
