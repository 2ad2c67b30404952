using System.Text;
using Hv.Core.Cpu;
using Hv.Core.Debugging;
using Hv.Core.Debugging.Gdb;
using Hv.Core.Tests.Support;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Debugging;

public sealed class GdbStubTests
{
    private static (TestMachine Machine, GdbStub Stub, ulong[] At) Create(ExecutionMode mode, Action<Iced.Intel.Assembler> build)
    {
        var m = new TestMachine(mode);
        ulong[] at = DebugTestCode.Load(m, build);
        return (m, new GdbStub(new DebugController(m.Machine)), at);
    }

    private static void SimpleProgram(Iced.Intel.Assembler a)
    {
        a.mov(eax, 1);
        a.mov(ebx, 2);
        a.mov(rdi, TestMachine.DataBase);
        a.mov(__dword_ptr[rdi], ebx);
    }

    [Fact]
    public void Handle_Handshake_AdvertisesFeaturesAndOneThread()
    {
        var (_, stub, _) = Create(ExecutionMode.Interpret, SimpleProgram);
        string supported = stub.Handle("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386")!;
        Assert.Contains("qXfer:features:read+", supported);
        Assert.Contains("swbreak+", supported);
        Assert.Contains("PacketSize=4000", supported);
        Assert.Equal("OK", stub.Handle("QStartNoAckMode"));
        Assert.True(stub.NoAckMode);
        Assert.Equal("T05thread:1;", stub.Handle("?"));
        Assert.Equal("QC1", stub.Handle("qC"));
        Assert.Equal("m1", stub.Handle("qfThreadInfo"));
        Assert.Equal("l", stub.Handle("qsThreadInfo"));
        Assert.Equal("1", stub.Handle("qAttached"));
        Assert.Equal("Text=0;Data=0;Bss=0", stub.Handle("qOffsets"));
        Assert.Equal("vCont;c;C;s;S", stub.Handle("vCont?"));
        Assert.Equal("OK", stub.Handle("Hg0"));
        Assert.Equal("", stub.Handle("vMustReplyEmpty"));
    }

    [Fact]
    public void Handle_TargetXmlInChunks_IsTheWholeDescription()
    {
        var (_, stub, _) = Create(ExecutionMode.Interpret, SimpleProgram);
        var xml = new StringBuilder();
        while (true)
        {
            string reply = stub.Handle($"qXfer:features:read:target.xml:{xml.Length:x},100")!;
            xml.Append(reply[1..]);
            if (reply[0] == 'l') break;
            Assert.Equal('m', reply[0]);
        }
        string text = xml.ToString();
        Assert.StartsWith("<?xml", text);
        foreach (string needed in new[] { "org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse", "name=\"rip\"", "name=\"st7\"", "name=\"xmm15\"", "name=\"mxcsr\"", "name=\"fs_base\"", "name=\"gs_base\"" })
            Assert.Contains(needed, text);
        Assert.StartsWith("E", stub.Handle("qXfer:features:read:other.xml:0,10"));
    }

    [Fact]
    public void Handle_Registers_ReadAndWriteInGdbOrder()
    {
        var (m, stub, at) = Create(ExecutionMode.Interpret, SimpleProgram);
        m.State[Gpr.Rbx] = 0x1122334455667788;
        m.State.Fpu.Mxcsr = 0x1f80;
        string all = stub.Handle("g")!;
        Assert.Equal(2 * 552, all.Length);
        Assert.Equal("8877665544332211", all[16..32]); // rbx is gdb's register 1
        Assert.Equal(GdbPacket.ToHex(BitConverter.GetBytes(at[0])), stub.Handle("p10")); // rip is register 16
        Assert.Equal("33000000", stub.Handle("p12")); // cs
        Assert.Equal("801f0000", stub.Handle("p38")); // mxcsr: 16+2+6 core, 8 st, 8 x87 control, 16 xmm
        Assert.Equal("OK", stub.Handle("P0=efbeadde00000000"));
        Assert.Equal(0xdeadbeeful, m.State[Gpr.Rax]);
        Assert.Equal("OK", stub.Handle("P28=" + new string('1', 32))); // xmm0
        Assert.Equal(0x11, m.State.Xmm(0)[15]);
        Assert.Equal("OK", stub.Handle("G" + stub.Handle("g")));
        Assert.Equal(0xdeadbeeful, m.State[Gpr.Rax]);
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Handle_MemoryWriteIntoRunCode_NextRunSeesIt(ExecutionMode mode)
    {
        var (m, stub, at) = Create(mode, SimpleProgram);
        m.Run();
        Assert.Equal(GdbPacket.ToHex([0xb8, 1, 0, 0, 0]), stub.Handle($"m{at[0]:x},5"));
        Assert.Equal("OK", stub.Handle($"M{at[0] + 1:x},1:07"));
        Assert.Equal("OK", stub.Handle($"X{at[1] + 1:x},1:#")); // binary data, already unescaped by the reader
        m.State.Rip = at[0];
        Assert.Equal("W00", stub.Handle("c"));
        Assert.Equal(7ul, m.State[Gpr.Rax]);
        Assert.Equal(0x23ul, m.State[Gpr.Rbx]);
        Assert.Equal("W00", stub.Handle("c")); // the guest is gone: the same answer
    }

    [Theory, MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Handle_BreakpointsStepsAndWatchpoints_GiveStopReplies(ExecutionMode mode)
    {
        var (_, stub, at) = Create(mode, SimpleProgram);
        Assert.Equal("OK", stub.Handle($"Z0,{at[1]:x},1"));
        Assert.Equal("T05swbreak:;thread:1;", stub.Handle("vCont;c:1"));
        Assert.Equal("OK", stub.Handle($"z0,{at[1]:x},1"));
        Assert.Equal("T05thread:1;", stub.Handle("vCont;s:1"));
        Assert.Equal("OK", stub.Handle($"Z2,{TestMachine.DataBase + 1:x},1"));
        Assert.Equal($"T05watch:{TestMachine.DataBase + 1:x};thread:1;", stub.Handle("c"));
        Assert.Equal("OK", stub.Handle($"z2,{TestMachine.DataBase + 1:x},1"));
        Assert.Equal("OK", stub.Handle($"Z1,{at[4]:x},1"));
        Assert.Equal("T05hwbreak:;thread:1;", stub.Handle("c"));
    }

    [Theory]
    [InlineData("m")]
    [InlineData("mzz,4")]
    [InlineData("m10")]
    [InlineData("m10,ffffffffffffffff")]
    [InlineData("m10,4")] // unmapped
    [InlineData("M10,4:zz")]
    [InlineData("M10,2:0011223344")]
    [InlineData("X10,4")]
    [InlineData("p")]
    [InlineData("p999")]
    [InlineData("pffffffffffffffff")]
    [InlineData("P10")]
    [InlineData("P10=12")]
    [InlineData("G00")]
    [InlineData("Z0")]
    [InlineData("Z2,1000,0")]
    [InlineData("Z2,1000,1001")]
    [InlineData("Z9,1000,1")]
    [InlineData("Cxx")]
    [InlineData("sxyz")]
    [InlineData("vCont;x")]
    [InlineData("vCont;")]
    [InlineData("qXfer:features:read:target.xml:zz")]
    [InlineData("qRcmd,4")]
    [InlineData("\u0000\u00ff}}")]
    [InlineData("Q")]
    [InlineData("qRcmd,6e6f2d737563682d636f6d6d616e64")]
    public void Handle_MalformedOrUnknown_ErrorOrEmptyNeverThrows(string packet)
    {
        var (m, stub, at) = Create(ExecutionMode.Interpret, SimpleProgram);
        string? reply = stub.Handle(packet);
        Assert.True(reply is "" || reply!.StartsWith('E') || packet.StartsWith("qRcmd", StringComparison.Ordinal), reply);
        Assert.Equal(at[0], m.State.Rip); // nothing ran
    }

    [Fact]
    public void Handle_Monitor_TogglesSmcBreakAndPrintsStats()
    {
        var m = new TestMachine(ExecutionMode.Interpret);
        DebugTestCode.Load(m, SimpleProgram);
        var debugger = new DebugController(m.Machine);
        var stub = new GdbStub(debugger);
        string Monitor(string command) => Encoding.UTF8.GetString(GdbPacket.FromHex(stub.Handle("qRcmd," + GdbPacket.ToHex(Encoding.UTF8.GetBytes(command)))!)!);
        Assert.Contains("smc-break", Monitor("help"));
        Assert.Equal("smc-break on\n", Monitor("smc-break on"));
        Assert.True(debugger.BreakOnSmc);
        Assert.Equal("smc-break off\n", Monitor("smc-break off"));
        Assert.False(debugger.BreakOnSmc);
        Assert.Contains("units_invalidated ", Monitor("smc-stats"));
        Assert.Equal("no SMC event yet\n", Monitor("smc-last"));
    }

    [Fact]
    public void Handle_KillAndDetach_EndTheSession()
    {
        var (_, stub, _) = Create(ExecutionMode.Interpret, SimpleProgram);
        Assert.Equal("OK", stub.Handle("D"));
        Assert.True(stub.Detached);
        Assert.Null(stub.Handle("k"));
        Assert.True(stub.Killed);
    }
}
