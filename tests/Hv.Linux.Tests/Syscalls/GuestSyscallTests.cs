using Hv.Core;
using Hv.Core.Execution;
using Hv.Linux.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Linux.Tests.Syscalls;

/// <summary>Guest programs that reach the file and memory syscalls through the SYSCALL instruction.</summary>
public sealed class GuestSyscallTests
{
    private const int DataBase = (int)ElfBuilder.DataBase;

    /// <summary>Sets a register with push imm / pop (works with the smallest instruction set).</summary>
    private static void Set(Assembler a, AssemblerRegister64 r, int value)
    {
        a.push(value);
        a.pop(r);
    }

    private static void Copy(Assembler a, AssemblerRegister64 to, AssemblerRegister64 from)
    {
        a.push(from);
        a.pop(to);
    }

    private static void Sys(Assembler a, int number)
    {
        Set(a, rax, number);
        a.syscall();
    }

    private static void ExitWithRax(Assembler a)
    {
        Copy(a, rdi, rax);
        Sys(a, 231);
    }

    [Theory]
    [MemberData(nameof(Modes.AllModes), MemberType = typeof(Modes))]
    public void Memfd_CodeWrittenThroughRwAliasRunsThroughRxAlias(ExecutionMode mode)
    {
        byte[] image = new ElfBuilder { Data = "jit\0"u8.ToArray() }.WithCode(a =>
        {
            Set(a, rdi, DataBase);
            Set(a, rsi, 0);
            Sys(a, 319);                 // memfd_create("jit", 0)
            Copy(a, rbx, rax);
            Copy(a, rdi, rbx);
            Set(a, rsi, 4096);
            Sys(a, 77);                  // ftruncate(fd, 4096)
            foreach (int prot in new[] { 3, 5 })
            {
                Set(a, rdi, 0);
                Set(a, rsi, 4096);
                Set(a, rdx, prot);
                Set(a, r10, 1);          // MAP_SHARED
                Copy(a, r8, rbx);
                Set(a, r9, 0);
                Sys(a, 9);               // mmap
                if (prot == 3)
                {
                    Copy(a, rdi, rax);
                    Set(a, rax, unchecked((int)0xC358_2A6A)); // push 42; pop rax; ret
                    a.stosd();
                }
            }
            a.call(rax);
            ExitWithRax(a);
        }).Build();
        GuestProcess p = Guest.Create(image, mode: mode);
        try
        {
            Assert.Equal(new StopReason(StopKind.Exited, 42), p.Run(1_000_000));
        }
        finally
        {
            p.Kernel.CloseFiles();
        }
    }

    [Theory]
    [MemberData(nameof(Modes.AllModes), MemberType = typeof(Modes))]
    public void Openat_RelativePath_WritesFileInGuestWorkingDirectory(ExecutionMode mode)
    {
        const string text = "hello from the guest\n";
        byte[] data = [.. "out.txt\0"u8.ToArray(), .. System.Text.Encoding.ASCII.GetBytes(text)];
        byte[] image = new ElfBuilder { Data = data }.WithCode(a =>
        {
            Set(a, rdi, -100);           // AT_FDCWD
            Set(a, rsi, DataBase);
            Set(a, rdx, 0x241);          // O_CREAT | O_WRONLY | O_TRUNC
            Set(a, r10, 0x1A4);
            Sys(a, 257);                 // openat
            Copy(a, rbx, rax);
            Copy(a, rdi, rbx);
            Set(a, rsi, DataBase + 8);
            Set(a, rdx, text.Length);
            Sys(a, 1);                   // write
            Copy(a, r12, rax);
            Copy(a, rdi, rbx);
            Sys(a, 3);                   // close
            Copy(a, rax, r12);
            ExitWithRax(a);
        }).Build();
        string dir = Directory.CreateTempSubdirectory("hv-guest-").FullName;
        GuestProcess p = Guest.Create(image, mode: mode);
        try
        {
            Assert.Equal(0, p.Kernel.SetWorkingDirectory(dir));
            Assert.Equal(new StopReason(StopKind.Exited, text.Length), p.Run(1_000_000));
            Assert.Equal(text, File.ReadAllText(Path.Combine(dir, "out.txt")));
        }
        finally
        {
            p.Kernel.CloseFiles();
            Directory.Delete(dir, recursive: true);
        }
    }
}
