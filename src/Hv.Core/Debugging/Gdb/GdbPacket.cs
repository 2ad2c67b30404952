using System.Text;

namespace Hv.Core.Debugging.Gdb;

/// <summary>What arrived from gdb: a packet, an acknowledgement, or an interrupt request.</summary>
public enum GdbInputKind
{
    /// <summary>A complete packet with a good checksum (<see cref="GdbInput.Payload"/> is decoded).</summary>
    Packet,
    /// <summary>A complete packet with a bad checksum, a bad escape or run-length, or too long: ask for it again.</summary>
    BadPacket,
    /// <summary>'+': the last packet sent arrived.</summary>
    Ack,
    /// <summary>'-': the last packet sent must be sent again.</summary>
    Nack,
    /// <summary>0x03 outside a packet: stop the running guest.</summary>
    Interrupt,
}

/// <summary>One input event.</summary>
/// <param name="Kind">What arrived.</param>
/// <param name="Payload">For <see cref="GdbInputKind.Packet"/>, the payload with escapes and run-lengths expanded.</param>
public readonly record struct GdbInput(GdbInputKind Kind, byte[]? Payload = null)
{
    /// <summary>The payload as text (Latin-1, so binary data survives).</summary>
    public string Text => Payload is null ? "" : Encoding.Latin1.GetString(Payload);
}

/// <summary>
/// The GDB remote serial protocol's framing: <c>$payload#cs</c>, where cs is the two-hex-digit sum of the payload
/// bytes mod 256, <c>}</c> escapes the next byte (XOR 0x20) and <c>c*n</c> repeats c (n-29) more times.
/// </summary>
public static class GdbPacket
{
    /// <summary>Largest payload accepted (and advertised as PacketSize).</summary>
    public const int MaxPayload = 0x4000;

    /// <summary>The sum of the bytes mod 256.</summary>
    public static byte Checksum(ReadOnlySpan<byte> bytes)
    {
        int sum = 0;
        foreach (byte b in bytes) sum += b;
        return (byte)sum;
    }

    /// <summary>Frames a payload: escapes <c>$ # } *</c>, run-length encodes runs (if asked) and appends the checksum.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> payload, bool runLength = true)
    {
        var body = new List<byte>(payload.Length + 8);
        int i = 0;
        while (i < payload.Length)
        {
            byte b = payload[i];
            int run = 1;
            while (i + run < payload.Length && payload[i + run] == b) run++;
            if (NeedsEscape(b))
            {
                body.Add((byte)'}');
                body.Add((byte)(b ^ 0x20));
                i++;
                continue;
            }
            body.Add(b);
            int repeat = run - 1;
            if (runLength && repeat >= 3)
            {
                // A count byte is repeat+29; 6 and 7 would give '#' and '$', which cannot appear in a packet.
                repeat = Math.Min(repeat, 97);
                if (repeat is 6 or 7) repeat = 5;
                body.Add((byte)'*');
                body.Add((byte)(repeat + 29));
                i += repeat + 1;
            }
            else i++;
        }
        byte[] frame = new byte[body.Count + 4];
        frame[0] = (byte)'$';
        body.CopyTo(frame, 1);
        byte cs = Checksum(frame.AsSpan(1, body.Count));
        frame[^3] = (byte)'#';
        frame[^2] = (byte)HexDigit(cs >> 4);
        frame[^1] = (byte)HexDigit(cs & 15);
        return frame;
    }

    /// <summary>Frames a text payload.</summary>
    public static byte[] Frame(string payload, bool runLength = true) => Frame(Encoding.Latin1.GetBytes(payload), runLength);

    /// <summary>Bytes that must be escaped inside a packet.</summary>
    public static bool NeedsEscape(byte b) => b is (byte)'$' or (byte)'#' or (byte)'}' or (byte)'*';

    /// <summary>Escapes binary data for a packet body (qXfer replies, which must not be run-length encoded twice).</summary>
    public static void AppendEscaped(StringBuilder sb, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            if (NeedsEscape(b)) sb.Append('}').Append((char)(b ^ 0x20));
            else sb.Append((char)b);
        }
    }

    /// <summary>
    /// Decodes a packet body as received (escapes and run-lengths), or returns null if it is malformed.
    /// </summary>
    public static byte[]? Decode(ReadOnlySpan<byte> body)
    {
        var output = new List<byte>(body.Length);
        for (int i = 0; i < body.Length; i++)
        {
            byte b = body[i];
            if (b == '}')
            {
                if (++i >= body.Length) return null;
                output.Add((byte)(body[i] ^ 0x20));
            }
            else if (b == '*')
            {
                if (output.Count == 0 || ++i >= body.Length || body[i] < 29 + 3 || body[i] > 126) return null;
                byte last = output[^1];
                for (int n = body[i] - 29; n > 0; n--) output.Add(last);
            }
            else output.Add(b);
            if (output.Count > MaxPayload) return null;
        }
        return [.. output];
    }

    /// <summary>The hex digit for 0..15 (lower case).</summary>
    public static char HexDigit(int v) => (char)(v < 10 ? '0' + v : 'a' + v - 10);

    /// <summary>The value of a hex digit, or -1.</summary>
    public static int HexValue(int c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>Hex-encodes bytes.</summary>
    public static string ToHex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    /// <summary>Decodes hex text into bytes, or null if it is not an even number of hex digits.</summary>
    public static byte[]? FromHex(ReadOnlySpan<char> hex)
    {
        if (hex.Length % 2 != 0) return null;
        var bytes = new byte[hex.Length / 2];
        for (int i = 0; i < bytes.Length; i++)
        {
            int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
            if (hi < 0 || lo < 0) return null;
            bytes[i] = (byte)(hi << 4 | lo);
        }
        return bytes;
    }

    /// <summary>Parses a hex number of at most 16 digits.</summary>
    public static bool TryParseHex(ReadOnlySpan<char> text, out ulong value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 16) return false;
        foreach (char c in text)
        {
            int d = HexValue(c);
            if (d < 0) return false;
            value = value << 4 | (uint)d;
        }
        return true;
    }
}

/// <summary>
/// Splits the byte stream from gdb into <see cref="GdbInput"/> events. Feed it bytes one at a time; it never
/// throws, whatever arrives (a packet that does not end is dropped once it is too long).
/// </summary>
public sealed class GdbPacketReader
{
    private enum State { Idle, Body, Checksum1, Checksum2 }

    private readonly List<byte> body = [];
    private State state;
    private int checksumHigh;

    /// <summary>Consumes one byte; true (and the event) when it completes one.</summary>
    public bool Feed(byte b, out GdbInput input)
    {
        input = default;
        switch (state)
        {
            case State.Idle:
                switch (b)
                {
                    case (byte)'$':
                        body.Clear();
                        state = State.Body;
                        return false;
                    case (byte)'+': input = new GdbInput(GdbInputKind.Ack); return true;
                    case (byte)'-': input = new GdbInput(GdbInputKind.Nack); return true;
                    case 0x03: input = new GdbInput(GdbInputKind.Interrupt); return true;
                    default: return false; // noise between packets
                }
            case State.Body:
                if (b == '#') state = State.Checksum1;
                else if (b == '$') body.Clear(); // a new packet started: gdb gave up on the old one
                else if (body.Count > 2 * GdbPacket.MaxPayload + 16)
                {
                    state = State.Idle;
                    input = new GdbInput(GdbInputKind.BadPacket);
                    return true;
                }
                else body.Add(b);
                return false;
            case State.Checksum1:
                checksumHigh = GdbPacket.HexValue(b);
                state = State.Checksum2;
                return false;
            default:
            {
                state = State.Idle;
                int low = GdbPacket.HexValue(b);
                byte[] raw = [.. body];
                byte[]? payload = checksumHigh < 0 || low < 0 || (checksumHigh << 4 | low) != GdbPacket.Checksum(raw) ? null : GdbPacket.Decode(raw);
                input = payload is null ? new GdbInput(GdbInputKind.BadPacket) : new GdbInput(GdbInputKind.Packet, payload);
                return true;
            }
        }
    }
}
