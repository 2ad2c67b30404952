using System.CommandLine;
using System.Text;
using Hv.Core;
using Hv.Core.Execution;
using Hv.Linux;
using Microsoft.Extensions.Logging;

namespace Hv.Cli;

/// <summary>The <c>hv</c> command line: <c>hv run [OPTIONS] [IMAGE] [GUEST-ARGS...]</c>.</summary>
public static class Program
{
    /// <summary>Exit status when the image exists but cannot be run (not ELF, wrong architecture, dynamic, corrupt).</summary>
    public const int StatusUnusableImage = 126;
    /// <summary>Exit status when the image does not exist.</summary>
    public const int StatusNotFound = 127;
    /// <summary>Exit status for an internal error of hv itself (EX_SOFTWARE).</summary>
    public const int StatusInternalError = 70;
    /// <summary>Exit status for bad hv options (EX_USAGE).</summary>
    public const int StatusUsage = 2;

    private const string DefaultImageResource = "Hv.DefaultImage";

    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        try
        {
            return Run(args);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"hv: internal error: {e.GetType().Name}: {e.Message}");
            return StatusInternalError;
        }
    }

    private static int Run(string[] args)
    {
        var mode = new Option<ExecutionMode>("--mode")
        {
            Description = "How guest code runs: interpret, translate or tiered",
            DefaultValueFactory = _ => ExecutionMode.Tiered,
        };
        var hotThreshold = new Option<int>("--hot-threshold")
        {
            Description = "Block executions before tiered mode translates a block",
            DefaultValueFactory = _ => HvOptions.Default.HotThreshold,
        };
        var syncTranslation = new Option<bool>("--sync-translation")
        {
            Description = "Tiered mode: compile hot code on the vCPU thread instead of a background worker",
        };
        var setEnv = new Option<string[]>("--env", "-E")
        {
            Description = "Set VAR=VALUE in the guest environment (repeatable)",
            HelpName = "VAR=VALUE",
        };
        var unsetEnv = new Option<string[]>("--unset", "-U")
        {
            Description = "Remove VAR from the guest environment (repeatable; applied before -E)",
            HelpName = "VAR",
        };
        var logLevel = new Option<LogLevel>("--log-level")
        {
            Description = "Log level on stderr: trace, debug, information, warning, error, critical, none",
            DefaultValueFactory = _ => LogLevel.Error,
        };
        var trace = new Option<bool>("--trace") { Description = "Log every guest instruction at trace level (very slow)" };
        var stats = new Option<string?>("--stats") { Description = "Write counters as JSON to FILE after the run", HelpName = "FILE" };
        var imageAndArgs = new Argument<string[]>("IMAGE and GUEST-ARGS")
        {
            Description = "A static x86-64 Linux ELF executable (default: the built-in hello image) and its arguments",
            Arity = ArgumentArity.ZeroOrMore,
        };

        var run = new Command("run",
            "Run a static x86-64 Linux program. Exit status: the guest's; 128+N if a signal N killed it; " +
            $"{StatusNotFound} if IMAGE does not exist; {StatusUnusableImage} if it is not a usable static x86-64 ELF " +
            $"executable; {StatusUsage} for bad options; {StatusInternalError} for an internal error. " +
            "Use -- before guest arguments that look like options.")
        {
            mode, hotThreshold, syncTranslation, setEnv, unsetEnv, logLevel, trace, stats, imageAndArgs,
        };
        run.SetAction(parse =>
        {
            var options = new RunOptions(
                parse.GetValue(mode), parse.GetValue(hotThreshold), parse.GetValue(setEnv) ?? [], parse.GetValue(unsetEnv) ?? [],
                parse.GetValue(logLevel), parse.GetValue(trace), parse.GetValue(stats), parse.GetValue(imageAndArgs) ?? [],
                parse.GetValue(syncTranslation));
            return Execute(options);
        });
        var root = new RootCommand("hv: an x86-64 Linux user-mode emulator") { run };
        ParseResult result = root.Parse(SeparateGuestArguments(args));
        if (result.Errors.Count > 0)
        {
            foreach (var error in result.Errors) Console.Error.WriteLine($"hv: {error.Message}");
            Console.Error.WriteLine("hv: try 'hv run --help'");
            return StatusUsage;
        }
        return result.Invoke();
    }

    /// <summary>Options of <c>hv run</c>.</summary>
    private readonly record struct RunOptions(ExecutionMode Mode, int HotThreshold, string[] SetEnv, string[] UnsetEnv,
        LogLevel LogLevel, bool Trace, string? StatsFile, string[] ImageAndArgs, bool SyncTranslation);

    /// <summary>
    /// Everything from the first non-option word after <c>run</c> (the image) on belongs to the guest, so
    /// <c>hv run prog -l</c> passes <c>-l</c> to prog: insert <c>--</c> before the image.
    /// </summary>
    internal static string[] SeparateGuestArguments(string[] args)
    {
        if (args.Length == 0 || args[0] != "run") return args;
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") return args;
            if (a.StartsWith('-'))
            {
                bool takesValue = a is "--mode" or "--hot-threshold" or "--env" or "-E" or "--unset" or "-U" or "--log-level" or "--stats";
                if (takesValue) i++;
                continue;
            }
            var result = new string[args.Length + 1];
            Array.Copy(args, result, i);
            result[i] = "--";
            Array.Copy(args, i, result, i + 1, args.Length - i);
            return result;
        }
        return args;
    }

    private static int Execute(RunOptions o)
    {
        using ILoggerFactory loggerFactory = LoggerFactory.Create(b => b
            .SetMinimumLevel(o.Trace && o.LogLevel > LogLevel.Trace ? LogLevel.Trace : o.LogLevel)
            .AddSimpleConsole(c => c.SingleLine = true)
            .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace));
        var hvOptions = HvOptions.Default with
        {
            Mode = o.Mode,
            HotThreshold = o.HotThreshold,
            BackgroundTranslation = !o.SyncTranslation,
            LoggerFactory = loggerFactory,
            TraceInstructions = o.Trace,
        };
        if (hvOptions.Validate() is { } optionError)
        {
            Console.Error.WriteLine($"hv: {optionError}");
            return StatusUsage;
        }
        List<KeyValuePair<string, string>>? env = BuildEnvironment(o.SetEnv, o.UnsetEnv, out string? envError);
        if (env is null)
        {
            Console.Error.WriteLine($"hv: {envError}");
            return StatusUsage;
        }

        GuestProcess? process;
        LoadError loadError;
        string imagePath;
        if (o.ImageAndArgs.Length > 0)
        {
            imagePath = o.ImageAndArgs[0];
            GuestProcess.TryCreate(hvOptions, imagePath, o.ImageAndArgs[1..], env, GuestStdio.Host, out process, out loadError);
        }
        else
        {
            imagePath = "hello";
            byte[]? image = ReadDefaultImage();
            if (image is null)
            {
                Console.Error.WriteLine("hv: this build has no default image; give an IMAGE");
                return StatusNotFound;
            }
            GuestProcess.TryCreate(hvOptions, image, imagePath, [], env, GuestStdio.Host, out process, out loadError);
        }
        if (process is null)
        {
            Console.Error.WriteLine($"hv: {imagePath}: {loadError.Message}");
            return loadError.Kind switch
            {
                LoadErrorKind.NotFound => StatusNotFound,
                LoadErrorKind.BadArguments => StatusUsage,
                _ => StatusUnusableImage,
            };
        }

        StopReason stop = process.Run();
        if (o.StatsFile is not null) WriteStats(o.StatsFile, process);
        switch (stop.Kind)
        {
            case StopKind.Exited:
                return stop.ShellStatus;
            case StopKind.Killed:
                Console.Error.WriteLine($"hv: guest killed by {stop.Message ?? LinuxKernel.SignalName(stop.Status)}");
                return stop.ShellStatus;
            default:
                Console.Error.WriteLine($"hv: internal error: guest stopped unexpectedly ({stop.Kind}{(stop.Message is null ? "" : ": " + stop.Message)})");
                return StatusInternalError;
        }
    }

    private static void WriteStats(string path, GuestProcess process)
    {
        try
        {
            File.WriteAllText(path, process.Machine.Stats.ToJson() + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            Console.Error.WriteLine($"hv: cannot write statistics to {path}: {e.Message}");
        }
    }

    /// <summary>The host environment in its original order, minus -U names, plus -E settings (replacing in place).</summary>
    internal static List<KeyValuePair<string, string>>? BuildEnvironment(string[] set, string[] unset, out string? error)
    {
        error = null;
        var env = HostEnvironment();
        foreach (string name in unset)
        {
            if (name.Length == 0 || name.Contains('='))
            {
                error = $"-U {name}: not a variable name";
                return null;
            }
            env.RemoveAll(kv => kv.Key == name);
        }
        foreach (string assignment in set)
        {
            int eq = assignment.IndexOf('=');
            if (eq <= 0)
            {
                error = $"-E {assignment}: expected VAR=VALUE";
                return null;
            }
            string name = assignment[..eq], value = assignment[(eq + 1)..];
            int index = env.FindIndex(kv => kv.Key == name);
            if (index >= 0) env[index] = new(name, value);
            else env.Add(new(name, value));
        }
        return env;
    }

    private static List<KeyValuePair<string, string>> HostEnvironment()
    {
        var env = new List<KeyValuePair<string, string>>();
        try
        {
            // /proc/self/environ keeps the order the host was given, which the guest should see too.
            byte[] raw = File.ReadAllBytes("/proc/self/environ");
            foreach (string entry in Encoding.UTF8.GetString(raw).Split('\0', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = entry.IndexOf('=');
                if (eq > 0) env.Add(new(entry[..eq], entry[(eq + 1)..]));
            }
            return env;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            foreach (System.Collections.DictionaryEntry kv in Environment.GetEnvironmentVariables())
                env.Add(new((string)kv.Key, (string?)kv.Value ?? ""));
            return env;
        }
    }

    private static byte[]? ReadDefaultImage()
    {
        using Stream? s = typeof(Program).Assembly.GetManifestResourceStream(DefaultImageResource);
        if (s is null) return null;
        var bytes = new byte[s.Length];
        s.ReadExactly(bytes);
        return bytes;
    }
}
