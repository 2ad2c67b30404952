using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Native;
using Iced.Intel;

namespace Hv.Core.Interpretation.Simd;

/// <summary>Layout of the native context block a thunk receives in RDI.</summary>
internal static class SimdContext
{
    /// <summary>Host MXCSR saved on entry and restored on exit.</summary>
    public const int HostMxcsr = 0;
    /// <summary>Guest MXCSR with every exception masked and the flags cleared (SSE kind).</summary>
    public const int GuestMxcsr = 4;
    /// <summary>MXCSR after the instruction (SSE kind).</summary>
    public const int GuestMxcsrOut = 8;
    /// <summary>RFLAGS in (FCMOVcc) and out (COMISD, PTEST, FCOMI...).</summary>
    public const int Flags = 16;
    /// <summary>16 GPR slots of 8 bytes, by host register number.</summary>
    public const int Gprs = 64;
    /// <summary>16 XMM slots of 16 bytes, by host register number.</summary>
    public const int Xmms = 192;
    /// <summary>The remapped memory operand (up to 512 bytes).</summary>
    public const int Memory = 448;
    /// <summary>Size of the memory buffer.</summary>
    public const int MemorySize = 512;
    /// <summary>FXSAVE image for the x87 kind (64-byte aligned).</summary>
    public const int Image = 1024;
    /// <summary>Total size.</summary>
    public const int Size = Image + FpuState.Size;

    /// <summary>Offset of GPR slot <paramref name="n"/>.</summary>
    public static int GprSlot(int n) => Gprs + 8 * n;

    /// <summary>Offset of XMM slot <paramref name="k"/>.</summary>
    public static int XmmSlot(int k) => Xmms + 16 * k;
}

/// <summary>
/// Per-vCPU SIMD/x87 execution unit: a native context block, an arena of generated host thunks and the thunk
/// cache keyed by instruction shape (code, immediate, register aliasing; x87/MMX registers by number since they
/// live in the FXSAVE image). The host never takes a floating-point fault: thunks run with every exception
/// masked, and the guest's own masks are applied afterwards.
/// </summary>
internal sealed unsafe class SimdUnit : IDisposable
{
    private const ushort FswEsB = 0x8080;
    private static readonly bool[] X87KindByCode = BuildKinds();

    private readonly ExecutableMemory arena = new();
    private readonly Dictionary<ulong, SimdThunk> cache = [];
    // The last thunk used per Code: most code runs one register shape per opcode, so this skips the dictionary.
    private readonly SimdThunk?[] lastByCode = new SimdThunk?[InstructionTable.CodeCount];
    private byte* context = (byte*)NativeMemory.AlignedAlloc(SimdContext.Size, 64);
    private bool disposed;

    /// <summary>Creates an empty unit; the host must be x86-64 with SSE4.2 (thunks run guest instructions natively).</summary>
    public SimdUnit()
    {
        if (!System.Runtime.Intrinsics.X86.Sse42.X64.IsSupported || !System.Runtime.Intrinsics.X86.Ssse3.IsSupported)
        {
            NativeMemory.AlignedFree(context);
            context = null;
            disposed = true;
            throw new PlatformNotSupportedException("Hv executes guest SIMD/x87 instructions natively and needs an x86-64 host with SSE4.2");
        }
        new Span<byte>(context, SimdContext.Size).Clear();
    }

    /// <summary>Number of thunks generated.</summary>
    public int ThunkCount => cache.Count;

    /// <summary>Bytes of host code generated.</summary>
    public long CodeBytes => arena.BytesUsed;

    /// <summary>Executes <paramref name="ins"/> on the host through its thunk.</summary>
    public void Execute(Vcpu cpu, ref Instruction ins)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        bool x87 = X87KindByCode[(int)ins.Code];
        ulong key = Key(ref ins, x87);
        SimdThunk? t = lastByCode[(int)ins.Code];
        if (t is null || t.Key != key)
        {
            if (!cache.TryGetValue(key, out t))
            {
                t = ThunkBuilder.Build(ins, arena);
                t.Key = key;
                cache.Add(key, t);
                cpu.Stats.Extra["simd_thunks"] = cache.Count;
                cpu.Stats.Extra["simd_thunk_code_bytes"] = arena.BytesUsed;
            }
            lastByCode[(int)ins.Code] = t;
        }
        if (x87) ExecuteX87(cpu, ref ins, t);
        else ExecuteSse(cpu, ref ins, t);
    }

    private static ulong Key(ref Instruction ins, bool x87)
    {
        ulong key = (ulong)ins.Code;
        int count = Math.Min(ins.OpCount, 3);
        Span<Register> full = stackalloc Register[3];
        for (int i = 0; i < count; i++)
        {
            full[i] = Register.None;
            OpKind kind = ins.GetOpKind(i);
            if (kind == OpKind.Immediate8) key |= (ulong)ins.Immediate8 << 16;
            if (kind == OpKind.Memory) key |= 1UL << (27 + i); // reg and mem forms share a Code
            if (kind != OpKind.Register) continue;
            Register r = ins.GetOpRegister(i);
            if (r.IsGPR()) r = r.GetFullRegister();
            else if (x87) key |= (ulong)((uint)r & 0x1FF) << (32 + 9 * i);
            full[i] = r;
        }
        if (count > 1 && full[1] != Register.None && full[1] == full[0]) key |= 1UL << 24;
        if (count > 2 && full[2] != Register.None && full[2] == full[0]) key |= 1UL << 25;
        if (count > 2 && full[2] != Register.None && full[2] == full[1]) key |= 1UL << 26;
        return key;
    }

    private void ExecuteSse(Vcpu cpu, ref Instruction ins, SimdThunk t)
    {
        CpuState s = cpu.State;
        FpuState fpu = s.Fpu;
        byte* ctx = context;
        ulong address = 0;
        if (t.MemSize != 0) address = LoadMemory(cpu, ref ins, t, ctx);
        for (int i = 0; i < t.OpCount; i++)
        {
            ThunkOperand c = t.OpClass[i];
            if (c == ThunkOperand.Xmm)
                *(Vector128<byte>*)(ctx + SimdContext.XmmSlot(t.OpHost[i])) = fpu.Xmm(ins.GetOpRegister(i) - Register.XMM0);
            else if (c == ThunkOperand.Gpr)
                *(ulong*)(ctx + SimdContext.GprSlot(t.OpHost[i])) = s.Gpr[Operands.GprIndex(ins.GetOpRegister(i))];
        }
        LoadImplicit(s, t, ctx);
        if (t.ImplicitXmm0) *(Vector128<byte>*)(ctx + SimdContext.XmmSlot(0)) = fpu.Xmm(0);

        // Reserved bits would make the host's LDMXCSR fault, whoever stored them (e.g. a sigreturn frame).
        uint mxcsr = fpu.Mxcsr & 0xFFFF;
        *(uint*)(ctx + SimdContext.GuestMxcsr) = (mxcsr | 0x1F80) & ~0x3Fu;
        t.Entry(ctx);
        uint raised = *(uint*)(ctx + SimdContext.GuestMxcsrOut) & 0x3F;
        fpu.Mxcsr = mxcsr | raised;
        // #XM: an exception the guest unmasked occurred; the destination stays unwritten.
        if ((raised & ~(mxcsr >> 7)) != 0) throw SimdException();

        if (t.MemWrite) StoreMemory(cpu, address, t.MemSize, ctx + SimdContext.Memory);
        for (int i = 0; i < t.OpCount; i++)
        {
            if (!t.OpWritten[i]) continue;
            ThunkOperand c = t.OpClass[i];
            if (c == ThunkOperand.Xmm)
                fpu.Xmm(ins.GetOpRegister(i) - Register.XMM0) = *(Vector128<byte>*)(ctx + SimdContext.XmmSlot(t.OpHost[i]));
            else if (c == ThunkOperand.Gpr)
                s.Gpr[Operands.GprIndex(ins.GetOpRegister(i))] = *(ulong*)(ctx + SimdContext.GprSlot(t.OpHost[i]));
        }
        StoreImplicit(s, t, ctx);
        if (t.ImplicitXmm0Write) fpu.Xmm(0) = *(Vector128<byte>*)(ctx + SimdContext.XmmSlot(0));
    }

    private void ExecuteX87(Vcpu cpu, ref Instruction ins, SimdThunk t)
    {
        CpuState s = cpu.State;
        FpuState fpu = s.Fpu;
        byte* ctx = context;
        ushort fcw = fpu.Fcw, fsw = fpu.Fsw;
        uint mxcsr = fpu.Mxcsr & 0xFFFF;
        if (t.Waiting && (fsw & 0x80) != 0) throw X87Exception();
        ulong address = 0;
        byte* buffer = ctx + SimdContext.Memory;
        if (t.MemSize != 0) address = LoadMemory(cpu, ref ins, t, ctx);
        ushort loadedFcw = 0;
        if (t.Fixup == X87Fixup.LoadsControl)
        {
            // The host must never run with unmasked exceptions: it loads a masked copy of the guest's word.
            loadedFcw = *(ushort*)buffer;
            *(ushort*)buffer = (ushort)(loadedFcw | 0x3F);
        }
        for (int i = 0; i < t.OpCount; i++)
            if (t.OpClass[i] == ThunkOperand.Gpr)
                *(ulong*)(ctx + SimdContext.GprSlot(t.OpHost[i])) = s.Gpr[Operands.GprIndex(ins.GetOpRegister(i))];
        LoadImplicit(s, t, ctx);

        byte* image = ctx + SimdContext.Image;
        Buffer.MemoryCopy(fpu.Pointer, image, FpuState.Size, FpuState.Size);
        *(ushort*)(image + FpuState.FcwOffset) = (ushort)(fcw | 0x3F);
        *(ushort*)(image + FpuState.FswOffset) = (ushort)(fsw & ~FswEsB);
        *(uint*)(image + FpuState.MxcsrOffset) = (mxcsr | 0x1F80) & ~0x3Fu;
        t.Entry(ctx);

        uint raised = *(uint*)(image + FpuState.MxcsrOffset) & 0x3F;
        if ((raised & ~(mxcsr >> 7)) != 0)
        {
            fpu.Mxcsr = mxcsr | raised;
            throw SimdException();
        }
        ushort newFcw = t.Fixup switch
        {
            X87Fixup.LoadsControl => loadedFcw,
            X87Fixup.TakesResultControl or X87Fixup.StoresEnvironment => *(ushort*)(image + FpuState.FcwOffset),
            _ => fcw,
        };
        ushort newFsw = *(ushort*)(image + FpuState.FswOffset);
        // x87 exceptions are deferred: an unmasked one sets ES/B and faults at the next waiting instruction.
        newFsw = (newFsw & 0x3F & ~newFcw) != 0 ? (ushort)(newFsw | FswEsB) : (ushort)(newFsw & ~FswEsB);
        ushort esb = (ushort)(fsw & FswEsB);
        switch (t.Fixup)
        {
            case X87Fixup.StoresControl:
                *(ushort*)buffer = fcw;
                break;
            case X87Fixup.StoresEnvironment:
                *(ushort*)buffer = fcw;
                *(ushort*)(buffer + (t.MemSize is 28 or 108 ? 4 : 2)) |= esb;
                break;
            case X87Fixup.StoresStatus:
                if (t.MemSize != 0) *(ushort*)buffer |= esb;
                else *(ulong*)(ctx + SimdContext.GprSlot(0)) |= esb;
                break;
        }
        *(ushort*)(image + FpuState.FcwOffset) = newFcw;
        *(ushort*)(image + FpuState.FswOffset) = newFsw;
        *(uint*)(image + FpuState.MxcsrOffset) = mxcsr | raised;
        *(uint*)(image + FpuState.MxcsrMaskOffset) = 0xFFFF;
        // FOP/FIP/FDP would hold host addresses; keep them zero so the guest sees deterministic state.
        new Span<byte>(image + 6, 18).Clear();

        if (t.MemWrite) StoreMemory(cpu, address, t.MemSize, buffer);
        Buffer.MemoryCopy(image, fpu.Pointer, FpuState.Size, FpuState.Size);
        for (int i = 0; i < t.OpCount; i++)
            if (t.OpWritten[i] && t.OpClass[i] == ThunkOperand.Gpr)
                s.Gpr[Operands.GprIndex(ins.GetOpRegister(i))] = *(ulong*)(ctx + SimdContext.GprSlot(t.OpHost[i]));
        StoreImplicit(s, t, ctx);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadImplicit(CpuState s, SimdThunk t, byte* ctx)
    {
        for (uint m = t.ImplicitGprs; m != 0; m &= m - 1)
        {
            int n = System.Numerics.BitOperations.TrailingZeroCount(m);
            *(ulong*)(ctx + SimdContext.GprSlot(n)) = s.Gpr[n];
        }
        if (t.FlagsRead) *(ulong*)(ctx + SimdContext.Flags) = (s.RFlags & (ulong)RFlags.Status) | (ulong)RFlags.Reserved1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreImplicit(CpuState s, SimdThunk t, byte* ctx)
    {
        for (uint m = t.ImplicitGprWrites; m != 0; m &= m - 1)
        {
            int n = System.Numerics.BitOperations.TrailingZeroCount(m);
            s.Gpr[n] = *(ulong*)(ctx + SimdContext.GprSlot(n));
        }
        if (t.FlagsWritten != 0) Flags.Update(s, t.FlagsWritten, *(ulong*)(ctx + SimdContext.Flags));
    }

    /// <summary>Computes the address, checks alignment, loads the operand and probes a store: every fault first.</summary>
    private static ulong LoadMemory(Vcpu cpu, ref Instruction ins, SimdThunk t, byte* ctx)
    {
        ulong address = Operands.EffectiveAddress(cpu, ref ins);
        if ((address & t.AlignMask) != 0) throw Misaligned(address);
        byte* buffer = ctx + SimdContext.Memory;
        if (t.MemRead) Load(cpu.Memory, address, buffer, t.MemSize);
        if (t.MemWrite) cpu.Memory.Probe(address, t.MemSize, AccessKind.Write);
        return address;
    }

    /// <summary>Reads <paramref name="size"/> guest bytes into <paramref name="destination"/>.</summary>
    public static void Load(GuestMemory memory, ulong address, byte* destination, int size)
    {
        switch (size)
        {
            case 16: *(Vector128<byte>*)destination = memory.Read128(address); break;
            case 8: *(ulong*)destination = memory.Read64(address); break;
            case 4: *(uint*)destination = memory.Read32(address); break;
            case 2: *(ushort*)destination = memory.Read16(address); break;
            case 1: *destination = memory.Read8(address); break;
            case 10:
                ulong low = memory.Read64(address);
                *(ushort*)(destination + 8) = memory.Read16(address + 8);
                *(ulong*)destination = low;
                break;
            default: memory.ReadBytes(address, new Span<byte>(destination, size)); break;
        }
    }

    /// <summary>Writes <paramref name="size"/> bytes to guest memory (already probed, so it cannot fault halfway).</summary>
    public static void StoreMemory(Vcpu cpu, ulong address, int size, byte* source)
    {
        GuestMemory memory = cpu.Memory;
        switch (size)
        {
            case 16: memory.Write128(address, *(Vector128<byte>*)source); break;
            case 8: memory.Write64(address, *(ulong*)source); break;
            case 4: memory.Write32(address, *(uint*)source); break;
            case 2: memory.Write16(address, *(ushort*)source); break;
            case 1: memory.Write8(address, *source); break;
            default: memory.WriteBytes(address, new ReadOnlySpan<byte>(source, size)); break;
        }
    }

    /// <summary>#GP for a misaligned 16-byte legacy SSE operand.</summary>
    public static GuestFaultException Misaligned(ulong address) =>
        new(new GuestFault(FaultKind.GeneralProtection, 0, AccessKind.Read, $"misaligned 16-byte SSE operand at 0x{address:x}"));

    /// <summary>#XM: an unmasked SIMD floating-point exception.</summary>
    public static GuestFaultException SimdException() =>
        new(new GuestFault(FaultKind.FloatingPoint, 0, AccessKind.Execute, "unmasked SIMD floating-point exception"));

    /// <summary>#MF: a pending unmasked x87 exception.</summary>
    public static GuestFaultException X87Exception() =>
        new(new GuestFault(FaultKind.FloatingPoint, 0, AccessKind.Execute, "unmasked x87 floating-point exception"));

    private static bool[] BuildKinds()
    {
        var kinds = new bool[InstructionTable.CodeCount];
        for (int i = 0; i < kinds.Length; i++) kinds[i] = ThunkBuilder.IsX87Kind((Code)i);
        return kinds;
    }

    /// <summary>Frees the context block and the thunks.</summary>
    public void Dispose()
    {
        Release();
        arena.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the context block if the owner did not.</summary>
    ~SimdUnit() => Release();

    private void Release()
    {
        if (disposed) return;
        disposed = true;
        NativeMemory.AlignedFree(context);
        context = null;
    }
}
