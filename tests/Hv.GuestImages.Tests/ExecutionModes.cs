namespace Hv.GuestImages.Tests;

/// <summary>The execution modes every guest-image test runs in (names as `hv run --mode` takes them).</summary>
public static class ExecutionModes
{
    public static readonly string[] All = ["interpret", "translate", "tiered"];
}
