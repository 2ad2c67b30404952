using Hv.Core.Cpu;
using Hv.Core.Execution;

namespace Hv.Linux.Syscalls;

/// <summary>Process syscalls.</summary>
internal static unsafe class ProcessSyscalls
{
    public static void Register(SyscallRegistry r)
    {
    }
}
