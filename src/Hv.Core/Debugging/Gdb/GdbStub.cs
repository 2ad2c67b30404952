using System.Text;
using Hv.Core.Execution;

namespace Hv.Core.Debugging.Gdb;

/// <summary>
/// The GDB remote protocol's commands over a <see cref="DebugController"/>, independent of the transport:
/// <see cref="Handle"/> takes one decoded packet and returns the reply (resuming commands run the guest and
/// return the stop reply). Malformed packets get an <c>Enn</c> reply, unknown ones the empty reply.
/// One process with one thread (id 1) as far as gdb is concerned.
/// </summary>
public sealed class GdbStub
{
    private const string ErrorArgument = "E16"; // EINVAL
    private const string ErrorMemory = "E0e";   // EFAULT

    private readonly DebugController debugger;
    private readonly ulong textOffset;
    private readonly StringBuilder consoleOutput = new();
    private DebugStop lastStop = new(DebugStopKind.Signal, Value: 5);

    /// <summary>Creates a stub for a stopped guest.</summary>
    /// <param name="debugger">The engine side.</param>
    /// <param name="textOffset">What <c>qOffsets</c> reports (the load bias of a position-independent image, else 0).</param>
    public GdbStub(DebugController debugger, ulong textOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(debugger);
        this.debugger = debugger;
        this.textOffset = textOffset;
    }

    /// <summary>Set once gdb asked for no-ack mode (the transport stops sending '+' after the reply).</summary>
    public bool NoAckMode { get; private set; }

    /// <summary>Set by <c>k</c> / <c>vKill</c>: the session is over and the guest is to be killed.</summary>
    public bool Killed { get; private set; }

    /// <summary>Set by <c>D</c>: the session is over and the guest is to run on without the debugger.</summary>
    public bool Detached { get; private set; }

    /// <summary>How the guest ended, once it has.</summary>
    public StopReason? Ended => lastStop.Kind == DebugStopKind.Ended ? lastStop.Ended : null;

    /// <summary>The signal a detached guest must still get (the fault it stopped at), or 0.</summary>
    public int PendingSignal => lastStop.Kind == DebugStopKind.Signal ? lastStop.Value : 0;

    /// <summary>Handles one packet; returns the reply payload, or null when no reply is due (<c>k</c>).</summary>
    public string? Handle(string packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        if (packet.Length == 0) return "";
        string args = packet[1..];
        switch (packet[0])
        {
            case '?': return StopReply(lastStop);
            case 'g': return GdbPacket.ToHex(GdbRegisters.ReadAll(debugger.Machine.Cpu.State));
            case 'G': return WriteAllRegisters(args);
            case 'p': return ReadRegister(args);
            case 'P': return WriteRegister(args);
            case 'm': return ReadMemory(args);
            case 'M': return WriteMemory(args, binary: false);
            case 'X': return WriteMemory(args, binary: true);
            case 'c': return Resume(step: false, signal: 0, args);
            case 's': return Resume(step: true, signal: 0, args);
            case 'C': return ResumeWithSignal(step: false, args);
            case 'S': return ResumeWithSignal(step: true, args);
            case 'Z': return Breakpoint(args, insert: true);
            case 'z': return Breakpoint(args, insert: false);
            case 'H': case 'T': return "OK"; // the one thread
            case 'k':
                Killed = true;
                return null;
            case 'D':
                Detached = true;
                return "OK";
            case 'q': return Query(packet);
            case 'Q': return packet == "QStartNoAckMode" ? StartNoAck() : "";
            case 'v': return VerbosePacket(packet);
            default: return "";
        }
    }

    private string StartNoAck()
    {
        NoAckMode = true;
        return "OK";
    }

    // ---------------------------------------------------------------- queries

    private string Query(string packet)
    {
        if (packet.StartsWith("qSupported", StringComparison.Ordinal))
            return $"PacketSize={GdbPacket.MaxPayload:x};qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;QStartNoAckMode+";
        if (packet.StartsWith("qXfer:features:read:", StringComparison.Ordinal)) return ReadFeatures(packet["qXfer:features:read:".Length..]);
        if (packet.StartsWith("qRcmd,", StringComparison.Ordinal)) return Monitor(packet["qRcmd,".Length..]);
        return packet switch
        {
            "qAttached" => "1",
            "qC" => "QC1",
            "qfThreadInfo" => "m1",
            "qsThreadInfo" => "l",
            "qOffsets" => $"Text={textOffset:x};Data={textOffset:x};Bss={textOffset:x}",
            "qSymbol::" => "OK",
            _ => "",
        };
    }

    private static string ReadFeatures(string args)
    {
        // target.xml:OFFSET,LENGTH
        int colon = args.IndexOf(':');
        if (colon < 0 || !TryParseAddressLength(args.AsSpan(colon + 1), ',', out ulong offset, out ulong length)) return ErrorArgument;
        if (args[..colon] != "target.xml") return "E00";
        byte[] xml = Encoding.UTF8.GetBytes(GdbRegisters.TargetXml);
        if (offset >= (ulong)xml.Length) return "l";
        int n = (int)Math.Min(length, (ulong)xml.Length - offset);
        var sb = new StringBuilder(n + 1);
        sb.Append(offset + (ulong)n >= (ulong)xml.Length ? 'l' : 'm');
        GdbPacket.AppendEscaped(sb, xml.AsSpan((int)offset, n));
        return sb.ToString();
    }

    private string VerbosePacket(string packet)
    {
        if (packet == "vCont?") return "vCont;c;C;s;S";
        if (packet.StartsWith("vCont;", StringComparison.Ordinal)) return VCont(packet["vCont;".Length..]);
        if (packet.StartsWith("vKill", StringComparison.Ordinal))
        {
            Killed = true;
            return "OK";
        }
        return ""; // vMustReplyEmpty and everything else
    }

    /// <summary><c>vCont;action[:thread];...</c>: the first action for our thread (or for all threads) applies.</summary>
    private string VCont(string actions)
    {
        foreach (string action in actions.Split(';'))
        {
            int colon = action.IndexOf(':');
            string verb = colon < 0 ? action : action[..colon];
            if (colon >= 0)
            {
                string thread = action[(colon + 1)..];
                if (thread is not ("-1" or "1" or "p1.1" or "p1.-1" or "0")) continue;
            }
            if (verb.Length == 0) return ErrorArgument;
            switch (verb[0])
            {
                case 'c' when verb.Length == 1: return Resume(step: false, signal: 0, "");
                case 's' when verb.Length == 1: return Resume(step: true, signal: 0, "");
                case 'C' or 'S' when verb.Length == 3 && GdbPacket.TryParseHex(verb.AsSpan(1), out ulong sig):
                    return Resume(step: verb[0] == 'S', signal: (int)sig, "");
                default: return ErrorArgument;
            }
        }
        return ErrorArgument;
    }

    // ---------------------------------------------------------------- registers and memory

    private string WriteAllRegisters(string hex)
    {
        byte[]? bytes = GdbPacket.FromHex(hex);
        if (bytes is null || bytes.Length != GdbRegisters.TotalSize) return ErrorArgument;
        GdbRegisters.WriteAll(debugger.Machine.Cpu.State, bytes);
        return "OK";
    }

    private string ReadRegister(string args)
    {
        if (!GdbPacket.TryParseHex(args, out ulong n) || GdbRegisters.SizeOf((int)Math.Min(n, int.MaxValue)) == 0) return ErrorArgument;
        var value = new byte[GdbRegisters.SizeOf((int)n)];
        GdbRegisters.Read(debugger.Machine.Cpu.State, (int)n, value);
        return GdbPacket.ToHex(value);
    }

    private string WriteRegister(string args)
    {
        int eq = args.IndexOf('=');
        if (eq < 0 || !GdbPacket.TryParseHex(args.AsSpan(0, eq), out ulong n)) return ErrorArgument;
        int size = GdbRegisters.SizeOf((int)Math.Min(n, int.MaxValue));
        byte[]? value = GdbPacket.FromHex(args.AsSpan(eq + 1));
        if (size == 0 || value is null || value.Length != size) return ErrorArgument;
        GdbRegisters.Write(debugger.Machine.Cpu.State, (int)n, value);
        return "OK";
    }

    private string ReadMemory(string args)
    {
        if (!TryParseAddressLength(args, ',', out ulong address, out ulong length) || length > GdbPacket.MaxPayload / 2) return ErrorArgument;
        var bytes = new byte[length];
        int n = debugger.ReadMemory(address, bytes);
        return n == 0 && length > 0 ? ErrorMemory : GdbPacket.ToHex(bytes.AsSpan(0, n));
    }

    private string WriteMemory(string args, bool binary)
    {
        int colon = args.IndexOf(':');
        if (colon < 0 || !TryParseAddressLength(args.AsSpan(0, colon), ',', out ulong address, out ulong length)) return ErrorArgument;
        string data = args[(colon + 1)..];
        byte[]? bytes = binary ? Encoding.Latin1.GetBytes(data) : GdbPacket.FromHex(data);
        if (bytes is null || (ulong)bytes.Length != length) return ErrorArgument;
        return debugger.WriteMemory(address, bytes) ? "OK" : ErrorMemory;
    }

    private static bool TryParseAddressLength(ReadOnlySpan<char> text, char separator, out ulong address, out ulong length)
    {
        length = 0;
        int sep = text.IndexOf(separator);
        address = 0;
        return sep > 0 && GdbPacket.TryParseHex(text[..sep], out address) && GdbPacket.TryParseHex(text[(sep + 1)..], out length);
    }

    // ---------------------------------------------------------------- breakpoints

    /// <summary><c>Z type,addr,kind</c> / <c>z type,addr,kind</c>: 0 software, 1 hardware, 2 write, 3 read, 4 access watchpoint.</summary>
    private string Breakpoint(string args, bool insert)
    {
        string[] parts = args.Split(';')[0].Split(',');
        if (parts.Length != 3 || parts[0].Length != 1 || !GdbPacket.TryParseHex(parts[1], out ulong address)
            || !GdbPacket.TryParseHex(parts[2], out ulong kind))
            return ErrorArgument;
        switch (parts[0][0])
        {
            case '0' or '1':
                bool hardware = parts[0][0] == '1';
                if (insert) debugger.AddBreakpoint(address, hardware);
                else debugger.RemoveBreakpoint(address, hardware);
                return "OK";
            case '2' or '3' or '4':
                WatchKind watch = parts[0][0] switch { '2' => WatchKind.Write, '3' => WatchKind.Read, _ => WatchKind.Access };
                if (kind is 0 or > DebugController.MaxWatchLength) return ErrorArgument;
                if (insert) return debugger.AddWatchpoint(address, (int)kind, watch) ? "OK" : ErrorArgument;
                debugger.RemoveWatchpoint(address, (int)kind, watch);
                return "OK";
            default:
                return "";
        }
    }

    // ---------------------------------------------------------------- running

    private string ResumeWithSignal(bool step, string args)
    {
        int semi = args.IndexOf(';');
        if (!GdbPacket.TryParseHex(semi < 0 ? args : args[..semi], out ulong signal) || signal > 255) return ErrorArgument;
        return Resume(step, (int)signal, semi < 0 ? "" : args[(semi + 1)..]);
    }

    private string Resume(bool step, int signal, string address)
    {
        if (lastStop.Kind == DebugStopKind.Ended) return StopReply(lastStop);
        if (address.Length > 0)
        {
            if (!GdbPacket.TryParseHex(address, out ulong rip)) return ErrorArgument;
            debugger.Machine.Cpu.State.Rip = rip;
        }
        lastStop = debugger.Resume(step, signal);
        if (lastStop.Smc is { } e)
        {
            consoleOutput.Append($"hv: SMC event #{e.Sequence}: {e.NewBytes.Length} byte(s) at 0x{e.Address:x} written by 0x{e.WriterRip:x} ({e.Writer})\n");
            // gdb silently resumes after a watchpoint stop none of its watchpoints explains: unless one covers the
            // written bytes, report the SMC stop as a plain SIGTRAP (with the line above saying what it was).
            if (!WatchedByGdb(e.Address, e.NewBytes.Length)) return "T05thread:1;";
        }
        return StopReply(lastStop);
    }

    private bool WatchedByGdb(ulong address, int length)
    {
        foreach (Watchpoint w in debugger.Watchpoints)
            if (w.Kind != WatchKind.Read && address < w.Address + (ulong)w.Length && w.Address < address + (ulong)Math.Max(length, 1)) return true;
        return false;
    }

    /// <summary>Console output (gdb's <c>O</c> packets) to send before the next reply; cleared by reading it.</summary>
    public string TakeConsoleOutput()
    {
        string text = consoleOutput.ToString();
        consoleOutput.Clear();
        return text;
    }

    /// <summary>The stop reply for a stop: T packets with the reason, W on exit, X on death by a signal.</summary>
    public static string StopReply(in DebugStop stop)
    {
        switch (stop.Kind)
        {
            case DebugStopKind.Breakpoint: return "T05swbreak:;thread:1;";
            case DebugStopKind.HardwareBreakpoint: return "T05hwbreak:;thread:1;";
            case DebugStopKind.Step: return "T05thread:1;";
            case DebugStopKind.Watchpoint:
                string name = stop.Watch switch { WatchKind.Write => "watch", WatchKind.Read => "rwatch", _ => "awatch" };
                return $"T05{name}:{stop.Address:x};thread:1;";
            case DebugStopKind.Signal: return $"T{stop.Value & 0xFF:x2}thread:1;";
            case DebugStopKind.Interrupted: return "T02thread:1;";
            default:
                StopReason ended = stop.Ended ?? default;
                return ended.Kind switch
                {
                    StopKind.Exited => $"W{ended.Status & 0xFF:x2}",
                    StopKind.Killed => $"X{ended.Status & 0xFF:x2}",
                    StopKind.Faulted => "X0b",
                    _ => "W00", // a bare machine halted
                };
        }
    }

    // ---------------------------------------------------------------- monitor

    private string Monitor(string hex)
    {
        byte[]? bytes = GdbPacket.FromHex(hex);
        if (bytes is null) return ErrorArgument;
        string output = GdbMonitor.Run(debugger, Encoding.UTF8.GetString(bytes).Trim());
        return output.Length == 0 ? "OK" : GdbPacket.ToHex(Encoding.UTF8.GetBytes(output));
    }
}
