namespace Hv.Linux;

// TEMPORARY: the executable path belongs to the process side (branch linux-core), which does not define it yet.
// Move it next to the loader's state when it does.
public sealed partial class LinuxKernel
{
    /// <summary>Absolute host path of the guest executable (what /proc/self/exe points to); null if unknown.</summary>
    public string? ExecutablePath { get; set; }
}
