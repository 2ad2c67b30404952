using Hv.Core.Cpu;
using Hv.Core.Execution;

namespace Hv.Linux.Syscalls;

/// <summary>Time syscalls.</summary>
internal static unsafe class TimeSyscalls
{
    public static void Register(SyscallRegistry r)
    {
    }
}
