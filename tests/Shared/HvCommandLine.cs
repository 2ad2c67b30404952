using System.Diagnostics;
using Xunit;

namespace Hv.Tests.Shared;

/// <summary>Runs the real <c>hv</c> (hv.dll next to the test assembly) and captures what it printed. Linked into several test projects.</summary>
internal static class HvCommandLine
{
    /// <summary>Runs <c>dotnet hv.dll ARGS</c> with an empty stdin; fails the test if it takes more than a minute.</summary>
    public static (int Status, string Stdout, string Stderr) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hv.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        p.StandardInput.Close();
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "hv did not finish");
        return (p.ExitCode, stdout.Result, stderr);
    }
}
