using System.Globalization;
using Hv.Core.Cpu;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hv.Core.Smc;

/// <summary>One point of the I-cache SMC sweep: a loop over <paramref name="MLines"/> cache lines of code that
/// rewrites <paramref name="UWrites"/> of them every <paramref name="RPeriod"/> iterations.</summary>
/// <param name="MLines">Cache lines of code the loop executes per iteration (body lines plus the writer's lines).</param>
/// <param name="UWrites">Code writes per period, each into a different body line.</param>
/// <param name="RPeriod">Iterations per period.</param>
public readonly record struct InstructionCacheSweepPoint(int MLines, int UWrites, int RPeriod)
{
    /// <summary>
    /// The analytical SMC-induced miss fraction. Per period of R iterations the loop fetches R·M lines; the U
    /// lines rewritten at the end of the previous period miss once each (they were present: the loop fits in the
    /// cache and touches each line once per iteration, so nothing else ever misses in steady state), and every
    /// other fetch hits. So SMC misses / fetches = U / (R·M).
    /// </summary>
    public double ModelSmcMissFraction => (double)UWrites / ((double)RPeriod * MLines);
}

/// <summary>Counter deltas measured over the steady-state periods of one sweep point.</summary>
/// <param name="Point">The loop's parameters.</param>
/// <param name="Iterations">Loop iterations measured (R times the number of periods).</param>
/// <param name="Fetches">I-cache line fetches in those iterations.</param>
/// <param name="Misses">I-cache misses in those iterations.</param>
/// <param name="SmcMisses">Misses caused by SMC invalidation in those iterations.</param>
public readonly record struct InstructionCacheSweepResult(InstructionCacheSweepPoint Point, long Iterations, long Fetches, long Misses, long SmcMisses)
{
    /// <summary>SMC misses per line fetch, as measured.</summary>
    public double MeasuredSmcMissFraction => Fetches == 0 ? 0 : (double)SmcMisses / Fetches;

    /// <summary>The CSV header read by <c>hv smc-report --plot</c>.</summary>
    public const string CsvHeader =
        "m_lines,u_writes,r_period,iterations,fetches,misses,smc_misses,measured_smc_miss_fraction,model_smc_miss_fraction";

    /// <summary>This result as one CSV row matching <see cref="CsvHeader"/>.</summary>
    public string ToCsvRow() => string.Create(CultureInfo.InvariantCulture,
        $"{Point.MLines},{Point.UWrites},{Point.RPeriod},{Iterations},{Fetches},{Misses},{SmcMisses},{MeasuredSmcMissFraction:R},{Point.ModelSmcMissFraction:R}");
}

/// <summary>
/// The analytical-model workload for the simulated I-cache: builds a guest loop on a bare machine and measures
/// the SMC-induced miss fraction from the I-cache counters.
/// <para>
/// Layout (so that every line is fetched exactly once per iteration in every execution mode): each body line
/// is one block <c>mov edx, imm32; mov rax, next; jmp rax</c> on a page of its own (spread over the sets by its
/// page offset); the writer block, on its own page, advances a period counter without branches
/// (<c>r9</c> counts iterations, <c>r10</c> periods; <c>r13</c> holds the base address) and stores the low
/// byte of <c>r10</c> into the imm32 of body lines 0..U-1, then <c>jmp r12</c> back to line 0. The stores change bytes only when r10 changes, i.e.
/// every R iterations; an unchanged store is not a code change. Indirect jumps end every block and every
/// translated unit, so each unit entry is exactly one block's lines and the per-unit-entry feed of translated
/// code matches the interpreter's per-block feed. One page per body line means every code write lands on a
/// page still write-protected for code, whatever the invalidation granularity.
/// </para>
/// </summary>
public static class InstructionCacheSweep
{
    private const ulong Base = 0x7000_0000_0000;
    private const int PageSize = PhysicalPage.Size;

    /// <summary>
    /// Runs one point: one warm-up period (compulsory misses, first writes), then <paramref name="periods"/>
    /// measured periods, stopped exactly at iteration boundaries by the instruction budget.
    /// </summary>
    public static InstructionCacheSweepResult Run(InstructionCacheSweepPoint point, int periods, ExecutionMode mode,
        InstructionCacheGeometry? geometry = null)
    {
        InstructionCacheGeometry g = geometry ?? InstructionCacheGeometry.Default;
        if (g.LineBytes is < 32 or > PageSize) throw new ArgumentException("the sweep needs lines of 32 to 4096 bytes", nameof(geometry));
        if (point.RPeriod < 1 || point.UWrites < 1 || periods < 1) throw new ArgumentException("R, U and periods must be at least 1", nameof(point));
        int line = g.LineBytes;
        int writerLines = (WriterBytes(point) + line - 1) / line;
        int bodyLines = point.MLines - writerLines;
        if (bodyLines < point.UWrites) throw new ArgumentException($"M = {point.MLines} leaves {bodyLines} body lines for {point.UWrites} writes", nameof(point));

        var machine = Machine.Create(HvOptions.Default with { Mode = mode, InstructionCache = g });
        AddressSpace space = machine.AddressSpace;
        space.Map(Base, (ulong)(bodyLines + 1) * PageSize, PagePermissions.All, "icache-sweep");
        ulong Body(int k) => Base + (ulong)k * PageSize + (ulong)(k * line % PageSize);
        ulong writer = Base + (ulong)bodyLines * PageSize + (ulong)(bodyLines * line % PageSize);
        if (writer % PageSize + (ulong)(writerLines * line) > PageSize) writer -= writer % PageSize;

        for (int k = 0; k < bodyLines; k++)
        {
            ulong next = k + 1 < bodyLines ? Body(k + 1) : writer;
            Place(space, Body(k), a =>
            {
                a.mov(edx, 0u);
                a.mov(rax, next);
                a.jmp(rax);
            });
        }
        Place(space, writer, a => EmitWriter(a, point, k => Body(k) + 1)); // +1: the imm32 of BA id

        var cpu = machine.Cpu;
        cpu.State[Gpr.R12] = Body(0);
        cpu.State[Gpr.R13] = Base;
        cpu.State.Rip = Body(0);
        long perIteration = 3L * bodyLines + 7 + point.UWrites;
        InstructionCacheModel ic = cpu.InstructionCache!;
        RunExactly(machine, perIteration * point.RPeriod);
        (long f0, long m0, long s0) = (ic.Fetches, ic.Misses, ic.SmcMisses);
        long iterations = (long)point.RPeriod * periods;
        RunExactly(machine, perIteration * iterations);
        return new InstructionCacheSweepResult(point, iterations, ic.Fetches - f0, ic.Misses - m0, ic.SmcMisses - s0);
    }

    /// <summary>Runs every point in <paramref name="points"/> and writes the CSV (header first) to <paramref name="output"/>.</summary>
    public static void WriteCsv(TextWriter output, IEnumerable<InstructionCacheSweepPoint> points, int periods, ExecutionMode mode)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(points);
        output.Write(InstructionCacheSweepResult.CsvHeader + "\n");
        foreach (InstructionCacheSweepPoint p in points) output.Write(Run(p, periods, mode).ToCsvRow() + "\n");
    }

    private static void RunExactly(Machine machine, long instructions)
    {
        StopReason stop = machine.Run(instructions);
        if (stop.Kind != StopKind.InstructionLimit)
            throw new InvalidOperationException($"sweep loop stopped unexpectedly: {stop.Kind} {stop.Message}");
    }

    private static void EmitWriter(Assembler a, InstructionCacheSweepPoint point, Func<int, ulong> target)
    {
        a.inc(r9);
        a.xor(eax, eax);
        a.cmp(r9, point.RPeriod);
        a.sete(al);
        a.cmove(r9, r11); // r11 stays 0: restart the period
        a.add(r10, rax);  // one more period
        for (int k = 0; k < point.UWrites; k++) a.mov(__byte_ptr[r13 + (long)(target(k) - Base)], r10b);
        a.jmp(r12);
    }

    private static int WriterBytes(InstructionCacheSweepPoint point) =>
        Assemble(Base, a => EmitWriter(a, point, k => Base + (ulong)k * PageSize)).Length;

    private static void Place(AddressSpace space, ulong address, Action<Assembler> build)
    {
        if (!space.TryWrite(address, Assemble(address, build), checkPermissions: false))
            throw new InvalidOperationException("sweep code outside its mapping");
    }

    private static byte[] Assemble(ulong address, Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        using var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), address);
        return stream.ToArray();
    }
}
