using Hv.Core.Smc;

namespace Hv.Reporting;

/// <summary>How reading a log went.</summary>
/// <param name="Parsed">Lines that were well-formed events.</param>
/// <param name="Malformed">Lines skipped as malformed.</param>
public readonly record struct LogReadResult(long Parsed, long Malformed);

/// <summary>Streams a <c>--smc-log</c> (JSON lines, <see cref="SmcEventJson"/>) into an <see cref="SmcAnalyzer"/>.</summary>
public static class SmcLogReader
{
    /// <summary>
    /// Reads every line; blank lines are ignored, a malformed line is reported through
    /// <paramref name="malformed"/> (1-based line number, reason) and skipped.
    /// </summary>
    public static LogReadResult Read(TextReader reader, SmcAnalyzer analyzer, Action<long, string> malformed)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(analyzer);
        ArgumentNullException.ThrowIfNull(malformed);
        long lineNumber = 0, parsed = 0, bad = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (TryParse(line, out SmcEvent? e, out string? error))
            {
                analyzer.Add(e!);
                parsed++;
            }
            else
            {
                bad++;
                malformed(lineNumber, error ?? "malformed");
            }
        }
        return new LogReadResult(parsed, bad);
    }

    private static bool TryParse(string line, out SmcEvent? e, out string? error)
    {
        try
        {
            return SmcEventJson.TryParse(line, out e, out error);
        }
        catch (OverflowException ex)
        {
            // SmcEventJson.TryParse lets an address too large for 64 bits escape as an exception.
            (e, error) = (null, ex.Message);
            return false;
        }
    }
}
