using Hv.Core.Cpu;
using Hv.Core.Execution;

namespace Hv.Linux.Syscalls;

/// <summary>Signal syscalls.</summary>
internal static unsafe class SignalSyscalls
{
    public static void Register(SyscallRegistry r)
    {
    }
}
