using System.Net;
using System.Net.Sockets;
using System.Text;
using Hv.Core.Debugging;
using Hv.Core.Debugging.Gdb;
using Hv.Core.Execution;
using Hv.Core.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Debugging;

/// <summary>The stub over a real TCP socket, driven by a minimal client (acks, no-ack mode, Ctrl-C).</summary>
public sealed class GdbServerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private sealed class Client : IDisposable
    {
        private readonly TcpClient tcp = new();
        private readonly NetworkStream stream;
        private readonly GdbPacketReader reader = new();

        public Client(IPEndPoint server)
        {
            tcp.Connect(server);
            tcp.ReceiveTimeout = (int)Timeout.TotalMilliseconds;
            stream = tcp.GetStream();
        }

        public void SendRaw(string wire) => stream.Write(Encoding.Latin1.GetBytes(wire));

        public void Send(string payload) => stream.Write(GdbPacket.Frame(payload));

        /// <summary>Reads events until a packet; returns the acks/nacks seen before it too.</summary>
        public string Receive(out string before)
        {
            var seen = new StringBuilder();
            while (true)
            {
                int b = stream.ReadByte();
                if (b < 0) throw new IOException("server closed the connection");
                if (!reader.Feed((byte)b, out GdbInput input)) continue;
                if (input.Kind == GdbInputKind.Packet)
                {
                    before = seen.ToString();
                    return input.Text;
                }
                seen.Append(input.Kind == GdbInputKind.Ack ? '+' : input.Kind == GdbInputKind.Nack ? '-' : '?');
            }
        }

        public string Receive() => Receive(out _);

        public void Dispose() => tcp.Dispose();
    }

    private static (GdbServer Server, Task<StopReason> Serving) Start(TestMachine m)
    {
        var server = GdbServer.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        var debugger = new DebugController(m.Machine);
        Task<StopReason> serving = Task.Run(() => server.Serve(debugger, new GdbStub(debugger)));
        return (server, serving);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public async Task Serve_AcksBadChecksumsAndRunsToExit(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        DebugTestCode.Load(m, a => a.mov(eax, 5));
        var (server, serving) = Start(m);
        using var disposeServer = server; // after Serve returned: Serve accepts once and stops listening itself
        using (var client = new Client(server.EndPoint))
        {
            client.SendRaw("$qSupported#00"); // bad checksum: '-'
            client.Send("qSupported:swbreak+");
            Assert.Contains("swbreak+", client.Receive(out string acks));
            Assert.Equal("-+", acks);
            client.SendRaw("+");
            client.Send("QStartNoAckMode");
            Assert.Equal("OK", client.Receive());
            client.SendRaw("+");
            client.Send("g");
            Assert.Equal(2 * 552, client.Receive(out acks).Length);
            Assert.Equal("", acks); // no-ack mode
            client.Send("c");
            Assert.Equal("W00", client.Receive());
        }
        StopReason result = await serving.WaitAsync(Timeout);
        Assert.Equal(StopKind.Halted, result.Kind);
        Assert.Equal(5ul, m.State[Hv.Core.Cpu.Gpr.Rax]);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public async Task Serve_InterruptWhileRunningAndKill_StopsTheGuest(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        DebugTestCode.Load(m, a =>
        {
            var loop = a.CreateLabel();
            a.Label(ref loop);
            a.inc(rax);
            a.jmp(loop);
        });
        var (server, serving) = Start(m);
        using var disposeServer = server; // after Serve returned: Serve accepts once and stops listening itself
        using (var client = new Client(server.EndPoint))
        {
            client.Send("QStartNoAckMode");
            Assert.Equal("OK", client.Receive());
            client.Send("vCont;c");
            Thread.Sleep(100);
            client.SendRaw("\u0003");
            Assert.Equal("T02thread:1;", client.Receive());
            Assert.NotEqual(0ul, m.State[Hv.Core.Cpu.Gpr.Rax]);
            client.Send("k");
        }
        StopReason result = await serving.WaitAsync(Timeout);
        Assert.Equal(new StopReason(StopKind.Killed, 9), result);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public async Task Serve_DetachWithBreakpointSet_GuestRunsToItsEnd(ExecutionMode mode)
    {
        var m = new TestMachine(mode);
        ulong[] at = DebugTestCode.Load(m, a =>
        {
            a.mov(eax, 5);
            a.mov(ebx, 6);
        });
        var (server, serving) = Start(m);
        using var disposeServer = server;
        using (var client = new Client(server.EndPoint))
        {
            client.Send($"Z0,{at[1]:x},1");
            Assert.Equal("OK", client.Receive());
            client.Send("D");
            Assert.Equal("OK", client.Receive());
        }
        StopReason result = await serving.WaitAsync(Timeout);
        Assert.Equal(StopKind.Halted, result.Kind);
        Assert.Equal(6ul, m.State[Hv.Core.Cpu.Gpr.Rbx]);
    }

    [Fact]
    public async Task Serve_ClientVanishes_GuestKilled()
    {
        var m = new TestMachine(ExecutionMode.Interpret);
        DebugTestCode.Load(m, a => a.nop());
        var (server, serving) = Start(m);
        using var disposeServer = server; // after Serve returned: Serve accepts once and stops listening itself
        using (var client = new Client(server.EndPoint))
        {
            client.SendRaw("$g#6");
        }
        StopReason result = await serving.WaitAsync(Timeout);
        Assert.Equal(StopKind.Killed, result.Kind);
    }
}
