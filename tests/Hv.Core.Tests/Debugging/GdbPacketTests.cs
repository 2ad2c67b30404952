using System.Text;
using Hv.Core.Debugging.Gdb;

namespace Hv.Core.Tests.Debugging;

public sealed class GdbPacketTests
{
    private static List<GdbInput> FeedAll(string wire)
    {
        var reader = new GdbPacketReader();
        var events = new List<GdbInput>();
        foreach (byte b in Encoding.Latin1.GetBytes(wire))
            if (reader.Feed(b, out GdbInput input)) events.Add(input);
        return events;
    }

    [Fact]
    public void Frame_Text_AppendsChecksum()
    {
        Assert.Equal("$OK#9a", Encoding.Latin1.GetString(GdbPacket.Frame("OK")));
        Assert.Equal("$#00", Encoding.Latin1.GetString(GdbPacket.Frame("")));
    }

    [Fact]
    public void Frame_SpecialBytes_AreEscaped()
    {
        string framed = Encoding.Latin1.GetString(GdbPacket.Frame([(byte)'$', (byte)'#', (byte)'}', (byte)'*', (byte)'a'], runLength: false));
        Assert.StartsWith("$}\u0004}\u0003}]}\na#", framed);
    }

    [Fact]
    public void Frame_LongRuns_AreRunLengthEncodedAvoidingHashAndDollar()
    {
        Assert.Equal("$0* #", Encoding.Latin1.GetString(GdbPacket.Frame("0000"))[..5]); // 3 repeats → ' ' (29+3)
        for (int n = 1; n < 300; n++)
        {
            string payload = new string('0', n) + "x";
            byte[] frame = GdbPacket.Frame(payload);
            string body = Encoding.Latin1.GetString(frame.AsSpan(1, frame.Length - 4));
            Assert.DoesNotContain('#', body);
            Assert.DoesNotContain('$', body);
            Assert.Equal(payload, Encoding.Latin1.GetString(GdbPacket.Decode(Encoding.Latin1.GetBytes(body))!));
        }
    }

    [Fact]
    public void Reader_FramedPacket_RoundTripsBinary()
    {
        byte[] payload = new byte[256];
        for (int i = 0; i < payload.Length; i++) payload[i] = (byte)i;
        List<GdbInput> events = FeedAll(Encoding.Latin1.GetString(GdbPacket.Frame(payload)));
        Assert.Equal(GdbInputKind.Packet, Assert.Single(events).Kind);
        Assert.Equal(payload, events[0].Payload);
    }

    [Fact]
    public void Reader_AcksInterruptsAndNoise_AreEvents()
    {
        List<GdbInput> events = FeedAll("+garbage-\u0003$g#67");
        Assert.Equal([GdbInputKind.Ack, GdbInputKind.Nack, GdbInputKind.Interrupt, GdbInputKind.Packet], events.Select(e => e.Kind));
        Assert.Equal("g", events[3].Text);
    }

    [Theory]
    [InlineData("$g#00")]        // wrong checksum
    [InlineData("$g#zz")]        // not hex
    [InlineData("$}#7d")]        // escape at the end
    [InlineData("$*#2a")]        // run-length with nothing to repeat
    [InlineData("$0*\u0001#5b")] // run-length count below 3
    public void Reader_MalformedPacket_IsBadPacket(string wire)
    {
        Assert.Equal(GdbInputKind.BadPacket, Assert.Single(FeedAll(wire)).Kind);
    }

    [Fact]
    public void Reader_EndlessPacket_IsDroppedAsBad()
    {
        var reader = new GdbPacketReader();
        Assert.False(reader.Feed((byte)'$', out _));
        GdbInput? last = null;
        for (int i = 0; i < 3 * GdbPacket.MaxPayload && last is null; i++)
            if (reader.Feed((byte)'a', out GdbInput input)) last = input;
        Assert.Equal(GdbInputKind.BadPacket, last?.Kind);
    }

    [Fact]
    public void Reader_RestartedPacket_KeepsTheNewOne()
    {
        Assert.Equal("m0,1", Assert.Single(FeedAll("$abc$m0,1#fa")).Text);
    }

    [Fact]
    public void Hex_Helpers_ParseAndReject()
    {
        Assert.True(GdbPacket.TryParseHex("deadBEEF", out ulong v));
        Assert.Equal(0xdeadbeeful, v);
        Assert.False(GdbPacket.TryParseHex("", out _));
        Assert.False(GdbPacket.TryParseHex("12345678901234567", out _));
        Assert.False(GdbPacket.TryParseHex("1g", out _));
        Assert.Equal([0x12, 0xab], GdbPacket.FromHex("12aB"));
        Assert.Null(GdbPacket.FromHex("123"));
        Assert.Null(GdbPacket.FromHex("zz"));
    }
}
