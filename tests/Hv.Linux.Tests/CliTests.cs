using System.Diagnostics;
using System.Text.Json;
using Hv.Cli;
using Hv.Core.Smc;
using Hv.Linux.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Linux.Tests;

/// <summary>Runs the real <c>hv</c> command line and checks messages and exit statuses.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("hv-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    internal static (int Status, string Stdout, string Stderr) Hv(params string[] args)
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

    private string WriteImage(string name, Action<Assembler> code)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllBytes(path, new ElfBuilder().WithCode(code).Build());
        return path;
    }

    [Fact]
    public void Run_MissingFile_Status127()
    {
        var (status, _, stderr) = Hv("run", "/nonexistent/prog");
        Assert.Equal(Program.StatusNotFound, status);
        Assert.Equal("hv: /nonexistent/prog: no such file or directory\n", stderr);
    }

    [Fact]
    public void Run_NotElf_Status126()
    {
        string path = Path.Combine(dir, "text");
        File.WriteAllText(path, "#!/bin/sh\necho hi\n");
        var (status, _, stderr) = Hv("run", path);
        Assert.Equal(Program.StatusUnusableImage, status);
        Assert.Equal($"hv: {path}: not an ELF file (bad magic)\n", stderr);
    }

    [Fact]
    public void Run_DynamicElf_Status126SaysLinkStatic()
    {
        var (status, _, stderr) = Hv("run", "/bin/true");
        Assert.Equal(Program.StatusUnusableImage, status);
        Assert.StartsWith("hv: /bin/true: dynamically linked (PT_INTERP ", stderr);
        Assert.EndsWith("); link with -static\n", stderr);
    }

    [Fact]
    public void Run_GuestExits_StatusPassedThroughWithStats()
    {
        string image = WriteImage("exit7", a =>
        {
            a.push(7); a.pop(rdi); a.push(231); a.pop(rax);
            a.syscall();
        });
        string stats = Path.Combine(dir, "stats.json");
        var (status, stdout, stderr) = Hv("run", "--mode", "interpret", "--stats", stats, image, "-c", "--mode");
        Assert.Equal(7, status);
        Assert.Equal("", stdout);
        Assert.Equal("", stderr);
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(stats));
        Assert.Equal(5, json.RootElement.GetProperty("guest_instructions").GetInt64());
        Assert.Equal(1, json.RootElement.GetProperty("syscalls").GetInt64());
        Assert.Equal(0, json.RootElement.GetProperty("page_faults").GetInt64());
    }

    [Fact]
    public void Run_GuestSegfaults_Status139AndOneLine()
    {
        string image = WriteImage("segv", a =>
        {
            a.push(0); a.pop(rbx);
            a.pop(__qword_ptr[rbx + 0x10]);
        });
        var (status, _, stderr) = Hv("run", image);
        Assert.Equal(128 + 11, status);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("hv: guest killed by SIGSEGV: unmapped write access at 0x10, rip 0x401003: pop qword ptr [rbx+10h]", lines[0]);
    }

    /// <summary>An image that makes its code page RWX, then patches the exit status into the next instruction.</summary>
    private string WriteSelfPatchingImage() => WriteImage("smc", a =>
    {
        Label t = a.CreateLabel();
        a.mov(edi, 0x401000); a.mov(esi, 0x1000); a.mov(edx, 7); a.mov(eax, 10);
        a.syscall(); // mprotect(code page, RWX)
        a.lea(rbx, __[t]);
        a.mov(__byte_ptr[rbx + 1], 42);
        a.Label(ref t);
        a.AddInstruction(Instruction.Create(Code.Mov_r32_imm32, Register.EDI, 0));
        a.mov(eax, 231);
        a.syscall();
    });

    [Theory]
    [InlineData("interpret")]
    [InlineData("translate")]
    [InlineData("tiered")]
    public void Run_SmcLog_WritesOneJsonLinePerEvent(string mode)
    {
        string log = Path.Combine(dir, "smc.jsonl"), stats = Path.Combine(dir, "stats.json");
        var (status, _, stderr) = Hv("run", "--mode", mode, "--smc-log", log, "--stats", stats, WriteSelfPatchingImage());
        Assert.Equal("", stderr);
        Assert.Equal(42, status);
        string line = Assert.Single(File.ReadAllLines(log));
        Assert.True(SmcEventJson.TryParse(line, out SmcEvent? e, out string? error), error);
        Assert.Equal([42], e!.NewBytes);
        Assert.Equal([0], e.OldBytes);
        Assert.Contains("mov edi,2Ah", e.After[0], StringComparison.Ordinal);
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(stats));
        Assert.Equal(1, json.RootElement.GetProperty("smc_events").GetInt64());
    }

    [Fact]
    public void Run_SmcLogUnwritable_UsageStatusAndOneLine()
    {
        var (status, _, stderr) = Hv("run", "--smc-log", "/nonexistent/dir/smc.jsonl", WriteSelfPatchingImage());
        Assert.Equal(Program.StatusUsage, status);
        Assert.StartsWith("hv: cannot open the SMC log /nonexistent/dir/smc.jsonl", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Run_NoImage_UsesEmbeddedDefault()
    {
        var (status, _, stderr) = Hv("run", "--mode", "interpret");
        // The built-in image loads (whatever the interpreter can run of it yet): no image error, no usage error.
        Assert.DoesNotContain("no default image", stderr);
        Assert.NotEqual(Program.StatusNotFound, status);
        Assert.NotEqual(Program.StatusUnusableImage, status);
        Assert.NotEqual(Program.StatusUsage, status);
    }

    [Fact]
    public void Run_BadOption_UsageStatus()
    {
        var (status, _, stderr) = Hv("run", "--mode", "sideways", "/bin/true");
        Assert.Equal(Program.StatusUsage, status);
        Assert.StartsWith("hv: ", stderr);
    }

    [Fact]
    public void SeparateGuestArguments_ImageEndsOptions()
    {
        Assert.Equal(["run", "--mode", "interpret", "--", "prog", "-c", "--trace"],
            Program.SeparateGuestArguments(["run", "--mode", "interpret", "prog", "-c", "--trace"]));
        Assert.Equal(["run", "--trace", "--", "prog"], Program.SeparateGuestArguments(["run", "--trace", "--", "prog"]));
        Assert.Equal(["run", "-E", "A=1"], Program.SeparateGuestArguments(["run", "-E", "A=1"]));
    }

    [Fact]
    public void BuildEnvironment_UnsetThenSet_KeepsOrder()
    {
        List<KeyValuePair<string, string>> env = Program.BuildEnvironment(["HV_NEW=1", "PATH=/x"], ["HOME"], out string? error)!;
        Assert.Null(error);
        Assert.DoesNotContain(env, kv => kv.Key == "HOME");
        Assert.Equal(new KeyValuePair<string, string>("HV_NEW", "1"), env[^1]);
        Assert.Single(env, kv => kv.Key == "PATH" && kv.Value == "/x");
        Assert.Null(Program.BuildEnvironment(["NOEQUALS"], [], out error));
        Assert.Equal("-E NOEQUALS: expected VAR=VALUE", error);
    }
}
