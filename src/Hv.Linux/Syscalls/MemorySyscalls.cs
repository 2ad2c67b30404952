using Hv.Core.Cpu;
using Hv.Core.Execution;

namespace Hv.Linux.Syscalls;

/// <summary>Memory syscalls.</summary>
internal static unsafe class MemorySyscalls
{
    public static void Register(SyscallRegistry r)
    {
    }
}
