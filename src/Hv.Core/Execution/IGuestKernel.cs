using Hv.Core.Memory;

namespace Hv.Core.Execution;

/// <summary>
/// The guest operating-system personality (Linux in <c>Hv.Linux</c>). The engine knows nothing of Linux: it
/// hands over syscalls and faults here. Called once per syscall or fault, never per instruction.
/// </summary>
public interface IGuestKernel
{
    /// <summary>Handles the SYSCALL instruction that just executed (RIP already points past it).</summary>
    void Syscall(Vcpu cpu);

    /// <summary>
    /// Handles a guest fault. RIP and registers are those before the faulting instruction. The kernel either
    /// redirects the guest (signal delivery) or stops it with <see cref="Vcpu.Stop"/>.
    /// </summary>
    void Fault(Vcpu cpu, in GuestFault fault);
}
