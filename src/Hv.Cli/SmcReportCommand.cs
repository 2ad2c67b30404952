using System.CommandLine;
using Hv.Reporting;

namespace Hv.Cli;

/// <summary><c>hv smc-report LOG [--top N] [--dot FILE] [--plot FILE.png] [--icache-csv FILE]</c>: options only; the work is in Hv.Reporting.</summary>
internal static class SmcReportCommand
{
    public static Command Create()
    {
        var log = new Argument<string>("LOG") { Description = "A file written by hv run --smc-log (JSON lines)" };
        var top = new Option<int>("--top")
        {
            Description = "Rows in each table; writers and ranges in the DOT graph",
            DefaultValueFactory = _ => 10,
            HelpName = "N",
        };
        var dot = new Option<string?>("--dot") { Description = "Write writer -> rewritten-range edges (among the --top writers and ranges) as a Graphviz DOT graph to FILE", HelpName = "FILE" };
        var plot = new Option<string?>("--plot") { Description = "Draw SMC events and handling time over time (and the I-cache sweep) to a PNG", HelpName = "FILE.png" };
        var icache = new Option<string?>("--icache-csv")
        {
            Description = "The I-cache sweep CSV (" + ICacheSweep.Header + "): summarized, and plotted measured vs model with --plot",
            HelpName = "FILE",
        };
        var command = new Command("smc-report",
            "Summarize a --smc-log: totals, hottest writer instructions, most rewritten code ranges (overlapping writes " +
            "merged) with the units/blocks they invalidated and the SMC handling time. Malformed lines are reported " +
            "on stderr as 'line N: reason' and skipped. Exit status: 0; 1 if the log has lines but none is a " +
            $"well-formed event, or an output file cannot be written; {SmcReportRunner.StatusUsage} for bad options " +
            "or a missing input file. An empty log gives a report of 0 events.")
        {
            log, top, dot, plot, icache,
        };
        command.SetAction(parse => SmcReportRunner.Run(
            new SmcReportOptions(parse.GetValue(log)!, parse.GetValue(top), parse.GetValue(dot), parse.GetValue(plot), parse.GetValue(icache)),
            Console.Out, Console.Error));
        return command;
    }
}
