using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Core.Tests.Support;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Tests.Interpretation;

public sealed class StringInstructionTests
{
    private const ulong Code = TestMachine.CodeBase;
    private const ulong Data = TestMachine.DataBase;
    private const ulong DataEnd = TestMachine.DataBase + TestMachine.DataSize;
    private const ulong DF = (ulong)RFlags.DF;

    private static TestMachine Load(ExecutionMode mode, Action<Assembler> code) => new TestMachine(mode).Load(code);

    private static void AssertHalted(StopReason stop) => Assert.True(stop.Kind == StopKind.Halted, stop.Message ?? stop.Kind.ToString());

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)(i * 7 + seed + (i >> 8));
        return b;
    }

    private static void Write(TestMachine m, ulong address, byte[] bytes) => Assert.True(m.Memory.TryWrite(address, bytes));

    private static byte[] Read(TestMachine m, ulong address, int length)
    {
        var b = new byte[length];
        Assert.True(m.Memory.TryRead(address, b));
        return b;
    }

    private static void SetRegs(TestMachine m, ulong rsi, ulong rdi, ulong rcx, bool df = false)
    {
        m.State[Gpr.Rsi] = rsi;
        m.State[Gpr.Rdi] = rdi;
        m.State[Gpr.Rcx] = rcx;
        m.State.RFlags = 0x202 | (df ? DF : 0);
    }

    // ---- MOVS ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovsb_ForwardCounts_CopyAndAdvance(ExecutionMode mode)
    {
        foreach (int count in new[] { 0, 1, 7, 64, 4096, 10_000 })
        {
            TestMachine m = Load(mode, a => a.rep.movsb());
            byte[] src = Pattern(count + 16, count);
            Write(m, Data + 3, src);
            SetRegs(m, Data + 3, Data + 0x8005, (ulong)count);
            AssertHalted(m.Run());
            Assert.Equal(src[..count], Read(m, Data + 0x8005, count));
            Assert.Equal(new byte[16], Read(m, Data + 0x8005 + (ulong)count, 16)); // nothing past the end
            Assert.Equal(Data + 3 + (ulong)count, m.State[Gpr.Rsi]);
            Assert.Equal(Data + 0x8005 + (ulong)count, m.State[Gpr.Rdi]);
            Assert.Equal(0UL, m.State[Gpr.Rcx]);
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovs_WordDwordQword_Forward(ExecutionMode mode)
    {
        foreach (int size in new[] { 2, 4, 8 })
        {
            TestMachine m = Load(mode, a =>
            {
                if (size == 2) a.rep.movsw();
                else if (size == 4) a.rep.movsd();
                else a.rep.movsq();
            });
            const int count = 1500; // crosses page boundaries on both sides, misaligned
            byte[] src = Pattern(count * size, size);
            Write(m, Data + 1, src);
            SetRegs(m, Data + 1, Data + 0x7FFE, count);
            AssertHalted(m.Run());
            Assert.Equal(src, Read(m, Data + 0x7FFE, count * size));
            Assert.Equal(Data + 1 + (ulong)(count * size), m.State[Gpr.Rsi]);
            Assert.Equal(Data + 0x7FFE + (ulong)(count * size), m.State[Gpr.Rdi]);
            Assert.Equal(0UL, m.State[Gpr.Rcx]);
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovsq_Backward_CopiesDownwards(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.rep.movsq());
        const int count = 700;
        byte[] src = Pattern(count * 8, 3);
        Write(m, Data + 0x100, src);
        ulong srcLast = Data + 0x100 + (ulong)(count - 1) * 8, dstLast = Data + 0x9000 + (ulong)(count - 1) * 8;
        SetRegs(m, srcLast, dstLast, count, df: true);
        AssertHalted(m.Run());
        Assert.Equal(src, Read(m, Data + 0x9000, count * 8));
        Assert.Equal(Data + 0x100 - 8, m.State[Gpr.Rsi]);
        Assert.Equal(Data + 0x9000 - 8, m.State[Gpr.Rdi]);
        Assert.Equal(0UL, m.State[Gpr.Rcx]);
        Assert.Equal(0x202 | DF, m.State.RFlags);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Movsb_NoPrefix_OneElementEachDirection(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => { a.movsb(); a.movsd(); });
        Write(m, Data, [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
        SetRegs(m, Data, Data + 0x100, 99);
        AssertHalted(m.Run());
        Assert.Equal(new byte[] { 0x11, 0x22, 0x33, 0x44, 0x55 }, Read(m, Data + 0x100, 5));
        Assert.Equal(Data + 5, m.State[Gpr.Rsi]);
        Assert.Equal(Data + 0x105, m.State[Gpr.Rdi]);
        Assert.Equal(99UL, m.State[Gpr.Rcx]); // no REP: RCX untouched

        m.State.Rip = Code;
        SetRegs(m, Data + 5, Data + 0x200, 99, df: true);
        AssertHalted(m.Run());
        Assert.Equal(0x66, Read(m, Data + 0x200, 1)[0]);
        Assert.Equal(Data + 5 - 1 - 4, m.State[Gpr.Rsi]);
        Assert.Equal(Data + 0x200 - 1 - 4, m.State[Gpr.Rdi]);
    }

    /// <summary>What x86 produces: element after element, each read completely before it is written.</summary>
    private static byte[] ForwardElementCopy(byte[] memory, int src, int dst, int count, int size)
    {
        var r = (byte[])memory.Clone();
        var element = new byte[size];
        for (int i = 0; i < count; i++)
        {
            Array.Copy(r, src + i * size, element, 0, size);
            Array.Copy(element, 0, r, dst + i * size, size);
        }
        return r;
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovs_OverlappingForward_ReplicatesLikeHardware(ExecutionMode mode)
    {
        foreach (var (size, distance, count) in new[] { (1, 1, 300), (1, 3, 5000), (8, 3, 200), (8, 8, 600), (4, 12, 100), (2, 1, 50) })
        {
            TestMachine m = Load(mode, a =>
            {
                if (size == 1) a.rep.movsb();
                else if (size == 2) a.rep.movsw();
                else if (size == 4) a.rep.movsd();
                else a.rep.movsq();
            });
            byte[] image = Pattern(0x3000, distance);
            Write(m, Data, image);
            SetRegs(m, Data + 0x10, Data + 0x10 + (ulong)distance, (ulong)count);
            AssertHalted(m.Run());
            byte[] expected = ForwardElementCopy(image, 0x10, 0x10 + distance, count, size);
            Assert.Equal(expected, Read(m, Data, 0x3000));
        }
    }

    /// <summary>The DF=1 model: elements from the top down, each read completely before it is written.</summary>
    private static byte[] BackwardElementCopy(byte[] memory, int src, int dst, int count, int size)
    {
        var r = (byte[])memory.Clone();
        var element = new byte[size];
        for (int i = 0; i < count; i++)
        {
            Array.Copy(r, src - i * size, element, 0, size);
            Array.Copy(element, 0, r, dst - i * size, size);
        }
        return r;
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovs_OverlappingBackward_ReplicatesLikeHardware(ExecutionMode mode)
    {
        // src above dst while copying downwards re-reads what was just written (the mirror of the forward case);
        // src below dst is the memmove-safe direction.
        foreach (var (size, distance, count) in new[] { (1, 1, 300), (1, 5, 5000), (8, 3, 200), (8, 16, 600), (4, -12, 900), (1, -1, 5000) })
        {
            TestMachine m = Load(mode, a =>
            {
                if (size == 1) a.rep.movsb();
                else if (size == 4) a.rep.movsd();
                else a.rep.movsq();
            });
            byte[] image = Pattern(0x3000, distance & 0xFF);
            Write(m, Data, image);
            int src = 0x2800, dst = src - distance;
            SetRegs(m, Data + (ulong)src, Data + (ulong)dst, (ulong)count, df: true);
            AssertHalted(m.Run());
            Assert.Equal(BackwardElementCopy(image, src, dst, count, size), Read(m, Data, 0x3000));
            Assert.Equal(Data + (ulong)(src - count * size), m.State[Gpr.Rsi]);
            Assert.Equal(Data + (ulong)(dst - count * size), m.State[Gpr.Rdi]);
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovsb_BackwardDestinationRunsIntoReadOnlyPage_FaultsPrecisely(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.rep.movsb());
        Assert.True(m.Memory.Protect(Data + 0x1000, 0x1000, PagePermissions.Read));
        SetRegs(m, Data + 0x5100, Data + 0x2010, 0x100, df: true);
        StopReason stop = m.Run();
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(Data + 0x1FFF, stop.Fault!.Value.Address);
        Assert.Equal(0x100UL - 0x11, m.State[Gpr.Rcx]);
        Assert.Equal(Data + 0x5100 - 0x11, m.State[Gpr.Rsi]);
        Assert.Equal(Data + 0x1FFF, m.State[Gpr.Rdi]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovsb_IntoReadOnlyPageMidway_FaultsPreciselyAndRestarts(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => { a.nop(); a.rep.movsb(); });
        byte[] src = Pattern(100, 1);
        Write(m, Data, src);
        Assert.True(m.Memory.Protect(Data + 0x2000, 0x1000, PagePermissions.Read));
        SetRegs(m, Data, Data + 0x2000 - 0x10, 100);
        StopReason stop = m.Run();
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.PageProtection, stop.Fault!.Value.Kind);
        Assert.Equal(Data + 0x2000, stop.Fault.Value.Address);
        Assert.Equal(AccessKind.Write, stop.Fault.Value.Access);
        Assert.Equal(Code + 1, m.State.Rip);
        Assert.Equal(84UL, m.State[Gpr.Rcx]);
        Assert.Equal(Data + 0x10, m.State[Gpr.Rsi]);
        Assert.Equal(Data + 0x2000, m.State[Gpr.Rdi]);
        Assert.Equal(src[..16], Read(m, Data + 0x2000 - 0x10, 16));

        // The "signal handler" makes the page writable; the instruction restarts and finishes the copy.
        Assert.True(m.Memory.Protect(Data + 0x2000, 0x1000, PagePermissions.ReadWrite));
        AssertHalted(m.Run());
        Assert.Equal(src, Read(m, Data + 0x2000 - 0x10, 100));
        Assert.Equal(0UL, m.State[Gpr.Rcx]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovsb_BackwardSourceRunsIntoUnmapped_Faults(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.rep.movsb());
        SetRegs(m, Data + 5, Data + 0x500, 10, df: true);
        StopReason stop = m.Run();
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.PageNotMapped, stop.Fault!.Value.Kind);
        Assert.Equal(Data - 1, stop.Fault.Value.Address);
        Assert.Equal(AccessKind.Read, stop.Fault.Value.Access);
        Assert.Equal(4UL, m.State[Gpr.Rcx]);
        Assert.Equal(Data - 1, m.State[Gpr.Rsi]);
        Assert.Equal(Data + 0x500 - 6, m.State[Gpr.Rdi]);
        Assert.Equal(Code, m.State.Rip);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovsq_ElementStraddlingIntoUnmapped_WritesNothingOfIt(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.rep.movsq());
        Write(m, Data, Pattern(64, 9));
        byte[] src = Pattern(64, 9);
        Write(m, Data, src);
        Write(m, DataEnd - 20, new byte[20]);
        SetRegs(m, Data, DataEnd - 20, 3);
        StopReason stop = m.Run();
        // Two elements fit; the third straddles into the unmapped page and writes none of its bytes.
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(DataEnd, stop.Fault!.Value.Address); // the first inaccessible byte, as CR2 reports it
        Assert.Equal(1UL, m.State[Gpr.Rcx]);
        Assert.Equal(Data + 16, m.State[Gpr.Rsi]);
        Assert.Equal(DataEnd - 4, m.State[Gpr.Rdi]);
        Assert.Equal(src[..16], Read(m, DataEnd - 20, 16));
        Assert.Equal(new byte[4], Read(m, DataEnd - 4, 4));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovsb_AddressSize32_TruncatesAndZeroExtends(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.db(0x67, 0xF3, 0xA4)); // rep movsb with ESI/EDI/ECX
        const ulong low = 0x0060_0000; // 32-bit addressing reaches only the low 4 GiB
        m.Memory.Map(low, 0x1000, PagePermissions.ReadWrite, "low");
        byte[] src = Pattern(16, 4);
        Write(m, low, src);
        SetRegs(m, 0xFFFF_FFFF_0000_0000 | low, 0x1234_5678_0000_0000 | (low + 0x100), 0xABCD_0000_0000_0010);
        AssertHalted(m.Run());
        Assert.Equal(src, Read(m, low + 0x100, 16));
        Assert.Equal(low + 16, m.State[Gpr.Rsi]);
        Assert.Equal(low + 0x110, m.State[Gpr.Rdi]);
        Assert.Equal(0UL, m.State[Gpr.Rcx]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Movsb_FsOverride_AppliesToSourceOnly(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.db(0x64, 0xA4)); // movsb with fs: on the source
        Write(m, Data + 0x1010, [0x5A]);
        SetRegs(m, 0x10, Data + 0x20, 0);
        m.State.FsBase = Data + 0x1000;
        AssertHalted(m.Run());
        Assert.Equal(0x5A, Read(m, Data + 0x20, 1)[0]);
        Assert.Equal(0x11UL, m.State[Gpr.Rsi]);
    }

    // ---- STOS ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepStos_EverySizeBothDirections_Fill(ExecutionMode mode)
    {
        const ulong value = 0x8877_6655_4433_2211;
        foreach (int size in new[] { 1, 2, 4, 8 })
        {
            foreach (bool df in new[] { false, true })
            {
                TestMachine m = Load(mode, a =>
                {
                    if (size == 1) a.rep.stosb();
                    else if (size == 2) a.rep.stosw();
                    else if (size == 4) a.rep.stosd();
                    else a.rep.stosq();
                });
                const int count = 3000;
                int bytes = count * size;
                ulong start = Data + 0x103;
                SetRegs(m, 0, df ? start + (ulong)(bytes - size) : start, count, df);
                m.State[Gpr.Rax] = value;
                AssertHalted(m.Run());
                byte[] got = Read(m, start - 8, bytes + 16);
                for (int i = 0; i < bytes; i++) Assert.Equal((byte)(value >> (8 * (i % size))), got[8 + i]);
                Assert.Equal(new byte[8], got[..8]);
                Assert.Equal(new byte[8], got[(8 + bytes)..]);
                Assert.Equal(df ? start - (ulong)size : start + (ulong)bytes, m.State[Gpr.Rdi]);
                Assert.Equal(0UL, m.State[Gpr.Rcx]);
                Assert.Equal(0UL, m.State[Gpr.Rsi]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepStosq_RunsOffMappedData_FaultsAfterCompletedElements(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.rep.stosq());
        SetRegs(m, 0, DataEnd - 24, 10);
        m.State[Gpr.Rax] = ulong.MaxValue;
        StopReason stop = m.Run();
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(FaultKind.PageNotMapped, stop.Fault!.Value.Kind);
        Assert.Equal(DataEnd, stop.Fault.Value.Address);
        Assert.Equal(7UL, m.State[Gpr.Rcx]);
        Assert.Equal(DataEnd, m.State[Gpr.Rdi]);
        Assert.Equal(Enumerable.Repeat((byte)0xFF, 24).ToArray(), Read(m, DataEnd - 24, 24));
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepStosb_OverwritesFollowingCode_NewCodeRuns(ExecutionMode mode)
    {
        // rep stosb overwrites the ud2 right behind it with NOPs; the decoded block must not survive.
        TestMachine m = Load(mode, a => { a.rep.stosb(); a.ud2(); });
        Assert.True(m.Memory.Protect(Code, 0x1000, PagePermissions.All));
        SetRegs(m, 0, Code + 2, 2);
        m.State[Gpr.Rax] = 0x90;
        AssertHalted(m.Run());
        Assert.Equal(Code + 5, m.State.Rip);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepMovsb_OverwritesCodeRunBefore_NewCodeRuns(ExecutionMode mode)
    {
        // The body first loads 1 into RAX; rep movsb then patches its immediate to 2 and the body runs again.
        TestMachine m = Load(mode, a =>
        {
            Label body = a.CreateLabel(), end = a.CreateLabel();
            a.call(body);      // Code+0, 5 bytes
            a.push(rax);       // Code+5
            a.rep.movsb();     // Code+6
            a.call(body);      // Code+8
            a.jmp(end);        // Code+13, 2 bytes
            a.Label(ref body); // Code+15
            a.push(1);
            a.pop(rax);
            a.ret();
            a.Label(ref end);
        });
        Assert.True(m.Memory.Protect(Code, 0x1000, PagePermissions.All));
        Write(m, Data, [0x6A, 0x02]); // push 2
        SetRegs(m, Data, Code + 15, 2);
        AssertHalted(m.Run());
        Assert.Equal(1UL, m.ReadData64(TestMachine.StackTop - 0x108));
        Assert.Equal(2UL, m.State[Gpr.Rax]);
        Assert.Equal(new byte[] { 0x6A, 0x02 }, Read(m, Code + 15, 2));
    }

    // ---- LODS ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Lods_Sizes_MergeOrZeroExtend(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => { a.lodsb(); a.push(rax); a.lodsw(); a.push(rax); a.lodsd(); a.push(rax); a.lodsq(); });
        Write(m, Data, [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F]);
        SetRegs(m, Data, 0, 0);
        m.State[Gpr.Rax] = 0xFFFF_FFFF_FFFF_FFFF;
        AssertHalted(m.Run());
        ulong top = TestMachine.StackTop - 0x100;
        Assert.Equal(0xFFFF_FFFF_FFFF_FF01UL, m.ReadData64(top - 8));
        Assert.Equal(0xFFFF_FFFF_FFFF_0302UL, m.ReadData64(top - 16));
        Assert.Equal(0x0000_0000_0706_0504UL, m.ReadData64(top - 24));
        Assert.Equal(0x0F0E_0D0C_0B0A_0908UL, m.State[Gpr.Rax]);
        Assert.Equal(Data + 15, m.State[Gpr.Rsi]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepLodsb_LeavesLastElement(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.rep.lodsb());
        Write(m, Data, [1, 2, 3, 4, 5]);
        SetRegs(m, Data + 4, 0, 3, df: true);
        AssertHalted(m.Run());
        Assert.Equal(3UL, m.State[Gpr.Rax] & 0xFF);
        Assert.Equal(Data + 1, m.State[Gpr.Rsi]);
        Assert.Equal(0UL, m.State[Gpr.Rcx]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Xlatb_LooksUpAlInTableAtRbx(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.xlatb());
        byte[] table = Pattern(256, 17);
        Write(m, Data + 0x300, table);
        m.State[Gpr.Rbx] = Data + 0x300;
        m.State[Gpr.Rax] = 0x1234_5678_9ABC_DEF0;
        AssertHalted(m.Run());
        Assert.Equal(0x1234_5678_9ABC_DE00UL | table[0xF0], m.State[Gpr.Rax]);
    }

    // ---- CMPS ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepeCmpsb_StopsAfterFirstDifference(ExecutionMode mode)
    {
        foreach (int at in new[] { 0, 37, 5000 })
        {
            TestMachine m = Load(mode, a => a.repe.cmpsb());
            byte[] x = Pattern(6000, 2), y = (byte[])x.Clone();
            y[at] = (byte)(x[at] + 1); // x < y at the difference: CF=1
            Write(m, Data + 1, x);
            Write(m, Data + 0x8000, y);
            SetRegs(m, Data + 1, Data + 0x8000, 6000);
            AssertHalted(m.Run());
            Assert.Equal((ulong)(6000 - at - 1), m.State[Gpr.Rcx]);
            Assert.Equal(Data + 1 + (ulong)at + 1, m.State[Gpr.Rsi]);
            Assert.Equal(Data + 0x8000 + (ulong)at + 1, m.State[Gpr.Rdi]);
            ulong f = m.State.RFlags;
            Assert.Equal(0UL, f & (ulong)RFlags.ZF);
            Assert.NotEqual(0UL, f & (ulong)RFlags.CF);
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepeCmpsb_AllEqual_RunsOutWithZfSet(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.repe.cmpsb());
        byte[] x = Pattern(5000, 5);
        Write(m, Data, x);
        Write(m, Data + 0x8000, x);
        SetRegs(m, Data, Data + 0x8000, 5000);
        AssertHalted(m.Run());
        Assert.Equal(0UL, m.State[Gpr.Rcx]);
        Assert.Equal(0x202UL | (ulong)(RFlags.ZF | RFlags.PF), m.State.RFlags);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepneCmpsd_StopsAtFirstMatch(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.repne.cmpsd());
        Write(m, Data, [1, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0]);
        Write(m, Data + 0x100, [5, 0, 0, 0, 6, 0, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0]);
        SetRegs(m, Data, Data + 0x100, 4);
        AssertHalted(m.Run());
        Assert.Equal(1UL, m.State[Gpr.Rcx]);
        Assert.Equal(Data + 12, m.State[Gpr.Rsi]);
        Assert.NotEqual(0UL, m.State.RFlags & (ulong)RFlags.ZF);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void Cmpsq_Single_SetsSubtractionFlags(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.cmpsq());
        Write(m, Data, BitConverter.GetBytes(0x8000_0000_0000_0000UL));
        Write(m, Data + 8, BitConverter.GetBytes(1UL));
        SetRegs(m, Data, Data + 8, 0, df: true);
        AssertHalted(m.Run());
        // 0x8000... - 1 = 0x7FFF...: signed overflow, no borrow.
        Assert.Equal(0x202UL | DF | (ulong)(RFlags.OF | RFlags.AF | RFlags.PF), m.State.RFlags);
        Assert.Equal(Data - 8, m.State[Gpr.Rsi]);
        Assert.Equal(Data, m.State[Gpr.Rdi]);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepCmps_CountZero_ChangesNothing(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => { a.repe.cmpsb(); a.repne.scasb(); });
        SetRegs(m, 0x1000, 0x2000, 0); // unmapped pointers: nothing is read either
        m.State.RFlags = 0x202 | (ulong)(RFlags.CF | RFlags.SF);
        AssertHalted(m.Run());
        Assert.Equal(0x202UL | (ulong)(RFlags.CF | RFlags.SF), m.State.RFlags);
        Assert.Equal(0x1000UL, m.State[Gpr.Rsi]);
        Assert.Equal(0x2000UL, m.State[Gpr.Rdi]);
    }

    // ---- SCAS ----

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepneScasb_Strlen_FindsTerminatorAcrossPages(ExecutionMode mode)
    {
        foreach (int length in new[] { 0, 11, 4500 })
        {
            TestMachine m = Load(mode, a => a.repne.scasb());
            byte[] s = new byte[length + 1];
            for (int i = 0; i < length; i++) s[i] = (byte)('a' + i % 26);
            Write(m, Data + 0xF00, s);
            SetRegs(m, 0, Data + 0xF00, ulong.MaxValue);
            m.State[Gpr.Rax] = 0xAB00; // AL = 0
            AssertHalted(m.Run());
            Assert.Equal(ulong.MaxValue - (ulong)length - 1, m.State[Gpr.Rcx]);
            Assert.Equal(Data + 0xF00 + (ulong)length + 1, m.State[Gpr.Rdi]);
            Assert.NotEqual(0UL, m.State.RFlags & (ulong)RFlags.ZF);
        }
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepeScasb_SkipsRunOfAccumulator(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.repe.scasb());
        byte[] s = Enumerable.Repeat((byte)' ', 5000).ToArray();
        s[4321] = (byte)'x';
        Write(m, Data + 0x10, s);
        SetRegs(m, 0, Data + 0x10, 5000);
        m.State[Gpr.Rax] = ' ';
        AssertHalted(m.Run());
        Assert.Equal(Data + 0x10 + 4322, m.State[Gpr.Rdi]);
        Assert.Equal(5000UL - 4322, m.State[Gpr.Rcx]);
        Assert.Equal(0UL, m.State.RFlags & (ulong)RFlags.ZF);
        Assert.NotEqual(0UL, m.State.RFlags & (ulong)RFlags.CF); // ' ' < 'x'
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepneScasw_Backward_FindsWord(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.repne.scasw());
        Write(m, Data, [0x34, 0x12, 0, 0, 0, 0, 0, 0]);
        SetRegs(m, 0, Data + 6, 10, df: true);
        m.State[Gpr.Rax] = 0xFFFF_0000_0000_1234;
        AssertHalted(m.Run());
        Assert.Equal(Data - 2, m.State[Gpr.Rdi]);
        Assert.Equal(6UL, m.State[Gpr.Rcx]);
        Assert.NotEqual(0UL, m.State.RFlags & (ulong)RFlags.ZF);
    }

    [Theory]
    [MemberData(nameof(TestMachine.AllModes), MemberType = typeof(TestMachine))]
    public void RepneScasb_RunsIntoUnmapped_FaultsWithCountOfScannedBytes(ExecutionMode mode)
    {
        TestMachine m = Load(mode, a => a.repne.scasb());
        SetRegs(m, 0, DataEnd - 3, 100);
        m.State[Gpr.Rax] = 0x77; // not present: the scan walks off the mapping
        StopReason stop = m.Run();
        Assert.Equal(StopKind.Faulted, stop.Kind);
        Assert.Equal(DataEnd, stop.Fault!.Value.Address);
        Assert.Equal(97UL, m.State[Gpr.Rcx]);
        Assert.Equal(DataEnd, m.State[Gpr.Rdi]);
        Assert.Equal(Code, m.State.Rip);
    }
}
