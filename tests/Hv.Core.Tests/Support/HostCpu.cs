// Host-CPU oracle: runs the same instruction bytes natively and under Hv, then compares the final states.
//
// Usage (one snippet, many initial states; the Hv machine and the host code are reused between runs):
//
//     using var oracle = new OracleCase(mode, a => a.add(rax, rbx));
//     var init = CpuSnapshot.Create();
//     init[Gpr.Rax] = 5; init[Gpr.Rbx] = ulong.MaxValue;
//     oracle.Run(init).AssertSame(ignoredFlags: 0, context: "rax=5 rbx=-1");
//
// or in one line: OracleCase.Check(mode, a => a.add(rax, rbx), init, ignoredFlags, context);
// or: var r = OracleCase.Run(a => a.mul(rbx), init, mode); OracleCase.AssertSameState(r, SF|ZF|AF|PF);
// r.Host / r.Hv are the final CpuSnapshots if a test wants to look at them itself.
// Undefined flags: pass their RFLAGS bits as ignoredFlags (e.g. MUL: SF ZF AF PF; shifts by >1: OF).
//
// Guest and host use the same addresses (TestMachine.CodeBase/DataBase/StackTop), so RIP-relative code, data
// pointers and RSP-based code behave identically. The snippet sees every GPR (incl. RSP), RFLAGS (status flags +
// DF), XMM0-15 and MXCSR from the snapshot; data memory at DataBase (CpuSnapshot.Data, DataWindow bytes) and the
// top of the stack (CpuSnapshot.Stack, below StackTop) are initialized identically and compared afterwards.
//
// RULES FOR SNIPPETS (they also run natively, inside the test process):
//  * They must not fault natively: no divide by zero, no access outside the data/stack windows, no privileged
//    or undefined instructions, no syscalls. A native fault kills the whole test host. Fault tests run under Hv
//    only (TestMachine), never through the oracle.
//  * They must read and write memory only inside the data and stack windows: nothing else is kept in sync
//    between the host and the (reused) Hv machine.
//  * They must fall through to their end (no ret/jmp out, no infinite loop); internal labels and branches are fine.
//  * They must not use FS/GS segment overrides (the host's FS is the .NET thread's TLS).
//  * Native runs are serialized by a process-wide lock (the fixed addresses are one shared resource).
//
// Notes: XMM0-15 and MXCSR are always loaded and stored (zero by default), so SSE snippets need nothing extra.
// While the snippet runs natively RSP is the guest's; a signal delivered to the thread in that window would put
// its frame below RSP (past the 128-byte red zone) inside the compared stack window, so a rare stack-window diff
// far below RSP may be noise. OracleCase reuses one Hv machine per thread and mode (returned on Dispose).
// The same-address trick needs the test process to have [CodeBase, ThunkBase + 0x2000) free; mapping uses
// MAP_FIXED_NOREPLACE and fails loudly otherwise.
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Support;

/// <summary>A full architectural snapshot as the oracle compares it (registers, flags, XMM, data and stack windows).</summary>
public sealed class CpuSnapshot
{
    /// <summary>Bytes at <see cref="TestMachine.DataBase"/> that are initialized and compared.</summary>
    public const int DataWindow = 0x2000;

    /// <summary>Bytes just below <see cref="TestMachine.StackTop"/> that are initialized and compared.</summary>
    public const int StackWindow = 0x1000;

    /// <summary>RFLAGS bits the oracle loads and compares: the six status flags and DF.</summary>
    public const ulong ComparedFlags = (ulong)(Cpu.RFlags.Status | Cpu.RFlags.DF);

    /// <summary>General registers in x86 order.</summary>
    public ulong[] Gpr { get; } = new ulong[16];

    /// <summary>RFLAGS (only <see cref="ComparedFlags"/> matter).</summary>
    public ulong RFlags { get; set; } = 0x202;

    /// <summary>XMM0-15.</summary>
    public Vector128<byte>[] Xmm { get; } = new Vector128<byte>[16];

    /// <summary>MXCSR.</summary>
    public uint Mxcsr { get; set; } = 0x1F80;

    /// <summary>Contents of [DataBase, DataBase + DataWindow).</summary>
    public byte[] Data { get; } = new byte[DataWindow];

    /// <summary>Contents of [StackTop - StackWindow, StackTop).</summary>
    public byte[] Stack { get; } = new byte[StackWindow];

    /// <summary>A register by name.</summary>
    public ref ulong this[Gpr register] => ref Gpr[(int)register];

    /// <summary>Zero registers, RSP = StackTop - 0x100, flags 0x202, MXCSR default, zero memory.</summary>
    public static CpuSnapshot Create()
    {
        var s = new CpuSnapshot();
        s[Cpu.Gpr.Rsp] = TestMachine.StackTop - 0x100;
        return s;
    }

    /// <summary>Registers (except RSP) filled with pseudo-random values from <paramref name="random"/>, data window too.</summary>
    public static CpuSnapshot CreateRandom(Random random)
    {
        var s = Create();
        for (int i = 0; i < 16; i++) if (i != (int)Cpu.Gpr.Rsp) s.Gpr[i] = (ulong)random.NextInt64() ^ ((ulong)random.Next() << 40);
        // A seeded Random is slow per byte: expand one seed with xorshift instead.
        ulong x = (ulong)random.NextInt64() | 1;
        Span<ulong> words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(s.Data.AsSpan());
        for (int i = 0; i < words.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            words[i] = x;
        }
        return s;
    }

    /// <summary>A deep copy.</summary>
    public CpuSnapshot Clone()
    {
        var c = new CpuSnapshot { RFlags = RFlags, Mxcsr = Mxcsr };
        Gpr.CopyTo(c.Gpr, 0);
        Xmm.CopyTo(c.Xmm, 0);
        Data.CopyTo(c.Data, 0);
        Stack.CopyTo(c.Stack, 0);
        return c;
    }

    /// <summary>Writes a little-endian 64-bit value into the data window at offset <paramref name="offset"/>.</summary>
    public void WriteData64(int offset, ulong value) => BitConverter.TryWriteBytes(Data.AsSpan(offset), value);

    /// <summary>Reads a little-endian 64-bit value from the data window.</summary>
    public ulong ReadData64(int offset) => BitConverter.ToUInt64(Data, offset);

    /// <summary>Formats RFLAGS status bits and DF as names, e.g. "CF ZF".</summary>
    public static string DescribeFlags(ulong flags)
    {
        var sb = new StringBuilder();
        void Add(RFlags f, string name)
        {
            if ((flags & (ulong)f) == 0) return;
            if (sb.Length > 0) sb.Append(' ');
            sb.Append(name);
        }
        Add(Cpu.RFlags.CF, "CF"); Add(Cpu.RFlags.PF, "PF"); Add(Cpu.RFlags.AF, "AF"); Add(Cpu.RFlags.ZF, "ZF");
        Add(Cpu.RFlags.SF, "SF"); Add(Cpu.RFlags.DF, "DF"); Add(Cpu.RFlags.OF, "OF");
        return sb.Length == 0 ? "-" : sb.ToString();
    }
}

/// <summary>The outcome of one oracle run: the native final state and Hv's.</summary>
public sealed class OracleResult(CpuSnapshot initial, CpuSnapshot host, CpuSnapshot hv, StopReason hvStop, string listing)
{
    private static readonly string[] GprNames =
        ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

    /// <summary>The state both started from.</summary>
    public CpuSnapshot Initial { get; } = initial;

    /// <summary>The final state of the native run.</summary>
    public CpuSnapshot Host { get; } = host;

    /// <summary>The final state under Hv.</summary>
    public CpuSnapshot Hv { get; } = hv;

    /// <summary>Why Hv stopped (HLT expected).</summary>
    public StopReason HvStop { get; } = hvStop;

    /// <summary>
    /// Fails with a readable diff unless Hv halted normally and its state equals the host's, ignoring the
    /// RFLAGS bits in <paramref name="ignoredFlags"/> (architecturally undefined ones).
    /// </summary>
    public void AssertSame(ulong ignoredFlags = 0, string? context = null)
    {
        string? diff = Diff(ignoredFlags);
        if (diff is not null)
            Assert.Fail($"{(context is null ? "" : context + "\n")}snippet:\n{listing}{diff}\ninitial: {Summary(Initial)}");
    }

    /// <summary>The differences as text, or null when the states match.</summary>
    public string? Diff(ulong ignoredFlags)
    {
        var sb = new StringBuilder();
        if (HvStop.Kind != StopKind.Halted)
            sb.Append($"Hv did not reach the end: {HvStop.Kind} {HvStop.Message}\n");
        for (int i = 0; i < 16; i++)
            if (Host.Gpr[i] != Hv.Gpr[i])
                sb.Append($"  {GprNames[i]}: host=0x{Host.Gpr[i]:x16} hv=0x{Hv.Gpr[i]:x16} (initial 0x{Initial.Gpr[i]:x16})\n");
        ulong mask = CpuSnapshot.ComparedFlags & ~ignoredFlags;
        ulong hf = Host.RFlags & mask, vf = Hv.RFlags & mask;
        if (hf != vf)
            sb.Append($"  flags: host=[{CpuSnapshot.DescribeFlags(hf)}] hv=[{CpuSnapshot.DescribeFlags(vf)}] differ=[{CpuSnapshot.DescribeFlags(hf ^ vf)}] (ignored [{CpuSnapshot.DescribeFlags(ignoredFlags & CpuSnapshot.ComparedFlags)}])\n");
        for (int i = 0; i < 16; i++)
            if (Host.Xmm[i] != Hv.Xmm[i])
                sb.Append($"  xmm{i}: host={Hex(Host.Xmm[i])} hv={Hex(Hv.Xmm[i])}\n");
        if (Host.Mxcsr != Hv.Mxcsr) sb.Append($"  mxcsr: host=0x{Host.Mxcsr:x8} hv=0x{Hv.Mxcsr:x8}\n");
        DiffBytes(sb, "data", TestMachine.DataBase, Host.Data, Hv.Data);
        DiffBytes(sb, "stack", TestMachine.StackTop - CpuSnapshot.StackWindow, Host.Stack, Hv.Stack);
        return sb.Length == 0 ? null : "differences:\n" + sb;
    }

    private static void DiffBytes(StringBuilder sb, string name, ulong baseAddress, byte[] host, byte[] hv)
    {
        int shown = 0;
        for (int i = 0; i < host.Length && shown < 16; i++)
        {
            if (host[i] == hv[i]) continue;
            sb.Append($"  {name}[0x{baseAddress + (ulong)i:x}]: host=0x{host[i]:x2} hv=0x{hv[i]:x2}\n");
            shown++;
        }
    }

    private static string Hex(Vector128<byte> v) => $"{v.AsUInt64()[1]:x16}_{v.AsUInt64()[0]:x16}";

    private static string Summary(CpuSnapshot s)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 16; i++) if (s.Gpr[i] != 0) sb.Append($"{GprNames[i]}=0x{s.Gpr[i]:x} ");
        sb.Append($"flags=[{CpuSnapshot.DescribeFlags(s.RFlags)}]");
        return sb.ToString();
    }
}

/// <summary>
/// One snippet, runnable natively and under Hv from any number of initial states. Dispose hands the Hv machine
/// back to a per-thread pool (optional; nothing native is owned per case).
/// </summary>
public sealed class OracleCase : IDisposable
{
    private readonly byte[] hostCode;
    private readonly TestMachine machine;
    private readonly string listing;

    /// <summary>Assembles <paramref name="snippet"/> for both sides and prepares an Hv machine in <paramref name="mode"/>.</summary>
    public OracleCase(ExecutionMode mode, Action<Assembler> snippet)
    {
        byte[] guestCode = Assemble(snippet, a => a.hlt());
        hostCode = Assemble(snippet, a => a.jmp(HostCpu.EpilogueAddress));
        int body = guestCode.Length - 1; // hlt is one byte
        if (hostCode.Length < body || !guestCode.AsSpan(0, body).SequenceEqual(hostCode.AsSpan(0, body)))
            throw new InvalidOperationException("the snippet assembles differently for host and guest (size-dependent branches to the end?)");
        listing = Disassemble(guestCode);
        this.mode = mode;
        // Creating a machine costs far more than a run: reuse one per thread and mode.
        pool ??= new TestMachine?[3];
        machine = (pool[(int)mode] ?? new TestMachine(mode)).LoadBytes(guestCode);
        pool[(int)mode] = null;
    }

    [ThreadStatic]
    private static TestMachine?[]? pool;
    private readonly ExecutionMode mode;

    /// <summary>The Hv machine (for tests that want to look at it after a run).</summary>
    public TestMachine Machine => machine;

    /// <summary>Runs natively and under Hv from <paramref name="initial"/> and returns both final states.</summary>
    public OracleResult Run(CpuSnapshot initial)
    {
        CpuSnapshot host = HostCpu.Run(hostCode, initial);
        StopReason stop = machine.RunSnapshot(initial, out CpuSnapshot hv);
        return new OracleResult(initial, host, hv, stop, listing);
    }

    /// <summary>Runs <paramref name="snippet"/> once natively and under Hv in <paramref name="mode"/>.</summary>
    public static OracleResult Run(Action<Assembler> snippet, CpuSnapshot initial, ExecutionMode mode = ExecutionMode.Interpret)
    {
        using var oracle = new OracleCase(mode, snippet);
        return oracle.Run(initial);
    }

    /// <summary>Fails with a readable diff unless <paramref name="result"/>'s host and Hv states match (see <see cref="OracleResult.AssertSame"/>).</summary>
    public static void AssertSameState(OracleResult result, ulong ignoredFlags = 0, string? context = null) =>
        result.AssertSame(ignoredFlags, context);

    /// <summary>Runs once and asserts that Hv matches the host.</summary>
    public static void Check(ExecutionMode mode, Action<Assembler> snippet, CpuSnapshot initial, ulong ignoredFlags = 0, string? context = null)
    {
        using var oracle = new OracleCase(mode, snippet);
        oracle.Run(initial).AssertSame(ignoredFlags, context);
    }

    /// <summary>Returns the Hv machine to this thread's pool.</summary>
    public void Dispose()
    {
        pool ??= new TestMachine?[3];
        pool[(int)mode] = machine;
    }

    private static byte[] Assemble(Action<Assembler> snippet, Action<Assembler> end)
    {
        var a = new Assembler(64);
        snippet(a);
        end(a);
        var writer = new ByteWriter();
        a.Assemble(writer, TestMachine.CodeBase);
        return writer.ToArray();
    }

    private static string Disassemble(byte[] code)
    {
        var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(code), TestMachine.CodeBase);
        var sb = new StringBuilder();
        var formatter = new NasmFormatter();
        var output = new StringOutput();
        while (decoder.IP < TestMachine.CodeBase + (ulong)code.Length)
        {
            decoder.Decode(out Instruction ins);
            formatter.Format(ins, output);
            sb.Append($"  {ins.IP:x}: {output.ToStringAndReset()}\n");
        }
        return sb.ToString();
    }

    internal sealed class ByteWriter : CodeWriter
    {
        private readonly List<byte> bytes = [];
        public override void WriteByte(byte value) => bytes.Add(value);
        public byte[] ToArray() => [.. bytes];
    }
}

/// <summary>
/// Runs code natively at the guest's addresses. The code, data, stack and thunk areas are mapped once per
/// process with MAP_FIXED_NOREPLACE; every run holds <see cref="Gate"/>.
/// </summary>
public static unsafe class HostCpu
{
    /// <summary>Where the prologue/epilogue thunk and the context block live (host only).</summary>
    public const ulong ThunkBase = TestMachine.StackTop + 0x10_0000;

    /// <summary>Address of the epilogue that host snippets jump to.</summary>
    public const ulong EpilogueAddress = ThunkBase + 0x800;

    private const ulong ContextAddress = ThunkBase + 0x1000;
    private const ulong ThunkSize = 0x2000;
    private const int CtxFlags = 128, CtxHostRsp = 136, CtxMxcsr = 144, CtxHostMxcsr = 148, CtxXmm = 256;

    private static readonly object Gate = new();
    private static bool mapped;
    private static byte[]? lastCode;

    /// <summary>Runs <paramref name="code"/> (which must end by jumping to <see cref="EpilogueAddress"/>) from <paramref name="initial"/>.</summary>
    public static CpuSnapshot Run(byte[] code, CpuSnapshot initial)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            throw new PlatformNotSupportedException("the host-CPU oracle needs x86-64 Linux");
        if ((ulong)code.Length > TestMachine.CodeSize) throw new ArgumentException("snippet too large", nameof(code));
        var result = new CpuSnapshot();
        lock (Gate)
        {
            EnsureMapped();
            // Rewriting identical code would only cost a self-modifying-code pipeline flush.
            if (!ReferenceEquals(code, lastCode)) code.CopyTo(new Span<byte>((void*)TestMachine.CodeBase, code.Length));
            lastCode = code;
            initial.Data.CopyTo(new Span<byte>((void*)TestMachine.DataBase, CpuSnapshot.DataWindow));
            initial.Stack.CopyTo(new Span<byte>((void*)(TestMachine.StackTop - CpuSnapshot.StackWindow), CpuSnapshot.StackWindow));
            byte* ctx = (byte*)ContextAddress;
            for (int i = 0; i < 16; i++) ((ulong*)ctx)[i] = initial.Gpr[i];
            *(ulong*)(ctx + CtxFlags) = (initial.RFlags & CpuSnapshot.ComparedFlags) | 0x202;
            *(uint*)(ctx + CtxMxcsr) = initial.Mxcsr;
            for (int i = 0; i < 16; i++) ((Vector128<byte>*)(ctx + CtxXmm))[i] = initial.Xmm[i];

            ((delegate* unmanaged<void*, void>)ThunkBase)(null);

            for (int i = 0; i < 16; i++) result.Gpr[i] = ((ulong*)ctx)[i];
            result.RFlags = *(ulong*)(ctx + CtxFlags) & (CpuSnapshot.ComparedFlags | 0x202);
            result.Mxcsr = *(uint*)(ctx + CtxMxcsr);
            for (int i = 0; i < 16; i++) result.Xmm[i] = ((Vector128<byte>*)(ctx + CtxXmm))[i];
            new Span<byte>((void*)TestMachine.DataBase, CpuSnapshot.DataWindow).CopyTo(result.Data);
            new Span<byte>((void*)(TestMachine.StackTop - CpuSnapshot.StackWindow), CpuSnapshot.StackWindow).CopyTo(result.Stack);
        }
        return result;
    }

    private static void EnsureMapped()
    {
        if (mapped) return;
        Map(TestMachine.CodeBase, TestMachine.CodeSize);
        Map(TestMachine.DataBase, TestMachine.DataSize);
        Map(TestMachine.StackTop - TestMachine.StackSize, TestMachine.StackSize);
        Map(ThunkBase, ThunkSize);
        byte[] prologue = AssemblePrologue();
        byte[] epilogue = AssembleEpilogue();
        if (prologue.Length > 0x800 || epilogue.Length > 0x800) throw new InvalidOperationException("thunk too large");
        prologue.CopyTo(new Span<byte>((void*)ThunkBase, prologue.Length));
        epilogue.CopyTo(new Span<byte>((void*)EpilogueAddress, epilogue.Length));
        mapped = true;
    }

    private static void Map(ulong address, ulong length)
    {
        const int ProtRwx = 7, MapPrivate = 0x02, MapAnonymous = 0x20, MapFixedNoReplace = 0x100000;
        nint p = mmap((nint)address, (nuint)length, ProtRwx, MapPrivate | MapAnonymous | MapFixedNoReplace, -1, 0);
        if (p == -1 || (ulong)p != address)
        {
            if (p != -1) munmap(p, (nuint)length);
            throw new InvalidOperationException($"host-CPU oracle: cannot map 0x{address:x} (+0x{length:x}) in the test process (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    // Called as void f(void*): saves the host's callee-saved registers, RSP and MXCSR, loads the guest context
    // and jumps to the snippet at CodeBase.
    private static byte[] AssemblePrologue()
    {
        var a = new Assembler(64);
        a.push(rbx); a.push(rbp); a.push(r12); a.push(r13); a.push(r14); a.push(r15);
        a.sub(rsp, 8); // keeps the host stack 16-byte aligned, as it was at entry after the return address
        a.mov(rax, ContextAddress);
        a.stmxcsr(__dword_ptr[rax + CtxHostMxcsr]);
        a.mov(__qword_ptr[rax + CtxHostRsp], rsp);
        a.ldmxcsr(__dword_ptr[rax + CtxMxcsr]);
        AssemblerRegisterXMM[] xmms = [xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13, xmm14, xmm15];
        for (int i = 0; i < 16; i++) a.movdqu(xmms[i], __xmmword_ptr[rax + CtxXmm + 16 * i]);
        a.push(__qword_ptr[rax + CtxFlags]);
        a.popfq();
        AssemblerRegister64[] gprs = [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15];
        for (int i = 1; i < 16; i++) a.mov(gprs[i], __qword_ptr[rax + 8 * i]);
        a.mov(rax, __qword_ptr[rax]);
        a.jmp(TestMachine.CodeBase);
        return AssembleAt(a, ThunkBase);
    }

    // Reached by the snippet's final jmp: stores the guest context, restores the host and returns.
    private static byte[] AssembleEpilogue()
    {
        var a = new Assembler(64);
        // No free register yet: RAX goes out through the moffs form, which takes a full 64-bit address.
        a.AddInstruction(Instruction.Create(Code.Mov_moffs64_RAX, new MemoryOperand(Register.None, (long)ContextAddress, 8), Register.RAX));
        a.mov(rax, ContextAddress);
        AssemblerRegister64[] gprs = [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15];
        for (int i = 1; i < 16; i++) a.mov(__qword_ptr[rax + 8 * i], gprs[i]);
        a.mov(rsp, __qword_ptr[rax + CtxHostRsp]); // back on the host stack before touching any stack
        a.pushfq();
        a.pop(__qword_ptr[rax + CtxFlags]);
        a.cld();
        AssemblerRegisterXMM[] xmms = [xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13, xmm14, xmm15];
        for (int i = 0; i < 16; i++) a.movdqu(__xmmword_ptr[rax + CtxXmm + 16 * i], xmms[i]);
        a.stmxcsr(__dword_ptr[rax + CtxMxcsr]);
        a.ldmxcsr(__dword_ptr[rax + CtxHostMxcsr]);
        a.add(rsp, 8);
        a.pop(r15); a.pop(r14); a.pop(r13); a.pop(r12); a.pop(rbp); a.pop(rbx);
        a.ret();
        return AssembleAt(a, EpilogueAddress);
    }

    private static byte[] AssembleAt(Assembler a, ulong address)
    {
        var writer = new OracleCase.ByteWriter();
        a.Assemble(writer, address);
        return writer.ToArray();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(nint addr, nuint length);
}
