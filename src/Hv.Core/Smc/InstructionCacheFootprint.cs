namespace Hv.Core.Smc;

/// <summary>
/// The lines of one translated unit, fetched as a batch on every entry (<see cref="InstructionCacheModel.FetchLines"/>),
/// and what one model knows of them: where they sit while nothing has been evicted or dropped, and the last-use
/// times of an entry not yet written to the model's stamps.
/// </summary>
/// <param name="lines">The distinct line numbers, in first-touch order (<see cref="InstructionCacheModel.LinesOf"/>).</param>
internal sealed class InstructionCacheFootprint(ulong[] lines)
{
    /// <summary>The line numbers (address >> log2(line size)).</summary>
    internal readonly ulong[] Lines = lines;

    /// <summary>Where each line sits (an index into the model's ways), while <see cref="Verified"/> is current.</summary>
    internal readonly int[] Ways = new int[lines.Length];

    /// <summary>The model's version when every line was last found present at <see cref="Ways"/> (-1: never).</summary>
    internal long Verified = -1;

    /// <summary>The clock value line 0 was used at by the latest entry whose last-use times are still pending.</summary>
    internal ulong LazyBase;

    /// <summary>In the model's list of entries whose last-use times are not in its stamps yet.</summary>
    internal bool Pending;
}
