namespace Hv.Linux.Signals;

/// <summary>Linux signal numbers (x86-64) and their default actions.</summary>
public static class Signal
{
#pragma warning disable CS1591 // The names are the kernel's.
    public const int SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGILL = 4, SIGTRAP = 5, SIGABRT = 6, SIGBUS = 7, SIGFPE = 8,
        SIGKILL = 9, SIGUSR1 = 10, SIGSEGV = 11, SIGUSR2 = 12, SIGPIPE = 13, SIGALRM = 14, SIGTERM = 15, SIGSTKFLT = 16,
        SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19, SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22, SIGURG = 23, SIGXCPU = 24,
        SIGXFSZ = 25, SIGVTALRM = 26, SIGPROF = 27, SIGWINCH = 28, SIGIO = 29, SIGPWR = 30, SIGSYS = 31;
#pragma warning restore CS1591

    /// <summary>Highest signal number (real-time signals included).</summary>
    public const int Max = 64;

    /// <summary>The mask bit of signal <paramref name="signal"/>.</summary>
    public static ulong Bit(int signal) => 1UL << (signal - 1);

    /// <summary>Signals that can be neither caught, blocked nor ignored.</summary>
    public static readonly ulong Unblockable = Bit(SIGKILL) | Bit(SIGSTOP);

    /// <summary>
    /// True if the default action ignores the signal. Job-control stops (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU)
    /// are treated as ignored too: a single emulated process has no one to resume it.
    /// </summary>
    public static bool DefaultIgnores(int signal) => signal is SIGCHLD or SIGURG or SIGWINCH or SIGCONT
        or SIGSTOP or SIGTSTP or SIGTTIN or SIGTTOU;

    /// <summary>"SIGSEGV" for 11, "SIGRTMIN+2" for 36, and so on.</summary>
    public static string Name(int signal) => signal switch
    {
        SIGHUP => "SIGHUP", SIGINT => "SIGINT", SIGQUIT => "SIGQUIT", SIGILL => "SIGILL", SIGTRAP => "SIGTRAP",
        SIGABRT => "SIGABRT", SIGBUS => "SIGBUS", SIGFPE => "SIGFPE", SIGKILL => "SIGKILL", SIGUSR1 => "SIGUSR1",
        SIGSEGV => "SIGSEGV", SIGUSR2 => "SIGUSR2", SIGPIPE => "SIGPIPE", SIGALRM => "SIGALRM", SIGTERM => "SIGTERM",
        SIGSTKFLT => "SIGSTKFLT", SIGCHLD => "SIGCHLD", SIGCONT => "SIGCONT", SIGSTOP => "SIGSTOP", SIGTSTP => "SIGTSTP",
        SIGTTIN => "SIGTTIN", SIGTTOU => "SIGTTOU", SIGURG => "SIGURG", SIGXCPU => "SIGXCPU", SIGXFSZ => "SIGXFSZ",
        SIGVTALRM => "SIGVTALRM", SIGPROF => "SIGPROF", SIGWINCH => "SIGWINCH", SIGIO => "SIGIO", SIGPWR => "SIGPWR",
        SIGSYS => "SIGSYS",
        >= 32 and <= Max => $"SIGRTMIN+{signal - 32}",
        _ => $"signal {signal}",
    };
}

/// <summary>sa_flags bits.</summary>
[Flags]
public enum SignalActionFlags : ulong
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>Don't send SIGCHLD when children stop.</summary>
    NoChildStop = 1,
    /// <summary>Don't create zombies.</summary>
    NoChildWait = 2,
    /// <summary>The handler takes (signo, siginfo, ucontext).</summary>
    SigInfo = 4,
    /// <summary>sa_restorer is valid (always set by libc on x86-64).</summary>
    Restorer = 0x0400_0000,
    /// <summary>Run the handler on the alternate signal stack.</summary>
    OnStack = 0x0800_0000,
    /// <summary>Restart interrupted syscalls.</summary>
    Restart = 0x1000_0000,
    /// <summary>Don't block the signal while its handler runs.</summary>
    NoDefer = 0x4000_0000,
    /// <summary>Reset to the default action on delivery.</summary>
    ResetHand = 0x8000_0000,
}

/// <summary>One signal's disposition (the kernel's struct sigaction, x86-64 layout).</summary>
/// <param name="Handler">SIG_DFL (0), SIG_IGN (1) or the handler's address.</param>
/// <param name="Flags">sa_flags.</param>
/// <param name="Restorer">sa_restorer: where the handler returns to (it calls rt_sigreturn).</param>
/// <param name="Mask">Signals blocked while the handler runs.</param>
public readonly record struct SignalAction(ulong Handler, SignalActionFlags Flags, ulong Restorer, ulong Mask)
{
    /// <summary>SIG_DFL.</summary>
    public const ulong Default = 0;
    /// <summary>SIG_IGN.</summary>
    public const ulong Ignore = 1;
    /// <summary>Size of struct sigaction as rt_sigaction reads it.</summary>
    public const int Size = 32;
}

/// <summary>The fields of a siginfo_t that Hv fills.</summary>
/// <param name="Signal">si_signo.</param>
/// <param name="Code">si_code.</param>
/// <param name="Address">si_addr (faults), or 0.</param>
/// <param name="SenderPid">si_pid for signals sent with kill.</param>
/// <param name="SenderUid">si_uid for signals sent with kill.</param>
public readonly record struct SignalInfo(int Signal, int Code, ulong Address = 0, int SenderPid = 0, uint SenderUid = 0)
{
#pragma warning disable CS1591 // The names are the kernel's.
    public const int SI_USER = 0, SI_KERNEL = 0x80, SI_TKILL = -6, SEGV_MAPERR = 1, SEGV_ACCERR = 2, ILL_ILLOPN = 2,
        FPE_INTDIV = 1, FPE_FLTINV = 7, TRAP_BRKPT = 1, TRAP_TRACE = 2, BUS_ADRALN = 1, BUS_ADRERR = 2;
#pragma warning restore CS1591

    /// <summary>True for si_code values that carry si_addr (faults) rather than a sender.</summary>
    public bool IsFault => Code > 0 && Code < SI_KERNEL;
}
