using System.Globalization;
using System.Text.Json;

namespace Hv.Core.Smc;

/// <summary>
/// The <c>--smc-log</c> line format: one JSON object per SMC event, e.g.
/// <code>
/// {"seq":1,"t_us":1520,"icount":48211,"writer_rip":"0x401a2c","writer":"mov byte ptr [rax+1],0x2a",
///  "addr":"0x7f0000001001","len":1,"old":"07","new":"2a",
///  "before":["0x7f0000001000 mov eax,7"],"after":["0x7f0000001000 mov eax,0x2a"],
///  "invalidated":[{"kind":"unit","start":"0x7f0000001000","end":"0x7f0000001006"}],"ns":2100}
/// </code>
/// Addresses are hex strings (JSON numbers cannot hold every 64-bit address exactly), byte strings lower-case hex.
/// </summary>
public static class SmcEventJson
{
    /// <summary>Writes <paramref name="e"/> as one line (no trailing newline).</summary>
    public static void Write(Utf8JsonWriter w, SmcEvent e)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(e);
        w.WriteStartObject();
        w.WriteNumber("seq", e.Sequence);
        w.WriteNumber("t_us", e.TimeMicroseconds);
        w.WriteNumber("icount", e.GuestInstructions);
        w.WriteString("writer_rip", Hex(e.WriterRip));
        w.WriteString("writer", e.Writer);
        w.WriteString("addr", Hex(e.Address));
        w.WriteNumber("len", e.NewBytes.Length);
        w.WriteString("old", Convert.ToHexStringLower(e.OldBytes));
        w.WriteString("new", Convert.ToHexStringLower(e.NewBytes));
        WriteStrings(w, "before", e.Before);
        WriteStrings(w, "after", e.After);
        w.WriteStartArray("invalidated");
        foreach (InvalidatedRange r in e.Invalidated)
        {
            w.WriteStartObject();
            w.WriteString("kind", r.Kind);
            w.WriteString("start", Hex(r.Start));
            w.WriteString("end", Hex(r.End));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("ns", e.HandlingNanoseconds);
        w.WriteEndObject();
    }

    /// <summary>The event as one JSON line.</summary>
    public static string ToLine(SmcEvent e)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer)) Write(w, e);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Parses one line; false with a reason for anything that is not a well-formed event.</summary>
    public static bool TryParse(string line, out SmcEvent? e, out string? error)
    {
        e = null;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(line);
            JsonElement o = doc.RootElement;
            if (o.ValueKind != JsonValueKind.Object) { error = "not a JSON object"; return false; }
            var invalidated = new List<InvalidatedRange>();
            foreach (JsonElement r in o.GetProperty("invalidated").EnumerateArray())
                invalidated.Add(new InvalidatedRange(ParseHex(r.GetProperty("start")), ParseHex(r.GetProperty("end")), r.GetProperty("kind").GetString() ?? "unit"));
            e = new SmcEvent
            {
                Sequence = o.GetProperty("seq").GetInt64(),
                TimeMicroseconds = o.GetProperty("t_us").GetInt64(),
                GuestInstructions = o.GetProperty("icount").GetInt64(),
                WriterRip = ParseHex(o.GetProperty("writer_rip")),
                Writer = o.GetProperty("writer").GetString() ?? "",
                Address = ParseHex(o.GetProperty("addr")),
                OldBytes = Convert.FromHexString(o.GetProperty("old").GetString() ?? ""),
                NewBytes = Convert.FromHexString(o.GetProperty("new").GetString() ?? ""),
                Before = Strings(o.GetProperty("before")),
                After = Strings(o.GetProperty("after")),
                Invalidated = [.. invalidated],
                HandlingNanoseconds = o.GetProperty("ns").GetInt64(),
            };
            error = null;
            return true;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            error = ex.Message;
            return false;
        }
    }

    private static string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);

    private static ulong ParseHex(JsonElement e)
    {
        string s = e.GetString() ?? throw new FormatException("address is not a string");
        if (!s.StartsWith("0x", StringComparison.Ordinal)) throw new FormatException($"address '{s}' lacks 0x");
        return ulong.Parse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, string[] values)
    {
        w.WriteStartArray(name);
        foreach (string v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }

    private static string[] Strings(JsonElement array)
    {
        var list = new List<string>();
        foreach (JsonElement v in array.EnumerateArray()) list.Add(v.GetString() ?? "");
        return [.. list];
    }
}
