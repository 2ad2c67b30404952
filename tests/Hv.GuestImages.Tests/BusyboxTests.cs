using System.Text;

namespace Hv.GuestImages.Tests;

/// <summary>
/// Debian's busybox-static, a real third-party static binary, runs its applets under hv on generated inputs
/// and must produce exactly what it produces natively.
/// </summary>
public sealed class BusyboxTests
{
    public const string Busybox = "/bin/busybox";

    /// <summary>Applet command lines; "input.txt", "words.txt" and "data.bin" are generated in the working directory.</summary>
    private static readonly Dictionary<string, string[]> Commands = new()
    {
        ["sha256sum"] = ["sha256sum", "input.txt", "data.bin"],
        ["md5sum"] = ["md5sum", "input.txt", "data.bin"],
        ["sort"] = ["sort", "words.txt"],
        ["sort-n-r"] = ["sort", "-n", "-r", "input.txt"],
        ["uniq"] = ["uniq", "-c", "sorted.txt"],
        ["wc"] = ["wc", "input.txt", "words.txt", "data.bin"],
        ["head"] = ["head", "-n", "17", "input.txt"],
        ["od"] = ["od", "-A", "x", "-t", "x1z", "-N", "256", "data.bin"],
        ["sed"] = ["sed", "-e", "s/[0-9]\\+/<&>/g", "-e", "/7/d", "input.txt"],
        ["grep"] = ["grep", "-c", "-E", "^(al|be)", "words.txt"],
        ["awk"] = ["awk", "{ s += $1; n++ } END { printf \"%d %d %.3f\\n\", n, s, s / n }", "input.txt"],
        ["gzip"] = ["gzip", "-9", "-c", "data.bin"],
        ["gunzip"] = ["gunzip", "-c", "data.gz"],
        ["bzip2"] = ["bzip2", "-c", "words.txt"],
        // Shell scripts use builtins only: hv runs one process (no fork/exec).
        ["sh-loop"] = ["sh", "-c", "i=0; s=0; while [ $i -lt 300 ]; do s=$((s + i * i % 7)); i=$((i + 1)); done; echo $s; for w in a b c; do echo $w$s; done"],
        ["sh-files"] = ["sh", "-c", "echo one > out.txt; echo two >> out.txt; n=0; while read l; do n=$((n+1)); echo \"$n:$l\"; done < out.txt; printf '%05d|%s\\n' 42 x"],
    };

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string name in Commands.Keys)
            foreach (string mode in ExecutionModes.All)
                data.Add(name, mode);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BusyboxApplet_UnderHv_MatchesNativeRun(string name, string mode)
    {
        Assert.True(File.Exists(Busybox), $"{Busybox} is missing: install Debian's busybox-static (.ci/run does)");
        string[] args = Commands[name];
        RunOutput native = HostProcess.RunNative(Busybox, args, null, GenerateInputs);
        RunOutput hv = HostProcess.RunHv(mode, Busybox, args, null, GenerateInputs);
        HostProcess.AssertSame(native, hv, $"busybox {name} ({mode})");
    }

    /// <summary>Deterministic inputs: numbers, words and pseudo-random bytes from a fixed-seed generator.</summary>
    private static void GenerateInputs(string dir)
    {
        var rng = new Random(12345);
        var numbers = new StringBuilder();
        for (int i = 0; i < 2000; i++) numbers.Append(rng.Next(0, 1_000_000)).Append('\n');
        File.WriteAllText(Path.Combine(dir, "input.txt"), numbers.ToString());
        string[] syllables = ["al", "be", "ka", "do", "ri", "mu", "zo", "te", "qua", "ni"];
        var words = new StringBuilder();
        for (int i = 0; i < 3000; i++)
        {
            int n = 1 + rng.Next(3);
            for (int j = 0; j < n; j++) words.Append(syllables[rng.Next(syllables.Length)]);
            words.Append('\n');
        }
        File.WriteAllText(Path.Combine(dir, "words.txt"), words.ToString());
        string[] sorted = words.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Array.Sort(sorted, StringComparer.Ordinal);
        File.WriteAllText(Path.Combine(dir, "sorted.txt"), string.Join('\n', sorted) + "\n");
        byte[] data = new byte[200_000];
        rng.NextBytes(data.AsSpan(0, 100_000)); // half random, half compressible text
        for (int i = 100_000; i < data.Length; i++) data[i] = (byte)"hv busybox test "[i % 16];
        File.WriteAllBytes(Path.Combine(dir, "data.bin"), data);
        using var gz = new System.IO.Compression.GZipStream(File.Create(Path.Combine(dir, "data.gz")), System.IO.Compression.CompressionLevel.Optimal);
        gz.Write(data);
    }
}
