using System.Buffers.Binary;
using Hv.Core.Cpu;
using Hv.Core.Memory;

namespace Hv.Linux.Signals;

/// <summary>
/// The x86-64 rt_sigframe the kernel pushes for a signal handler, and its reverse for rt_sigreturn:
/// <c>pretcode</c> (the restorer), <c>struct ucontext</c> (with <c>uc_mcontext</c> = struct sigcontext and
/// <c>uc_sigmask</c>), <c>siginfo_t</c>, and a 64-byte aligned FXSAVE image that <c>fpstate</c> points at.
/// </summary>
public static class SignalFrame
{
    /// <summary>Offset of struct ucontext in the frame.</summary>
    public const int UContextOffset = 8;
    /// <summary>Size of the kernel's struct ucontext.</summary>
    public const int UContextSize = 304;
    /// <summary>Offset of siginfo in the frame.</summary>
    public const int SigInfoOffset = UContextOffset + UContextSize;
    /// <summary>Size of siginfo_t.</summary>
    public const int SigInfoSize = 128;
    /// <summary>Size of struct rt_sigframe (without the FPU state that follows it).</summary>
    public const int Size = SigInfoOffset + SigInfoSize;
    /// <summary>Offset of uc_mcontext (struct sigcontext) in struct ucontext.</summary>
    public const int MContextOffset = 40;
    /// <summary>Offset of uc_sigmask in struct ucontext.</summary>
    public const int SigMaskOffset = 296;
    /// <summary>Offset of the fpstate pointer in struct sigcontext.</summary>
    public const int FpStatePointerOffset = 184;
    /// <summary>The x86 red zone the kernel skips below the interrupted RSP.</summary>
    public const int RedZone = 128;
    /// <summary>AT_MINSIGSTKSZ: a frame with its FPU state always fits (and matches libc's MINSIGSTKSZ).</summary>
    public const int MinSignalStackSize = 2048;

    /// <summary>Index of each register in uc_mcontext.gregs (the kernel's sigcontext order).</summary>
    private static readonly Gpr[] GregOrder =
    [
        Gpr.R8, Gpr.R9, Gpr.R10, Gpr.R11, Gpr.R12, Gpr.R13, Gpr.R14, Gpr.R15,
        Gpr.Rdi, Gpr.Rsi, Gpr.Rbp, Gpr.Rbx, Gpr.Rdx, Gpr.Rax, Gpr.Rcx, Gpr.Rsp,
    ];

    /// <summary>gregs index of RIP, EFLAGS, CSGSFS, ERR, TRAPNO, OLDMASK, CR2.</summary>
    public const int RegRip = 16, RegEflags = 17, RegCsgsfs = 18, RegErr = 19, RegTrapno = 20, RegOldmask = 21, RegCr2 = 22;

    /// <summary>Flags rt_sigreturn takes from the frame (the kernel's FIX_EFLAGS: AC OF DF TF SF ZF AF PF CF RF).</summary>
    public const ulong RestorableFlags = 0x0004_0000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x1_0000;

    /// <summary>Hardware details of a fault for the sigcontext (trap number, error code, CR2).</summary>
    /// <param name="TrapNo">The x86 exception vector.</param>
    /// <param name="Error">The exception error code.</param>
    /// <param name="Cr2">The faulting address of a page fault.</param>
    public readonly record struct TrapInfo(ulong TrapNo, ulong Error, ulong Cr2);

    /// <summary>
    /// Writes a frame below <paramref name="stackTop"/> for the current state and returns the frame address
    /// (RSP at handler entry), or 0 if the stack is not writable.
    /// </summary>
    public static ulong Build(AddressSpace memory, CpuState s, ulong stackTop, in SignalInfo info, in SignalAction action,
        ulong blockedBeforeHandler, in TrapInfo trap, ulong altSp, uint altFlags, ulong altSize)
    {
        ulong fpAddress = (stackTop - FpuState.Size) & ~63UL;
        ulong frame = ((fpAddress - Size + 8) & ~15UL) - 8;
        Span<byte> f = stackalloc byte[Size];
        f.Clear();
        W64(f, 0, action.Restorer);
        int uc = UContextOffset;
        W64(f, uc + 0, 2 | 4); // UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS
        W64(f, uc + 16, altSp);
        BinaryPrimitives.WriteUInt32LittleEndian(f[(uc + 24)..], altFlags);
        W64(f, uc + 32, altSize);
        int mc = uc + MContextOffset;
        for (int i = 0; i < GregOrder.Length; i++) W64(f, mc + i * 8, s[GregOrder[i]]);
        W64(f, mc + RegRip * 8, s.Rip);
        W64(f, mc + RegEflags * 8, s.RFlags);
        W64(f, mc + RegCsgsfs * 8, 0x33 | (0x2bUL << 48)); // cs = __USER_CS, ss = __USER_DS
        W64(f, mc + RegErr * 8, trap.Error);
        W64(f, mc + RegTrapno * 8, trap.TrapNo);
        W64(f, mc + RegOldmask * 8, blockedBeforeHandler);
        W64(f, mc + RegCr2 * 8, trap.Cr2);
        W64(f, mc + FpStatePointerOffset, fpAddress);
        W64(f, uc + SigMaskOffset, blockedBeforeHandler);

        int si = SigInfoOffset;
        BinaryPrimitives.WriteInt32LittleEndian(f[si..], info.Signal);
        BinaryPrimitives.WriteInt32LittleEndian(f[(si + 8)..], info.Code);
        if (info.IsFault) W64(f, si + 16, info.Address);
        else
        {
            BinaryPrimitives.WriteInt32LittleEndian(f[(si + 16)..], info.SenderPid);
            BinaryPrimitives.WriteUInt32LittleEndian(f[(si + 20)..], info.SenderUid);
        }

        if (!memory.IsAccessible(frame, stackTop - frame, PagePermissions.ReadWrite)) return 0;
        if (!memory.TryWrite(fpAddress, s.Fpu.Area)) return 0;
        if (!memory.TryWrite(frame, f)) return 0;
        return frame;
    }

    /// <summary>
    /// Restores registers, flags, FPU state and the signal mask from the frame whose pretcode was at
    /// <paramref name="frame"/> (RSP - 8 at rt_sigreturn). Returns false, changing nothing, if it is unreadable.
    /// </summary>
    public static bool Restore(AddressSpace memory, CpuState s, ulong frame, out ulong mask, out ulong altSp, out uint altFlags, out ulong altSize)
    {
        mask = altSp = altSize = 0;
        altFlags = 0;
        Span<byte> f = stackalloc byte[Size];
        if (!memory.TryRead(frame, f)) return false;
        int uc = UContextOffset, mc = uc + MContextOffset;
        ulong fpAddress = R64(f, mc + FpStatePointerOffset);
        Span<byte> fx = stackalloc byte[FpuState.Size];
        if (fpAddress != 0 && !memory.TryRead(fpAddress, fx)) return false;

        for (int i = 0; i < GregOrder.Length; i++) s[GregOrder[i]] = R64(f, mc + i * 8);
        s.Rip = R64(f, mc + RegRip * 8);
        ulong flags = R64(f, mc + RegEflags * 8);
        s.RFlags = (s.RFlags & ~RestorableFlags) | (flags & RestorableFlags);
        if (fpAddress != 0)
        {
            // Like the kernel, never let the guest load reserved MXCSR bits.
            uint mxcsr = BinaryPrimitives.ReadUInt32LittleEndian(fx[FpuState.MxcsrOffset..]) & 0xFFFF;
            BinaryPrimitives.WriteUInt32LittleEndian(fx[FpuState.MxcsrOffset..], mxcsr);
            fx[..464].CopyTo(s.Fpu.Area);
        }
        else
        {
            s.Fpu.Reset();
        }
        mask = R64(f, uc + SigMaskOffset);
        altSp = R64(f, uc + 16);
        altFlags = BinaryPrimitives.ReadUInt32LittleEndian(f[(uc + 24)..]);
        altSize = R64(f, uc + 32);
        return true;
    }

    private static void W64(Span<byte> b, int o, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b[o..], v);
    private static ulong R64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
