using Hv.Core.Cpu;
using Hv.Core.Execution;
using static Hv.Linux.Syscalls.ProcessSyscalls;

namespace Hv.Linux.Syscalls;

/// <summary>
/// clone and clone3 for threads (CLONE_VM | CLONE_THREAD | CLONE_SIGHAND, as pthread_create uses them). New
/// processes (fork, vfork, clone without CLONE_VM) are not supported: -ENOSYS.
/// </summary>
internal static unsafe class ThreadSyscalls
{
    public static void Register(SyscallRegistry r)
    {
        r.Add("clone", &Clone);
        r.Add("clone3", &Clone3);
        r.Add("fork", &NoProcesses);
        r.Add("vfork", &NoProcesses);
    }

    private const ulong CloneVm = 0x100, CloneFs = 0x200, CloneFiles = 0x400, CloneSighand = 0x800, CloneVfork = 0x4000,
        CloneParent = 0x8000, CloneThread = 0x1_0000, CloneSysvsem = 0x4_0000, CloneSettls = 0x8_0000,
        CloneParentSettid = 0x10_0000, CloneChildCleartid = 0x20_0000, CloneDetached = 0x40_0000,
        CloneChildSettid = 0x100_0000, CloneIo = 0x8000_0000;

    // Flags a thread-creating clone may carry (the low byte is the exit signal, ignored for threads).

    private const ulong Supported = CloneVm | CloneFs | CloneFiles | CloneSighand | CloneThread | CloneSysvsem | CloneSettls |
        CloneParentSettid | CloneChildCleartid | CloneDetached | CloneChildSettid | CloneIo | CloneParent | 0xFF;

    private static long NoProcesses(LinuxKernel k, Vcpu cpu) => -Errno.ENOSYS;

    // x86-64 argument order: clone(flags, newsp, parent_tid, child_tid, tls).
    private static long Clone(LinuxKernel k, Vcpu cpu) =>
        CreateThread(k, cpu, Arg(cpu, 0), Arg(cpu, 1), Arg(cpu, 2), Arg(cpu, 3), Arg(cpu, 4));

    private static long Clone3(LinuxKernel k, Vcpu cpu)
    {
        ulong args = Arg(cpu, 0), size = Arg(cpu, 1);
        if (size < 64 || size > 4096) return -Errno.EINVAL; // CLONE_ARGS_SIZE_VER0
        if (!Read(k, args, out ulong flags) || !Read(k, args + 16, out ulong childTid) || !Read(k, args + 24, out ulong parentTid) ||
            !Read(k, args + 32, out ulong exitSignal) || !Read(k, args + 40, out ulong stack) || !Read(k, args + 48, out ulong stackSize) ||
            !Read(k, args + 56, out ulong tls))
            return -Errno.EFAULT;
        if ((flags & CloneThread) != 0 && exitSignal != 0) return -Errno.EINVAL;
        if ((stack == 0) != (stackSize == 0)) return -Errno.EINVAL;
        // clone3 gives the lowest stack address and the size; the thread starts at the top.
        return CreateThread(k, cpu, flags, stack == 0 ? 0 : stack + stackSize, parentTid, childTid, tls);
    }

    private static long CreateThread(LinuxKernel k, Vcpu cpu, ulong flags, ulong stack, ulong parentTid, ulong childTid, ulong tls)
    {
        if ((flags & CloneVm) == 0 || (flags & CloneThread) == 0 || (flags & CloneVfork) != 0) return -Errno.ENOSYS;
        if ((flags & CloneSighand) == 0) return -Errno.EINVAL; // CLONE_THREAD requires CLONE_SIGHAND (which requires CLONE_VM)
        if ((flags & ~Supported) != 0) return -Errno.EINVAL; // namespaces, pidfds, ptrace and the like
        if ((flags & CloneSettls) != 0 && tls >= Hv.Core.Memory.AddressSpace.Limit) return -Errno.EPERM;

        CpuState s = cpu.State;
        ulong savedRax = s[Gpr.Rax];
        // The child resumes after the syscall with RAX = 0, on its own stack and TLS.
        s[Gpr.Rax] = 0;
        ulong savedRsp = s[Gpr.Rsp], savedFs = s.FsBase;
        if (stack != 0) s[Gpr.Rsp] = stack;
        if ((flags & CloneSettls) != 0) s.FsBase = tls;
        GuestThread child = k.CreateThread(s);
        s[Gpr.Rax] = savedRax;
        s[Gpr.Rsp] = savedRsp;
        s.FsBase = savedFs;

        uint tid = (uint)child.Tid;
        if ((flags & CloneParentSettid) != 0) Write(k, parentTid, tid);
        if ((flags & CloneChildSettid) != 0) Write(k, childTid, tid);
        if ((flags & CloneChildCleartid) != 0) child.ClearChildTid = childTid;
        return child.Tid;
    }
}
