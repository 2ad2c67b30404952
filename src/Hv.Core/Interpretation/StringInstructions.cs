using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>
/// Interpreter handlers: MOVS, STOS, LODS, CMPS and SCAS at every size (and XLATB), with REP/REPE/REPNE, both directions and
/// 32-bit addressing (0x67). Repeated forms are precise per iteration: RSI, RDI and RCX are written back after
/// each element (or each bulk chunk), so a fault leaves them describing exactly the iterations done and the
/// instruction restarts where it stopped. With 64-bit addressing, REP MOVS/STOS (either direction) and forward
/// REPE CMPSB / REP(N)E SCASB work on whole page chunks through <see cref="GuestMemory.ReadableSpan"/>/<see cref="GuestMemory.WritableSpan"/>; anything those cannot
/// serve (unmapped, protected, code frames, page-straddling elements) takes one element through the normal
/// load/store path, which raises the precise fault or notifies the SMC tracker.
/// </summary>
internal static unsafe class StringInstructions
{
    private const int Rax = (int)Gpr.Rax;
    private const int Rcx = (int)Gpr.Rcx;
    private const int Rsi = (int)Gpr.Rsi;
    private const int Rdi = (int)Gpr.Rdi;

    public static void Register(HandlerRegistry r)
    {
        r.Add(Code.Movsb_m8_m8, &Movsb);
        r.Add(Code.Movsw_m16_m16, &Movsw);
        r.Add(Code.Movsd_m32_m32, &Movsd);
        r.Add(Code.Movsq_m64_m64, &Movsq);
        r.Add(Code.Stosb_m8_AL, &Stosb);
        r.Add(Code.Stosw_m16_AX, &Stosw);
        r.Add(Code.Stosd_m32_EAX, &Stosd);
        r.Add(Code.Stosq_m64_RAX, &Stosq);
        r.Add(Code.Lodsb_AL_m8, &Lodsb);
        r.Add(Code.Lodsw_AX_m16, &Lodsw);
        r.Add(Code.Lodsd_EAX_m32, &Lodsd);
        r.Add(Code.Lodsq_RAX_m64, &Lodsq);
        r.Add(Code.Cmpsb_m8_m8, &Cmpsb);
        r.Add(Code.Cmpsw_m16_m16, &Cmpsw);
        r.Add(Code.Cmpsd_m32_m32, &Cmpsd);
        r.Add(Code.Cmpsq_m64_m64, &Cmpsq);
        r.Add(Code.Scasb_AL_m8, &Scasb);
        r.Add(Code.Scasw_AX_m16, &Scasw);
        r.Add(Code.Scasd_EAX_m32, &Scasd);
        r.Add(Code.Scasq_RAX_m64, &Scasq);
        r.Add(Code.Xlat_m8, &Xlat);
    }

    /// <summary>XLATB: AL = [RBX + AL] (Iced describes the operand as base RBX, index AL, so the usual EA rules apply).</summary>
    private static void Xlat(Vcpu cpu, ref Instruction ins) =>
        Operands.WriteGpr(cpu.State, Iced.Intel.Register.AL, cpu.Memory.Read8(Operands.EffectiveAddress(cpu, ref ins)));

    private static void Movsb(Vcpu cpu, ref Instruction ins) => Movs(cpu, ref ins, 1);
    private static void Movsw(Vcpu cpu, ref Instruction ins) => Movs(cpu, ref ins, 2);
    private static void Movsd(Vcpu cpu, ref Instruction ins) => Movs(cpu, ref ins, 4);
    private static void Movsq(Vcpu cpu, ref Instruction ins) => Movs(cpu, ref ins, 8);
    private static void Stosb(Vcpu cpu, ref Instruction ins) => Stos(cpu, ref ins, 1);
    private static void Stosw(Vcpu cpu, ref Instruction ins) => Stos(cpu, ref ins, 2);
    private static void Stosd(Vcpu cpu, ref Instruction ins) => Stos(cpu, ref ins, 4);
    private static void Stosq(Vcpu cpu, ref Instruction ins) => Stos(cpu, ref ins, 8);
    private static void Lodsb(Vcpu cpu, ref Instruction ins) => Lods(cpu, ref ins, 1);
    private static void Lodsw(Vcpu cpu, ref Instruction ins) => Lods(cpu, ref ins, 2);
    private static void Lodsd(Vcpu cpu, ref Instruction ins) => Lods(cpu, ref ins, 4);
    private static void Lodsq(Vcpu cpu, ref Instruction ins) => Lods(cpu, ref ins, 8);
    private static void Cmpsb(Vcpu cpu, ref Instruction ins) => Cmps(cpu, ref ins, 1);
    private static void Cmpsw(Vcpu cpu, ref Instruction ins) => Cmps(cpu, ref ins, 2);
    private static void Cmpsd(Vcpu cpu, ref Instruction ins) => Cmps(cpu, ref ins, 4);
    private static void Cmpsq(Vcpu cpu, ref Instruction ins) => Cmps(cpu, ref ins, 8);
    private static void Scasb(Vcpu cpu, ref Instruction ins) => Scas(cpu, ref ins, 1);
    private static void Scasw(Vcpu cpu, ref Instruction ins) => Scas(cpu, ref ins, 2);
    private static void Scasd(Vcpu cpu, ref Instruction ins) => Scas(cpu, ref ins, 4);
    private static void Scasq(Vcpu cpu, ref Instruction ins) => Scas(cpu, ref ins, 8);

    // ---- addressing ----

    /// <summary>True with a 0x67 prefix: RSI/RDI/RCX are used (and updated) as ESI/EDI/ECX.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsA32(ref Instruction ins) =>
        ins.Op0Kind is OpKind.MemoryESEDI or OpKind.MemorySegESI || ins.Op1Kind is OpKind.MemoryESEDI or OpKind.MemorySegESI;

    /// <summary>The segment base added to RSI: only FS/GS overrides mean anything in 64-bit mode (RDI always uses ES).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SourceBase(CpuState s, ref Instruction ins) => ins.SegmentPrefix switch
    {
        Iced.Intel.Register.FS => s.FsBase,
        Iced.Intel.Register.GS => s.GsBase,
        _ => 0,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Offset(ulong register, bool a32) => a32 ? (uint)register : register;

    /// <summary>The register after one element: ±size, wrapping (and zero-extending) at 32 bits with 0x67.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Next(ulong register, ulong step, bool a32) => a32 ? (uint)(register + step) : register + step;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Step(CpuState s, int size) => s.DF ? (ulong)(-size) : (ulong)size;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Count(ulong[] g, bool a32) => a32 ? (uint)g[Rcx] : g[Rcx];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsRep(ref Instruction ins) => ins.HasRepPrefix || ins.HasRepnePrefix;

    /// <summary>The accumulator register of an element size (AL, AX, EAX, RAX).</summary>
    private static Iced.Intel.Register Accumulator(int size) => size switch
    {
        1 => Iced.Intel.Register.AL,
        2 => Iced.Intel.Register.AX,
        4 => Iced.Intel.Register.EAX,
        _ => Iced.Intel.Register.RAX,
    };

    // ---- MOVS ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Movs(Vcpu cpu, ref Instruction ins, int size)
    {
        CpuState s = cpu.State;
        bool a32 = IsA32(ref ins);
        ulong srcBase = SourceBase(s, ref ins);
        if (IsRep(ref ins))
        {
            RepMovs(cpu, a32, srcBase, size);
            return;
        }
        ulong[] g = s.Gpr;
        ulong rsi = g[Rsi], rdi = g[Rdi];
        ulong value = Operands.ReadMemory(cpu, srcBase + Offset(rsi, a32), size);
        Operands.WriteMemory(cpu, Offset(rdi, a32), size, value);
        ulong step = Step(s, size);
        g[Rsi] = Next(rsi, step, a32);
        g[Rdi] = Next(rdi, step, a32);
    }

    private static void RepMovs(Vcpu cpu, bool a32, ulong srcBase, int size)
    {
        CpuState s = cpu.State;
        ulong[] g = s.Gpr;
        ulong count = Count(g, a32);
        if (count == 0) return;
        ulong step = Step(s, size);
        bool backward = s.DF;
        while (count != 0)
        {
            ulong rsi = g[Rsi], rdi = g[Rdi];
            if (!a32)
            {
                ulong done = backward
                    ? CopyChunkBackward(cpu.Memory, srcBase + rsi, rdi, count, size)
                    : CopyChunk(cpu.Memory, srcBase + rsi, rdi, count, size);
                if (done != 0)
                {
                    ulong bytes = done * (ulong)size;
                    g[Rsi] = backward ? rsi - bytes : rsi + bytes;
                    g[Rdi] = backward ? rdi - bytes : rdi + bytes;
                    count -= done;
                    g[Rcx] = count;
                    continue;
                }
            }
            ulong value = Operands.ReadMemory(cpu, srcBase + Offset(rsi, a32), size);
            Operands.WriteMemory(cpu, Offset(rdi, a32), size, value);
            g[Rsi] = Next(rsi, step, a32);
            g[Rdi] = Next(rdi, step, a32);
            count--;
            g[Rcx] = count; // with 0x67 count is ECX, so this zero-extends like a 32-bit write
        }
    }

    /// <summary>
    /// Copies as many whole elements as fit in the source and destination pages (at most <paramref name="count"/>),
    /// forward. Returns 0 when the fast path cannot serve the next element.
    /// </summary>
    private static ulong CopyChunk(GuestMemory memory, ulong src, ulong dst, ulong count, int size)
    {
        Span<byte> from = memory.ReadableSpan(src);
        if (from.IsEmpty) return 0;
        Span<byte> to = memory.WritableSpan(dst);
        if (to.IsEmpty) return 0;
        ulong elements = (ulong)(Math.Min(from.Length, to.Length) / size);
        if (elements > count) elements = count;
        if (elements == 0) return 0;
        int bytes = (int)elements * size;
        from = from[..bytes];
        to = to[..bytes];
        if (from.Overlaps(to, out int distance) && distance > 0)
        {
            // The destination runs ahead of the source inside one frame: x86 copies forward element by
            // element, replicating the pattern, where a memmove would not. A byte-wise forward copy gives the
            // same result as long as no element overlaps its own source.
            if (distance < size) return 0;
            for (int i = 0; i < bytes; i++) to[i] = from[i];
        }
        else
        {
            from.CopyTo(to);
        }
        return elements;
    }

    /// <summary>
    /// The DF=1 twin of <see cref="CopyChunk"/>: copies the elements at <paramref name="src"/>,
    /// <paramref name="src"/>−size, … down to the start of the source or destination page, whichever comes first.
    /// </summary>
    private static ulong CopyChunkBackward(GuestMemory memory, ulong src, ulong dst, ulong count, int size)
    {
        int srcOffset = (int)(src & PhysicalPage.OffsetMask), dstOffset = (int)(dst & PhysicalPage.OffsetMask);
        if (srcOffset + size > PhysicalPage.Size || dstOffset + size > PhysicalPage.Size) return 0; // straddles
        Span<byte> from = memory.ReadableSpan(src & ~PhysicalPage.OffsetMask);
        if (from.IsEmpty) return 0;
        Span<byte> to = memory.WritableSpan(dst & ~PhysicalPage.OffsetMask);
        if (to.IsEmpty) return 0;
        ulong elements = (ulong)(Math.Min(srcOffset, dstOffset) / size) + 1;
        if (elements > count) elements = count;
        int bytes = (int)elements * size;
        from = from.Slice(srcOffset + size - bytes, bytes);
        to = to.Slice(dstOffset + size - bytes, bytes);
        if (to.Overlaps(from, out int distance) && distance > 0)
        {
            // Going down, a source above the destination is read after it was overwritten: replicate like the
            // hardware, byte-wise from the top, unless an element overlaps its own source.
            if (distance < size) return 0;
            for (int i = bytes - 1; i >= 0; i--) to[i] = from[i];
        }
        else
        {
            from.CopyTo(to);
        }
        return elements;
    }

    // ---- STOS ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stos(Vcpu cpu, ref Instruction ins, int size)
    {
        CpuState s = cpu.State;
        bool a32 = IsA32(ref ins);
        if (IsRep(ref ins))
        {
            RepStos(cpu, a32, size);
            return;
        }
        ulong[] g = s.Gpr;
        ulong rdi = g[Rdi];
        Operands.WriteMemory(cpu, Offset(rdi, a32), size, g[Rax]);
        g[Rdi] = Next(rdi, Step(s, size), a32);
    }

    private static void RepStos(Vcpu cpu, bool a32, int size)
    {
        CpuState s = cpu.State;
        ulong[] g = s.Gpr;
        ulong count = Count(g, a32);
        if (count == 0) return;
        ulong value = g[Rax];
        ulong step = Step(s, size);
        bool backward = s.DF;
        while (count != 0)
        {
            ulong rdi = g[Rdi];
            if (!a32)
            {
                ulong done = FillChunk(cpu.Memory, rdi, value, count, size, backward);
                if (done != 0)
                {
                    ulong bytes = done * (ulong)size;
                    g[Rdi] = backward ? rdi - bytes : rdi + bytes;
                    count -= done;
                    g[Rcx] = count;
                    continue;
                }
            }
            Operands.WriteMemory(cpu, Offset(rdi, a32), size, value);
            g[Rdi] = Next(rdi, step, a32);
            count--;
            g[Rcx] = count;
        }
    }

    /// <summary>
    /// Fills as many whole elements as fit in the destination page, upwards from <paramref name="dst"/> or (with
    /// <paramref name="backward"/>) downwards from the element at <paramref name="dst"/>; 0 when the fast path
    /// cannot serve. The bytes are the same either way: the element pattern is anchored at <paramref name="dst"/>.
    /// </summary>
    private static ulong FillChunk(GuestMemory memory, ulong dst, ulong value, ulong count, int size, bool backward)
    {
        Span<byte> to;
        ulong elements;
        if (!backward)
        {
            to = memory.WritableSpan(dst);
            elements = (ulong)(to.Length / size);
            if (elements > count) elements = count;
            if (elements == 0) return 0;
            to = to[..((int)elements * size)];
        }
        else
        {
            int offset = (int)(dst & PhysicalPage.OffsetMask);
            if (offset + size > PhysicalPage.Size) return 0;
            to = memory.WritableSpan(dst & ~PhysicalPage.OffsetMask);
            if (to.IsEmpty) return 0;
            elements = (ulong)(offset / size) + 1;
            if (elements > count) elements = count;
            int bytes = (int)elements * size;
            to = to.Slice(offset + size - bytes, bytes);
        }
        switch (size)
        {
            case 1: to.Fill((byte)value); break;
            case 2: MemoryMarshal.Cast<byte, ushort>(to).Fill((ushort)value); break;
            case 4: MemoryMarshal.Cast<byte, uint>(to).Fill((uint)value); break;
            default: MemoryMarshal.Cast<byte, ulong>(to).Fill(value); break;
        }
        return elements;
    }

    // ---- LODS ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lods(Vcpu cpu, ref Instruction ins, int size)
    {
        CpuState s = cpu.State;
        bool a32 = IsA32(ref ins);
        ulong srcBase = SourceBase(s, ref ins);
        ulong[] g = s.Gpr;
        ulong step = Step(s, size);
        Iced.Intel.Register acc = Accumulator(size);
        if (!IsRep(ref ins))
        {
            ulong rsi = g[Rsi];
            Operands.WriteGpr(s, acc, Operands.ReadMemory(cpu, srcBase + Offset(rsi, a32), size));
            g[Rsi] = Next(rsi, step, a32);
            return;
        }
        ulong count = Count(g, a32);
        while (count != 0)
        {
            ulong rsi = g[Rsi];
            Operands.WriteGpr(s, acc, Operands.ReadMemory(cpu, srcBase + Offset(rsi, a32), size));
            g[Rsi] = Next(rsi, step, a32);
            count--;
            g[Rcx] = count;
        }
    }

    // ---- CMPS ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Cmps(Vcpu cpu, ref Instruction ins, int size)
    {
        CpuState s = cpu.State;
        bool a32 = IsA32(ref ins);
        ulong srcBase = SourceBase(s, ref ins);
        if (IsRep(ref ins))
        {
            RepCmps(cpu, a32, srcBase, size, ins.HasRepnePrefix);
            return;
        }
        ulong[] g = s.Gpr;
        ulong rsi = g[Rsi], rdi = g[Rdi];
        ulong a = Operands.ReadMemory(cpu, srcBase + Offset(rsi, a32), size);
        ulong b = Operands.ReadMemory(cpu, Offset(rdi, a32), size);
        Flags.SetSub(s, a, b, a - b, size);
        ulong step = Step(s, size);
        g[Rsi] = Next(rsi, step, a32);
        g[Rdi] = Next(rdi, step, a32);
    }

    /// <summary>REPE CMPS stops after the first difference, REPNE CMPS after the first match (or when RCX is 0).</summary>
    private static void RepCmps(Vcpu cpu, bool a32, ulong srcBase, int size, bool repne)
    {
        CpuState s = cpu.State;
        ulong[] g = s.Gpr;
        ulong count = Count(g, a32);
        ulong step = Step(s, size);
        bool bulk = size == 1 && !repne && !s.DF && !a32;
        while (count != 0)
        {
            ulong rsi = g[Rsi], rdi = g[Rdi];
            if (bulk)
            {
                Span<byte> x = cpu.Memory.ReadableSpan(srcBase + rsi);
                Span<byte> y = cpu.Memory.ReadableSpan(rdi);
                int n = (int)Math.Min((ulong)Math.Min(x.Length, y.Length), count);
                if (n > 0)
                {
                    int same = x[..n].CommonPrefixLength(y[..n]);
                    int done = same < n ? same + 1 : n;
                    byte a = x[done - 1], b = y[done - 1];
                    Flags.SetSub(s, a, b, (ulong)a - b, 1);
                    g[Rsi] = rsi + (ulong)done;
                    g[Rdi] = rdi + (ulong)done;
                    count -= (ulong)done;
                    g[Rcx] = count;
                    if (same < n) return;
                    continue;
                }
            }
            ulong va = Operands.ReadMemory(cpu, srcBase + Offset(rsi, a32), size);
            ulong vb = Operands.ReadMemory(cpu, Offset(rdi, a32), size);
            Flags.SetSub(s, va, vb, va - vb, size);
            g[Rsi] = Next(rsi, step, a32);
            g[Rdi] = Next(rdi, step, a32);
            count--;
            g[Rcx] = count;
            if ((va == vb) == repne) return;
        }
    }

    // ---- SCAS ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scas(Vcpu cpu, ref Instruction ins, int size)
    {
        CpuState s = cpu.State;
        bool a32 = IsA32(ref ins);
        if (IsRep(ref ins))
        {
            RepScas(cpu, a32, size, ins.HasRepnePrefix);
            return;
        }
        ulong[] g = s.Gpr;
        ulong rdi = g[Rdi];
        ulong a = g[Rax] & Operands.SizeMask(size);
        ulong b = Operands.ReadMemory(cpu, Offset(rdi, a32), size);
        Flags.SetSub(s, a, b, a - b, size);
        g[Rdi] = Next(rdi, Step(s, size), a32);
    }

    /// <summary>REPE SCAS stops at the first element unequal to the accumulator, REPNE SCAS at the first equal one.</summary>
    private static void RepScas(Vcpu cpu, bool a32, int size, bool repne)
    {
        CpuState s = cpu.State;
        ulong[] g = s.Gpr;
        ulong count = Count(g, a32);
        ulong step = Step(s, size);
        ulong a = g[Rax] & Operands.SizeMask(size);
        bool bulk = size == 1 && !s.DF && !a32;
        while (count != 0)
        {
            ulong rdi = g[Rdi];
            if (bulk)
            {
                Span<byte> y = cpu.Memory.ReadableSpan(rdi);
                int n = (int)Math.Min((ulong)y.Length, count);
                if (n > 0)
                {
                    y = y[..n];
                    int hit = repne ? y.IndexOf((byte)a) : y.IndexOfAnyExcept((byte)a);
                    int done = hit >= 0 ? hit + 1 : n;
                    byte b = y[done - 1];
                    Flags.SetSub(s, a, b, a - b, 1);
                    g[Rdi] = rdi + (ulong)done;
                    count -= (ulong)done;
                    g[Rcx] = count;
                    if (hit >= 0) return;
                    continue;
                }
            }
            ulong vb = Operands.ReadMemory(cpu, Offset(rdi, a32), size);
            Flags.SetSub(s, a, vb, a - vb, size);
            g[Rdi] = Next(rdi, step, a32);
            count--;
            g[Rcx] = count;
            if ((a == vb) == repne) return;
        }
    }
}
