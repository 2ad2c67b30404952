using System.Globalization;

namespace Hv.Reporting;

/// <summary>One point of the I-cache SMC sweep (a row of its CSV).</summary>
/// <param name="Lines">m_lines: code lines in the working set.</param>
/// <param name="Writes">u_writes: writes per period.</param>
/// <param name="Period">r_period: iterations between rewrites.</param>
/// <param name="Iterations">Iterations run.</param>
/// <param name="Fetches">Instruction fetches.</param>
/// <param name="Misses">All misses.</param>
/// <param name="SmcMisses">Misses caused by SMC.</param>
/// <param name="MeasuredSmcMissFraction">Measured SMC miss fraction.</param>
/// <param name="ModelSmcMissFraction">The model's prediction of it.</param>
public readonly record struct ICacheSweepRow(long Lines, long Writes, long Period, long Iterations, long Fetches,
    long Misses, long SmcMisses, double MeasuredSmcMissFraction, double ModelSmcMissFraction);

/// <summary>Reads the I-cache sweep CSV written by the SMC benchmark.</summary>
public static class ICacheSweep
{
    /// <summary>The header the CSV must start with.</summary>
    public const string Header = "m_lines,u_writes,r_period,iterations,fetches,misses,smc_misses,measured_smc_miss_fraction,model_smc_miss_fraction";

    private static readonly string[] Columns = Header.Split(',');

    /// <summary>
    /// Parses the CSV. A wrong header is an error for the whole file (null and <paramref name="error"/> set);
    /// a bad row is reported through <paramref name="badRow"/> (1-based line number, reason) and skipped.
    /// </summary>
    public static List<ICacheSweepRow>? Read(TextReader reader, Action<long, string> badRow, out string? error)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(badRow);
        string? header = reader.ReadLine();
        if (header is null || header.Trim() != Header)
        {
            error = $"line 1: expected the header '{Header}'";
            return null;
        }
        error = null;
        var rows = new List<ICacheSweepRow>();
        long lineNumber = 1;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (TryParseRow(line, out ICacheSweepRow row, out string? reason)) rows.Add(row);
            else badRow(lineNumber, reason!);
        }
        return rows;
    }

    /// <summary>Parses one data row.</summary>
    public static bool TryParseRow(string line, out ICacheSweepRow row, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(line);
        row = default;
        string[] f = line.Split(',');
        if (f.Length != Columns.Length)
        {
            reason = $"expected {Columns.Length} fields, found {f.Length}";
            return false;
        }
        var ints = new long[7];
        for (int i = 0; i < ints.Length; i++)
        {
            if (!long.TryParse(f[i].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out ints[i]) || ints[i] < 0)
            {
                reason = $"{Columns[i]}: '{f[i]}' is not a non-negative integer";
                return false;
            }
        }
        if (!TryFraction(f, 7, out double measured, out reason) || !TryFraction(f, 8, out double model, out reason)) return false;
        row = new ICacheSweepRow(ints[0], ints[1], ints[2], ints[3], ints[4], ints[5], ints[6], measured, model);
        return true;
    }

    private static bool TryFraction(string[] f, int i, out double value, out string? reason)
    {
        if (double.TryParse(f[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value) && value >= 0 && value <= 1)
        {
            reason = null;
            return true;
        }
        reason = $"{Columns[i]}: '{f[i]}' is not a fraction in [0, 1]";
        return false;
    }
}
