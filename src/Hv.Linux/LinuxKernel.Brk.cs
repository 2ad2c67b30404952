namespace Hv.Linux;

// TEMPORARY: these members belong to the process side (branch linux-core, LinuxKernel.Process.cs). They live here
// only until that branch lands; delete this file when merging.
public sealed partial class LinuxKernel
{
    /// <summary>Start of the program break (end of the loaded image's bss), set by the loader.</summary>
    public ulong BrkStart;

    /// <summary>The current program break.</summary>
    public ulong BrkCurrent;

    /// <summary>Absolute host path of the guest executable (what /proc/self/exe points to).</summary>
    public string? ExecutablePath { get; set; }
}
