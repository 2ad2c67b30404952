using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Hv.Core;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Linux.Elf;
using Hv.Linux.Loading;

namespace Hv.Linux;

/// <summary>Why a guest process could not be created.</summary>
public enum LoadErrorKind
{
    /// <summary>The image file does not exist.</summary>
    NotFound,
    /// <summary>The image exists but cannot be read or run (not ELF, wrong architecture, dynamic, corrupt).</summary>
    Unusable,
    /// <summary>The image is fine but the arguments or environment are not (e.g. too long).</summary>
    BadArguments,
}

/// <summary>Why a guest process could not be created, for the user.</summary>
/// <param name="Kind">The class of error.</param>
/// <param name="Message">What is wrong, without the path.</param>
public readonly record struct LoadError(LoadErrorKind Kind, string Message);

/// <summary>
/// A guest Linux process ready to run: a machine, its Linux personality and a loaded static ELF image with
/// the initial stack built. Create with <see cref="TryCreate(HvOptions, string, IReadOnlyList{string}, IEnumerable{KeyValuePair{string, string}}, GuestStdio, out GuestProcess?, out LoadError)"/>.
/// </summary>
public sealed class GuestProcess
{
    private GuestProcess(Machine machine, LinuxKernel kernel, ElfImage image, LoadedImage loaded)
    {
        Machine = machine;
        Kernel = kernel;
        Image = image;
        Loaded = loaded;
    }

    /// <summary>The machine.</summary>
    public Machine Machine { get; }

    /// <summary>The Linux personality.</summary>
    public LinuxKernel Kernel { get; }

    /// <summary>The parsed image.</summary>
    public ElfImage Image { get; }

    /// <summary>Where the image and stack were placed.</summary>
    public LoadedImage Loaded { get; }

    /// <summary>Loads the executable at <paramref name="imagePath"/>; argv[0] is the path as given.</summary>
    public static bool TryCreate(HvOptions options, string imagePath, IReadOnlyList<string> args,
        IEnumerable<KeyValuePair<string, string>> env, GuestStdio stdio, [NotNullWhen(true)] out GuestProcess? process, out LoadError error)
    {
        process = null;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(imagePath);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            error = new LoadError(LoadErrorKind.NotFound, "no such file or directory");
            return false;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or NotSupportedException or ArgumentException)
        {
            error = new LoadError(LoadErrorKind.Unusable, Directory.Exists(imagePath) ? "is a directory" : $"cannot read: {e.Message}");
            return false;
        }
        return TryCreate(options, bytes, imagePath, args, env, stdio, out process, out error);
    }

    /// <summary>Same, with the reason as a string (null on success).</summary>
    public static bool TryCreate(HvOptions options, string imagePath, IReadOnlyList<string> args,
        IEnumerable<KeyValuePair<string, string>> env, GuestStdio stdio, [NotNullWhen(true)] out GuestProcess? process, out string? error)
    {
        bool ok = TryCreate(options, imagePath, args, env, stdio, out process, out LoadError e);
        error = ok ? null : e.Message;
        return ok;
    }

    /// <summary>
    /// Loads an image from memory (e.g. the embedded default image). <paramref name="imagePath"/> is what the
    /// guest sees as argv[0] and AT_EXECFN; <paramref name="args"/> are the arguments after argv[0].
    /// </summary>
    public static bool TryCreate(HvOptions options, ReadOnlySpan<byte> imageBytes, string imagePath, IReadOnlyList<string> args,
        IEnumerable<KeyValuePair<string, string>> env, GuestStdio stdio, [NotNullWhen(true)] out GuestProcess? process, out LoadError error)
    {
        process = null;
        if (!ElfImage.TryParse(imageBytes, out ElfImage? image, out string? parseError))
        {
            error = new LoadError(LoadErrorKind.Unusable, parseError);
            return false;
        }
        var argv = new List<string>(args.Count + 1) { imagePath };
        argv.AddRange(args);
        var envp = new List<string>();
        foreach (var (k, v) in env) envp.Add($"{k}={v}");

        Machine machine = Machine.Create(options);
        var kernel = new LinuxKernel(machine, stdio);
        byte[] random = new byte[16];
        RandomNumberGenerator.Fill(random);
        var info = new StartupInfo(argv, envp, imagePath, random, kernel.Ids);
        string? loadError = ImageLoader.TryLoad(machine.AddressSpace, image, info, out LoadedImage loaded);
        if (loadError is not null)
        {
            error = new LoadError(LoadErrorKind.BadArguments, loadError);
            return false;
        }
        kernel.BrkStart = kernel.BrkCurrent = loaded.BrkStart;
        kernel.StackBottom = loaded.StackBottom;
        kernel.StackTop = loaded.StackTop;
        CpuState s = machine.Cpu.State;
        Array.Clear(s.Gpr);
        s[Gpr.Rsp] = loaded.StackPointer;
        s.Rip = loaded.Entry;
        LinuxLog.ImageLoaded(kernel.Logger, imagePath, loaded.Entry, loaded.LoadBias, loaded.BrkStart, loaded.StackPointer);
        process = new GuestProcess(machine, kernel, image, loaded);
        error = default;
        return true;
    }

    /// <summary>Runs the guest until it exits or is killed (or <paramref name="instructionLimit"/> runs out).</summary>
    public StopReason Run(long instructionLimit = long.MaxValue) => Machine.Run(instructionLimit);
}
