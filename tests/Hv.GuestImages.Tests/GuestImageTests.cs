namespace Hv.GuestImages.Tests;

/// <summary>
/// Every image listed in guest-images/manifest.tsv runs natively and under hv in every execution mode;
/// stdout, exit status and files written must be identical.
/// </summary>
public sealed class GuestImageTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (ManifestEntry e in ManifestEntry.ReadAll())
            foreach (string mode in ExecutionModes.All)
                data.Add(e.Name, mode);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GuestImage_UnderHv_MatchesNativeRun(string name, string mode)
    {
        ManifestEntry e = ManifestEntry.Find(name);
        RunOutput native = HostProcess.RunNative(e.ImagePath, e.Args, e.StdinPath);
        RunOutput hv = HostProcess.RunHv(mode, e.ImagePath, e.Args, e.StdinPath);
        HostProcess.AssertSame(native, hv, $"{name} ({mode})");
    }
}

/// <summary>One row of guest-images/manifest.tsv.</summary>
public sealed record ManifestEntry(string Name, IReadOnlyList<string> Args, string? StdinPath, string Kind)
{
    public string ImagePath => Path.Combine(HostProcess.RepoRoot, "guest-images", "bin", Name);

    public static IReadOnlyList<ManifestEntry> ReadAll()
    {
        string path = Path.Combine(HostProcess.RepoRoot, "guest-images", "manifest.tsv");
        var list = new List<ManifestEntry>();
        foreach (string line in File.ReadAllLines(path))
        {
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith("name\t", StringComparison.Ordinal)) continue;
            string[] cols = line.Split('\t');
            string[] args = cols.Length > 1 && cols[1].Length > 0 ? cols[1].Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
            string? stdin = cols.Length > 2 && cols[2] != "-" && cols[2].Length > 0 ? Path.Combine(HostProcess.RepoRoot, "guest-images", cols[2]) : null;
            list.Add(new ManifestEntry(cols[0], args, stdin, cols.Length > 3 ? cols[3] : "basic"));
        }
        return list;
    }

    public static ManifestEntry Find(string name)
    {
        foreach (ManifestEntry e in ReadAll()) if (e.Name == name) return e;
        throw new ArgumentException($"no guest image '{name}' in the manifest");
    }
}
