using System.Diagnostics;

namespace Hv.GuestImages.Tests;

/// <summary>What one run of a program produced.</summary>
public sealed record RunOutput(int ExitCode, byte[] Stdout, string Stderr, SortedDictionary<string, byte[]> Files)
{
    public string StdoutText => System.Text.Encoding.UTF8.GetString(Stdout);
}

/// <summary>
/// Runs a guest image natively or under the real <c>hv</c> command line in a fresh working directory with a
/// fixed environment, and collects stdout, exit status and the files the program left behind.
/// </summary>
public static class HostProcess
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    /// <summary>The repository root (the folder holding Hv.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Path of hv.dll next to the test assembly.</summary>
    public static string HvDll { get; } = Path.Combine(AppContext.BaseDirectory, "hv.dll");

    /// <summary>The fixed environment every guest gets.</summary>
    public static IReadOnlyDictionary<string, string> Environment { get; } = new Dictionary<string, string>
    {
        ["PATH"] = "/usr/bin:/bin",
        ["HV_TEST_VAR"] = "hello world",
        ["LC_ALL"] = "C",
    };

    public static RunOutput RunNative(string program, IReadOnlyList<string> args, string? stdinFile, Action<string>? prepare = null) =>
        Run(program, args, stdinFile, prepare);

    public static RunOutput RunHv(string mode, string program, IReadOnlyList<string> args, string? stdinFile, Action<string>? prepare = null,
        IReadOnlyList<string>? hvOptions = null)
    {
        var all = new List<string> { HvDll, "run", "--mode", mode };
        if (hvOptions is not null) all.AddRange(hvOptions);
        all.Add("--");
        all.Add(program);
        all.AddRange(args);
        return Run("dotnet", all, stdinFile, prepare, isHv: true);
    }

    private static RunOutput Run(string fileName, IReadOnlyList<string> args, string? stdinFile, Action<string>? prepare, bool isHv = false)
    {
        string dir = Directory.CreateTempSubdirectory("hv-run-").FullName;
        try
        {
            prepare?.Invoke(dir);
            var before = new HashSet<string>(Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories));
            var psi = new ProcessStartInfo(fileName)
            {
                WorkingDirectory = dir,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string a in args) psi.ArgumentList.Add(a);
            psi.Environment.Clear();
            foreach (var (k, v) in Environment) psi.Environment[k] = v;
            if (isHv)
            {
                // The host runtime needs its own variables; hv passes the guest only what -E/-U leave.
                psi.Environment["DOTNET_ROOT"] = System.Environment.GetEnvironmentVariable("DOTNET_ROOT") ?? "";
                psi.Environment["HOME"] = System.Environment.GetEnvironmentVariable("HOME") ?? "/root";
                psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            }
            using var p = Process.Start(psi)!;
            var stdoutTask = Task.Run(() =>
            {
                using var ms = new MemoryStream();
                p.StandardOutput.BaseStream.CopyTo(ms);
                return ms.ToArray();
            });
            var stderrTask = p.StandardError.ReadToEndAsync();
            if (stdinFile is not null)
            {
                using var input = File.OpenRead(stdinFile);
                try { input.CopyTo(p.StandardInput.BaseStream); } catch (IOException) { /* the program stopped reading */ }
            }
            p.StandardInput.Close();
            if (!p.WaitForExit(Timeout))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish in {Timeout}");
            }
            var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (string f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
                if (!before.Contains(f)) files[Path.GetRelativePath(dir, f)] = File.ReadAllBytes(f);
            return new RunOutput(p.ExitCode, stdoutTask.Result, stderrTask.Result, files);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Hv.sln"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (Hv.sln) above " + AppContext.BaseDirectory);
    }

    /// <summary>Asserts that the Hv run produced exactly what the native run did.</summary>
    public static void AssertSame(RunOutput native, RunOutput hv, string what)
    {
        Assert.True(native.StdoutText == hv.StdoutText,
            $"{what}: stdout differs\n--- native ---\n{Tail(native.StdoutText)}\n--- hv ---\n{Tail(hv.StdoutText)}\n--- hv stderr ---\n{Tail(hv.Stderr)}");
        Assert.True(native.ExitCode == hv.ExitCode, $"{what}: exit status native {native.ExitCode}, hv {hv.ExitCode}; hv stderr: {Tail(hv.Stderr)}");
        Assert.Equal(native.Files.Keys, hv.Files.Keys);
        foreach (var (name, bytes) in native.Files)
            Assert.True(bytes.AsSpan().SequenceEqual(hv.Files[name]), $"{what}: file {name} differs");
    }

    private static string Tail(string s) => s.Length <= 3000 ? s : "…" + s[^3000..];
}
