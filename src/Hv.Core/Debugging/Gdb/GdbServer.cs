using System.Net;
using System.Net.Sockets;
using Hv.Core.Execution;

namespace Hv.Core.Debugging.Gdb;

/// <summary>
/// Serves one gdb connection over TCP: acknowledgements, no-ack mode, retransmission on '-', and Ctrl-C
/// (0x03) while the guest runs. <see cref="Listen"/> binds first (port 0 picks a free port, see
/// <see cref="EndPoint"/>), so the caller can print the address before waiting for gdb.
/// </summary>
public sealed class GdbServer : IDisposable
{
    private readonly TcpListener listener;

    private GdbServer(TcpListener listener) => this.listener = listener;

    /// <summary>Starts listening on <paramref name="endPoint"/>.</summary>
    public static GdbServer Listen(IPEndPoint endPoint)
    {
        var listener = new TcpListener(endPoint);
        listener.Start(1);
        return new GdbServer(listener);
    }

    /// <summary>The address gdb should connect to (with the chosen port when bound to port 0).</summary>
    public IPEndPoint EndPoint => (IPEndPoint)listener.LocalEndpoint;

    /// <summary>
    /// Waits for gdb, serves it until it kills or detaches from the guest or goes away, and returns how the
    /// guest ended: its own end, <see cref="StopKind.Killed"/> with SIGKILL if gdb killed it (or vanished),
    /// or, after a detach, the end of the rest of the run.
    /// </summary>
    public StopReason Serve(DebugController debugger, GdbStub stub)
    {
        ArgumentNullException.ThrowIfNull(debugger);
        ArgumentNullException.ThrowIfNull(stub);
        using Socket socket = listener.AcceptSocket();
        listener.Stop();
        socket.NoDelay = true;
        var connection = new Connection(socket);
        debugger.InterruptRequested = connection.InterruptRequested;
        try
        {
            while (connection.TryReceive(stub.NoAckMode, out string packet))
            {
                string? reply = stub.Handle(packet);
                string output = stub.TakeConsoleOutput();
                if (output.Length > 0) connection.Send("O" + GdbPacket.ToHex(System.Text.Encoding.UTF8.GetBytes(output)));
                if (reply is not null) connection.Send(reply);
                if (stub.Killed) break;
                if (stub.Detached) return stub.Ended ?? RunDetached(debugger, stub.PendingSignal);
            }
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            // gdb went away: treated like a kill below.
        }
        finally
        {
            debugger.InterruptRequested = null;
        }
        return stub.Ended ?? new StopReason(StopKind.Killed, 9);
    }

    /// <summary>gdb detached: the guest runs to its end without the debugger (and gets the signal it stopped at).</summary>
    private static StopReason RunDetached(DebugController debugger, int signal)
    {
        debugger.Detach();
        debugger.InterruptRequested = null;
        while (true)
        {
            DebugStop stop = debugger.Resume(step: false, signal);
            if (stop.Ended is { } ended) return ended;
            signal = 0;
        }
    }

    /// <inheritdoc />
    public void Dispose() => listener.Stop();

    /// <summary>One client: framing, acks and the interrupt byte.</summary>
    private sealed class Connection(Socket socket)
    {
        private readonly GdbPacketReader reader = new();
        private readonly byte[] buffer = new byte[4096];
        private int start, end;
        private byte[] lastFrame = [];
        private bool noAck;

        public bool TryReceive(bool noAckMode, out string packet)
        {
            noAck = noAckMode;
            while (true)
            {
                if (start == end)
                {
                    start = 0;
                    end = socket.Receive(buffer);
                    if (end == 0)
                    {
                        packet = "";
                        return false;
                    }
                }
                if (!reader.Feed(buffer[start++], out GdbInput input)) continue;
                switch (input.Kind)
                {
                    case GdbInputKind.Packet:
                        if (!noAck) socket.Send("+"u8);
                        packet = input.Text;
                        return true;
                    case GdbInputKind.BadPacket:
                        if (!noAck) socket.Send("-"u8);
                        break;
                    case GdbInputKind.Nack:
                        if (lastFrame.Length > 0) socket.Send(lastFrame);
                        break;
                }
            }
        }

        public void Send(string reply)
        {
            lastFrame = GdbPacket.Frame(reply);
            socket.Send(lastFrame);
        }

        /// <summary>Polled while the guest runs: consumes pending bytes and reports a Ctrl-C.</summary>
        public bool InterruptRequested()
        {
            bool interrupt = false;
            while (socket.Available > 0)
            {
                if (start == end)
                {
                    start = 0;
                    end = socket.Receive(buffer);
                    if (end == 0) return true;
                }
                while (start < end)
                {
                    // Only a bare 0x03 means anything while running; acks are dropped.
                    if (reader.Feed(buffer[start++], out GdbInput input) && input.Kind == GdbInputKind.Interrupt) interrupt = true;
                }
            }
            return interrupt;
        }
    }
}
