using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Hv.GuestImages.Tests;

/// <summary>
/// The real gdb (batch mode) against <c>hv run --gdb 127.0.0.1:0</c> on guest images built with symbols, in
/// every execution mode. Each side is bounded by a timeout and killed if it overruns.
/// </summary>
public sealed partial class GdbTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    public static TheoryData<string> Modes => new(ExecutionModes.All);

    private static string Hello => Path.Combine(HostProcess.RepoRoot, "guest-images", "bin", "hello");

    private sealed record Session(string Gdb, int HvExit, string HvStdout, string HvStderr);

    [GeneratedRegex(@"waiting for gdb on 127\.0\.0\.1:(\d+)")]
    private static partial Regex WaitingLine();

    /// <summary>Starts hv under --gdb on a free port, runs gdb with the commands, and collects both sides.</summary>
    private static Session Debug(string mode, string image, string[] guestArgs, string[] gdbCommands, params string[] hvOptions)
    {
        string program = Path.Combine(HostProcess.RepoRoot, "guest-images", "bin", image);
        var hvStart = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string a in (string[])[HostProcess.HvDll, "run", "--mode", mode, "--gdb", "127.0.0.1:0", .. hvOptions, "--", program, .. guestArgs])
            hvStart.ArgumentList.Add(a);
        using Process hv = Process.Start(hvStart)!;
        try
        {
            Task<string> hvStdout = hv.StandardOutput.ReadToEndAsync();
            string? first = hv.StandardError.ReadLineAsync().WaitAsync(Timeout).GetAwaiter().GetResult();
            Match waiting = WaitingLine().Match(first ?? "");
            Assert.True(waiting.Success, $"hv did not announce its port: '{first}'");
            Task<string> hvStderr = hv.StandardError.ReadToEndAsync();

            var gdbStart = new ProcessStartInfo("gdb") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            foreach (string a in (string[])["-batch", "-nx", "-ex", "set pagination off", "-ex", $"target remote 127.0.0.1:{waiting.Groups[1].Value}"])
                gdbStart.ArgumentList.Add(a);
            foreach (string c in gdbCommands)
            {
                gdbStart.ArgumentList.Add("-ex");
                gdbStart.ArgumentList.Add(c);
            }
            gdbStart.ArgumentList.Add(program);
            using Process gdb = Process.Start(gdbStart)!;
            Task<string> gdbOut = gdb.StandardOutput.ReadToEndAsync(), gdbErr = gdb.StandardError.ReadToEndAsync();
            if (!gdb.WaitForExit(Timeout))
            {
                gdb.Kill(entireProcessTree: true);
                Assert.Fail("gdb did not finish in time:\n" + gdbOut.Result);
            }
            Assert.True(hv.WaitForExit(Timeout), "hv did not exit after gdb finished");
            return new Session(gdbOut.Result + gdbErr.Result, hv.ExitCode, hvStdout.Result, hvStderr.Result);
        }
        finally
        {
            if (!hv.HasExited) hv.Kill(entireProcessTree: true);
        }
    }

    /// <summary>A session on smc_patch_rwx with 4 rounds: it patches an imm32 of code it runs from an RWX page.</summary>
    private static Session DebugSmcPatchRwx(string mode, string[] gdbCommands, params string[] hvOptions) =>
        Debug(mode, "smc_patch_rwx", ["4"], gdbCommands, hvOptions);

    /// <summary>gdb reported the guest's end as <paramref name="gdbSays"/> and hv exited with <paramref name="hvExit"/>.</summary>
    private static void AssertGuestEnded(Session s, string gdbSays, int hvExit)
    {
        Assert.Contains(gdbSays, s.Gdb);
        Assert.Equal(hvExit, s.HvExit);
    }

    [Theory]
    [InlineData("--gdb", "nonsense")]
    [InlineData("--gdb", "127.0.0.1:70000")]
    [InlineData("--gdb", "not-an-ip:1234")]
    [InlineData("--break-on-smc")]
    public void Run_BadDebuggerOptions_UsageStatusAndOneLine(params string[] options)
    {
        RunOutput run = HostProcess.RunHv("interpret", Hello, [], null, hvOptions: options);
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("hv: ", run.Stderr);
        Assert.Single(run.Stderr.TrimEnd().Split('\n'));
    }

    [Fact]
    public void Run_GdbPortInUse_UsageStatus()
    {
        var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        try
        {
            int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
            RunOutput run = HostProcess.RunHv("interpret", Hello, [], null, hvOptions: ["--gdb", $"127.0.0.1:{port}"]);
            Assert.Equal(2, run.ExitCode);
            Assert.Contains("cannot listen", run.Stderr);
        }
        finally
        {
            busy.Stop();
        }
    }

    [Theory, MemberData(nameof(Modes))]
    public void Gdb_BreakAtMainInspectStepContinue_SeesTheExitCode(string mode)
    {
        Session s = Debug(mode, "exit_codes", ["7"],
        [
            "break main", "continue", "info registers", "x/4xb $pc", "p/x $pc", "stepi", "p/x $pc", "info registers rip eflags mxcsr fs_base",
            "p $xmm0.uint128", "continue",
        ]);
        Assert.Contains("Breakpoint 1, main (", s.Gdb);
        Assert.Matches(@"rax\s+0x[0-9a-f]+", s.Gdb);
        Assert.Matches(@"cs\s+0x33", s.Gdb);
        Assert.Matches(@"fs_base\s+0x[1-9a-f][0-9a-f]*", s.Gdb); // glibc set up TLS before main
        Assert.Matches(@"mxcsr\s+0x1f80", s.Gdb);
        Match pcs = Regex.Match(s.Gdb, @"\$1 = (0x[0-9a-f]+)[\s\S]*\$2 = (0x[0-9a-f]+)");
        Assert.True(pcs.Success, s.Gdb);
        Assert.NotEqual(pcs.Groups[1].Value, pcs.Groups[2].Value); // stepi moved
        Assert.Matches(@"<main>:\s+0x[0-9a-f]{2}", s.Gdb); // x/4xb $pc
        AssertGuestEnded(s, "exited with code 07", 7);
        Assert.Contains("status will be 7", s.HvStdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public void Gdb_WriteWatchpointOnCodeByte_HitAtTheSmcWriter(string mode)
    {
        // smc_patch_rwx maps an RWX page, copies a function to +0x40 and patches its imm32 from main each round:
        // stop at the function's first instruction, watch its imm32's first byte, and continue to the next patch.
        Session s = DebugSmcPatchRwx(mode,
        [
            "break mmap", "continue", "finish", "delete", "break *($rax+0x40)", "continue", "delete",
            "watch -l *(unsigned char *)($pc+1)", "continue", "x/i $pc", "delete", "continue",
        ]);
        Assert.Contains("Hardware watchpoint 3: -location", s.Gdb);
        Assert.Matches(@"Old value = .*\nNew value = ", s.Gdb);
        Assert.Matches(@"New value = .*\n(main \(|0x[0-9a-f]+ in main)", s.Gdb); // stopped in the writer's function, after the store
        Assert.Matches(@"=> 0x[0-9a-f]+ <main\+\d+>", s.Gdb);
        AssertGuestEnded(s, "exited normally", 0);
        Assert.Contains("all checks passed", s.HvStdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public void Gdb_BreakOnSmc_StopsAfterEachPatch(string mode)
    {
        Session s = DebugSmcPatchRwx(mode,
            ["continue", "monitor smc-last", "continue", "continue", "monitor smc-stats", "continue", "continue", "continue"],
            "--break-on-smc");
        // Round 0 writes code that never ran; rounds 1-3 rewrite code Hv has decoded: three SMC stops.
        Assert.Equal(3, Regex.Count(s.Gdb, @"hv: SMC event #\d+: \d byte\(s\) at 0x[0-9a-f]+ written by 0x[0-9a-f]+ \(mov "));
        Assert.Equal(3, Regex.Count(s.Gdb, "Program received signal SIGTRAP"));
        Assert.Matches(@"before:\n\s+0x[0-9a-f]+ mov eax,[\s\S]*after:\n\s+0x[0-9a-f]+ mov eax,", s.Gdb);
        Assert.Matches(@"smc_events 3", s.Gdb);
        AssertGuestEnded(s, "exited normally", 0);
    }

    [Theory, MemberData(nameof(Modes))]
    public void Gdb_GuestSegfault_StopsWithSigsegvThenDies(string mode)
    {
        Session s = Debug(mode, "asm_segfault", [], ["continue", "x/i $pc", "continue"]);
        Assert.Contains("Program received signal SIGSEGV", s.Gdb);
        Assert.Matches(@"=> 0x[0-9a-f]+ <_start\+\d+>:\s+movl\s+\$0xdead,0x10", s.Gdb);
        AssertGuestEnded(s, "Program terminated with signal SIGSEGV", 139);
    }
}
