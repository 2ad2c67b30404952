using Hv.Core.Cpu;
using Hv.Core.Execution;

namespace Hv.Linux.Syscalls;

/// <summary>File syscalls.</summary>
internal static unsafe class FileSyscalls
{
    public static void Register(SyscallRegistry r)
    {
    }
}
