namespace Hv.Linux;

// TEMPORARY: the executable path belongs to the process side (branch linux-core), which does not define it yet;
// GuestProcess should set it from the image path. Move it next to the loader's state when it does.
public sealed partial class LinuxKernel
{
    private string? executablePath;

    /// <summary>
    /// Host path of the guest executable, what /proc/self/exe names; made absolute against the host's current
    /// directory when set. Null if unknown (then /proc/self/exe is the host's).
    /// </summary>
    public string? ExecutablePath
    {
        get => executablePath;
        set => executablePath = value is null ? null : Path.GetFullPath(value);
    }
}
