using Hv.Core.Execution;

namespace Hv.Linux.Syscalls;

/// <summary>
/// Syscall number → handler. A handler reads its arguments from the registers (rdi, rsi, rdx, r10, r8, r9) and
/// returns the value for rax: a result, or a negated <see cref="Errno"/>. Each syscall group registers its
/// handlers from its own file. Unregistered numbers return -ENOSYS and are logged once by name.
/// </summary>
internal static unsafe class SyscallTable
{
    public const int Size = 512;

    private static readonly delegate*<LinuxKernel, Vcpu, long>[] Table = Build();

    public static bool TryGet(long number, out delegate*<LinuxKernel, Vcpu, long> handler)
    {
        if ((ulong)number < Size && Table[number] != null)
        {
            handler = Table[number];
            return true;
        }
        handler = null;
        return false;
    }

    /// <summary>The syscall's name (from <see cref="SyscallNames"/>), or "syscall_N".</summary>
    public static string NameOf(long number) => SyscallNames.Of(number);

    private static delegate*<LinuxKernel, Vcpu, long>[] Build()
    {
        var table = new delegate*<LinuxKernel, Vcpu, long>[Size];
        var registry = new SyscallRegistry(table);
        ProcessSyscalls.Register(registry);
        SignalSyscalls.Register(registry);
        ThreadSyscalls.Register(registry);
        FileSyscalls.Register(registry);
        MemorySyscalls.Register(registry);
        TimeSyscalls.Register(registry);
        return table;
    }
}

/// <summary>Lets syscall groups fill the table.</summary>
internal sealed unsafe class SyscallRegistry(delegate*<LinuxKernel, Vcpu, long>[] table)
{
    /// <summary>Registers the handler of syscall <paramref name="name"/> (an x86-64 name from <see cref="SyscallNames"/>).</summary>
    public void Add(string name, delegate*<LinuxKernel, Vcpu, long> handler)
    {
        int number = SyscallNames.NumberOf(name);
        if (number < 0) throw new ArgumentException($"unknown syscall '{name}'", nameof(name));
        table[number] = handler;
    }
}
