using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Hv.Core;
using Hv.Core.Debugging;
using Hv.Core.Debugging.Gdb;
using Hv.Core.Execution;
using Hv.Core.Smc;
using Hv.Linux;
using Microsoft.Extensions.Logging;

namespace Hv.Cli;

/// <summary>The <c>hv</c> command line: <c>hv run [OPTIONS] [IMAGE] [GUEST-ARGS...]</c> and <c>hv smc-report LOG</c>.</summary>
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
            Description = "Compile hot code on the vCPU thread instead of a background worker (makes translate mode deterministic)",
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
        var gdb = new Option<string?>("--gdb")
        {
            Description = "Wait for gdb on [HOST:]PORT (default host 127.0.0.1; port 0 picks a free port) before the first instruction",
            HelpName = "[HOST:]PORT",
        };
        var breakOnSmc = new Option<bool>("--break-on-smc") { Description = "With --gdb: stop right after every write that changes decoded code (SIGTRAP, or a hit of a gdb watchpoint covering it)" };
        var smcLog = new Option<string?>("--smc-log")
        {
            Description = "Write every self-modifying-code event to FILE as one JSON object per line",
            HelpName = "FILE",
        };
        var icache = new Option<string?>("--icache")
        {
            Description = "Simulated instruction cache SIZE,LINE,WAYS (sizes like 32768, 32K, 32KiB; powers of two) or off (default 32K,64,8)",
            HelpName = "SIZE,LINE,WAYS|off",
        };
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
            mode, hotThreshold, syncTranslation, setEnv, unsetEnv, logLevel, trace, stats, smcLog, icache, gdb, breakOnSmc, imageAndArgs,
        };
        run.SetAction(parse =>
        {
            var options = new RunOptions(
                parse.GetValue(mode), parse.GetValue(hotThreshold), parse.GetValue(setEnv) ?? [], parse.GetValue(unsetEnv) ?? [],
                parse.GetValue(logLevel), parse.GetValue(trace), parse.GetValue(stats), parse.GetValue(imageAndArgs) ?? [],
                parse.GetValue(smcLog))
            {
                InstructionCache = parse.GetValue(icache),
                SyncTranslation = parse.GetValue(syncTranslation),
                Gdb = parse.GetValue(gdb),
                BreakOnSmc = parse.GetValue(breakOnSmc),
            };
            return Execute(options);
        });
        var root = new RootCommand("hv: an x86-64 Linux user-mode emulator") { run, SmcReportCommand.Create() };
        ParseResult result = root.Parse(SeparateGuestArguments(args));
        if (result.Errors.Count > 0)
        {
            foreach (var error in result.Errors) Console.Error.WriteLine($"hv: {error.Message}");
            Console.Error.WriteLine($"hv: try 'hv {(args.Length > 0 && args[0] == "smc-report" ? "smc-report" : "run")} --help'");
            return StatusUsage;
        }
        return result.Invoke();
    }

    /// <summary>Options of <c>hv run</c>.</summary>
    private readonly record struct RunOptions(ExecutionMode Mode, int HotThreshold, string[] SetEnv, string[] UnsetEnv,
        LogLevel LogLevel, bool Trace, string? StatsFile, string[] ImageAndArgs, string? SmcLogFile = null)
    {
        /// <summary>The raw <c>--icache</c> value, or null when not given.</summary>
        public string? InstructionCache { get; init; }

        /// <summary>--gdb [HOST:]PORT, or null.</summary>
        public string? Gdb { get; init; }

        /// <summary>--break-on-smc.</summary>
        public bool BreakOnSmc { get; init; }

        /// <summary>--sync-translation: compile hot code on the vCPU thread (no background compilation).</summary>
        public bool SyncTranslation { get; init; }
    }

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
                bool takesValue = a is "--mode" or "--hot-threshold" or "--env" or "-E" or "--unset" or "-U" or "--log-level" or "--stats" or "--smc-log" or "--icache" or "--gdb";
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
        if (!TryParseInstructionCache(o.InstructionCache, out InstructionCacheGeometry? icache, out string? icacheError))
        {
            Console.Error.WriteLine($"hv: {icacheError}");
            return StatusUsage;
        }
        var hvOptions = HvOptions.Default with
        {
            InstructionCache = icache,
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
        IPEndPoint? gdbEndPoint = null;
        if (o.Gdb is not null && !TryParseEndPoint(o.Gdb, out gdbEndPoint))
        {
            Console.Error.WriteLine($"hv: --gdb {o.Gdb}: expected [HOST:]PORT with a numeric IP address and a port 0-65535");
            return StatusUsage;
        }
        if (o.BreakOnSmc && gdbEndPoint is null)
        {
            Console.Error.WriteLine("hv: --break-on-smc needs --gdb");
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

        StreamWriter? smcLog = null;
        if (o.SmcLogFile is not null)
        {
            try
            {
                smcLog = new StreamWriter(o.SmcLogFile, append: false, new System.Text.UTF8Encoding(false));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                Console.Error.WriteLine($"hv: cannot open the SMC log {o.SmcLogFile}: {e.Message}");
                return StatusUsage;
            }
            process.Machine.SmcEventRaised += (_, e) => smcLog.WriteLine(SmcEventJson.ToLine(e));
        }
        StopReason stop;
        using (smcLog)
        {
            if (gdbEndPoint is null) stop = process.Run();
            else if (RunUnderGdb(process, gdbEndPoint, o.BreakOnSmc) is { } debugged) stop = debugged;
            else return StatusUsage;
        }
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

    /// <summary>The <c>--icache</c> value as a geometry (null = off); an absent option keeps the default.</summary>
    internal static bool TryParseInstructionCache(string? text, out InstructionCacheGeometry? geometry, out string? error)
    {
        if (text is null)
        {
            geometry = HvOptions.Default.InstructionCache;
            error = null;
            return true;
        }
        return InstructionCacheGeometry.TryParse(text, out geometry, out error);
    }

    /// <summary>Listens, prints where, waits for gdb and lets it drive the guest; null if the address cannot be bound.</summary>
    private static StopReason? RunUnderGdb(GuestProcess process, IPEndPoint endPoint, bool breakOnSmc)
    {
        GdbServer server;
        try
        {
            server = GdbServer.Listen(endPoint);
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"hv: --gdb {endPoint}: cannot listen: {e.Message}");
            return null;
        }
        using (server)
        {
            Console.Error.WriteLine($"hv: waiting for gdb on {endPoint.Address}:{server.EndPoint.Port}");
            var debugger = new DebugController(process.Machine, limit => process.Run(limit)) { BreakOnSmc = breakOnSmc };
            return server.Serve(debugger, new GdbStub(debugger, process.Loaded.LoadBias));
        }
    }

    /// <summary>Parses <c>[HOST:]PORT</c> (HOST a numeric IPv4/IPv6 address or localhost; default 127.0.0.1).</summary>
    internal static bool TryParseEndPoint(string text, out IPEndPoint? endPoint)
    {
        endPoint = null;
        int colon = text.LastIndexOf(':');
        string host = colon < 0 ? "127.0.0.1" : text[..colon].Trim('[', ']');
        if (host is "" or "localhost") host = "127.0.0.1";
        if (!int.TryParse(text[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port)
            || port > IPEndPoint.MaxPort || !IPAddress.TryParse(host, out IPAddress? address))
            return false;
        endPoint = new IPEndPoint(address, port);
        return true;
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
