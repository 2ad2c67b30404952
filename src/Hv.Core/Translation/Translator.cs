using System.Diagnostics;
using System.Reflection;
using System.Reflection.Emit;
using Hv.Core.Cpu;
using Hv.Core.Decoding;
using Hv.Core.Diagnostics;
using Hv.Core.Execution;
using Hv.Core.Interpretation;
using Iced.Intel;
using FlowControl = Iced.Intel.FlowControl;
using Label = System.Reflection.Emit.Label;

namespace Hv.Core.Translation;

/// <summary>
/// Compiles hot guest code into host delegates. <see cref="Translate"/> reads as the pipeline:
/// grow a region from the hot block → emit IL → let the .NET JIT compile it → hand back a unit that records
/// the blocks it came from.
/// </summary>
/// <remarks>
/// Code generation, first tier: each guest instruction becomes a direct call of its interpreter handler (so
/// the semantics are exactly the interpreter's), with the dispatch loop, block lookup and instruction fetch
/// removed, and branches between the region's blocks turned into IL branches.
/// </remarks>
internal sealed unsafe class Translator
{
    /// <summary>Most blocks in one region.</summary>
    public const int MaxRegionBlocks = 32;
    /// <summary>Most guest instructions in one region.</summary>
    public const int MaxRegionInstructions = 1024;

    private static readonly FieldInfo InstructionStartField = typeof(Vcpu).GetField(nameof(Vcpu.instructionStart), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo StateGetter = typeof(Vcpu).GetProperty(nameof(Vcpu.State))!.GetMethod!;
    private static readonly MethodInfo StatsGetter = typeof(Vcpu).GetProperty(nameof(Vcpu.Stats))!.GetMethod!;
    private static readonly MethodInfo MustLeaveMethod = typeof(Vcpu).GetMethod(nameof(Vcpu.MustLeaveUnit), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo RipField = typeof(CpuState).GetField(nameof(CpuState.Rip))!;
    private static readonly FieldInfo TranslatedField = typeof(HvStats).GetField(nameof(HvStats.TranslatedInstructions))!;
    private static readonly FieldInfo InstructionsField = typeof(TranslatedUnit).GetField(nameof(TranslatedUnit.Instructions), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo InvalidatedField = typeof(TranslatedUnit).GetField(nameof(TranslatedUnit.Invalidated))!;
    private static readonly Type[] HandlerParameters = [typeof(Vcpu), typeof(Instruction).MakeByRefType()];

    private readonly HvStats stats;
    private readonly Func<ulong, DecodedBlock?> blockAt;

    /// <param name="stats">Counters.</param>
    /// <param name="blockAt">Returns the (cached or freshly decoded) block at an address, or null if it cannot be decoded.</param>
    public Translator(HvStats stats, Func<ulong, DecodedBlock?> blockAt)
    {
        this.stats = stats;
        this.blockAt = blockAt;
    }

    /// <summary>Translates the region that starts with <paramref name="entry"/>.</summary>
    public TranslatedUnit Translate(DecodedBlock entry)
    {
        long t0 = Stopwatch.GetTimestamp();
        List<DecodedBlock> region = GrowRegion(entry);
        TranslatedUnit unit = CreateUnit(region);
        unit.Body = Emit(unit);
        stats.BlocksTranslated += region.Count;
        stats.RegionsTranslated++;
        stats.TranslateTicks += Stopwatch.GetTimestamp() - t0;
        return unit;
    }

    /// <summary>Follows direct branches and fall-throughs from the entry block, breadth first, within the limits.</summary>
    private List<DecodedBlock> GrowRegion(DecodedBlock entry)
    {
        var region = new List<DecodedBlock> { entry };
        var seen = new HashSet<ulong> { entry.Start };
        int instructions = entry.Count;
        Span<ulong> successors = stackalloc ulong[2];
        for (int i = 0; i < region.Count && region.Count < MaxRegionBlocks; i++)
        {
            int n = StaticSuccessors(region[i], successors);
            for (int s = 0; s < n; s++)
            {
                if (!seen.Add(successors[s])) continue;
                DecodedBlock? next = blockAt(successors[s]);
                if (next is null || instructions + next.Count > MaxRegionInstructions) continue;
                region.Add(next);
                instructions += next.Count;
                if (region.Count == MaxRegionBlocks) break;
            }
        }
        return region;
    }

    /// <summary>Where control can go after a block without consulting registers or memory.</summary>
    private static int StaticSuccessors(DecodedBlock block, Span<ulong> successors)
    {
        ref readonly Instruction last = ref block.Code[^1];
        switch (last.FlowControl)
        {
            case FlowControl.Next:
                if (last.Mnemonic == Mnemonic.Syscall || !InstructionTable.IsImplemented(in last)) return 0;
                successors[0] = last.NextIP;
                return 1;
            case FlowControl.UnconditionalBranch when last.Op0Kind is OpKind.NearBranch64:
                successors[0] = last.NearBranchTarget;
                return 1;
            case FlowControl.ConditionalBranch when last.Op0Kind is OpKind.NearBranch64:
                successors[0] = last.NearBranchTarget;
                successors[1] = last.NextIP;
                return 2;
            default:
                return 0;
        }
    }

    private static TranslatedUnit CreateUnit(List<DecodedBlock> region)
    {
        int total = 0;
        foreach (DecodedBlock b in region) total += b.Count;
        var instructions = new Instruction[total];
        int at = 0;
        foreach (DecodedBlock b in region)
        {
            b.Code.CopyTo(instructions.AsSpan(at));
            at += b.Count;
        }
        return new TranslatedUnit(region[0].Start, [.. region], instructions);
    }

    private static UnitBody Emit(TranslatedUnit unit)
    {
        var method = new DynamicMethod($"unit_{unit.Start:x}", typeof(void), [typeof(Vcpu), typeof(TranslatedUnit)],
            typeof(Translator).Module, skipVisibility: true);
        ILGenerator il = method.GetILGenerator();
        LocalBuilder state = il.DeclareLocal(typeof(CpuState));
        LocalBuilder stats = il.DeclareLocal(typeof(HvStats));
        LocalBuilder count = il.DeclareLocal(typeof(long));
        Label exit = il.DefineLabel();
        DecodedBlock[] blocks = unit.Blocks;
        var labels = new Label[blocks.Length];
        for (int i = 0; i < labels.Length; i++) labels[i] = il.DefineLabel();

        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Call, StateGetter);
        il.Emit(OpCodes.Stloc, state);
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Call, StatsGetter);
        il.Emit(OpCodes.Stloc, stats);
        il.BeginExceptionBlock();

        int g = 0;
        for (int k = 0; k < blocks.Length; k++)
        {
            il.MarkLabel(labels[k]);
            ReadOnlySpan<Instruction> code = blocks[k].Code;
            for (int i = 0; i < code.Length; i++, g++)
            {
                ref readonly Instruction ins = ref code[i];
                // cpu.instructionStart = ip; state.Rip = nextIp; handler(cpu, ref unit.Instructions[g]); count++
                il.Emit(OpCodes.Ldarg_0);
                il.Emit(OpCodes.Ldc_I8, (long)ins.IP);
                il.Emit(OpCodes.Stfld, InstructionStartField);
                il.Emit(OpCodes.Ldloc, state);
                il.Emit(OpCodes.Ldc_I8, (long)ins.NextIP);
                il.Emit(OpCodes.Stfld, RipField);
                il.Emit(OpCodes.Ldarg_0);
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldfld, InstructionsField);
                il.Emit(OpCodes.Ldc_I4, g);
                il.Emit(OpCodes.Ldelema, typeof(Instruction));
                il.Emit(OpCodes.Ldc_I8, (long)InstructionTable.HandlerFor(in ins));
                il.Emit(OpCodes.Conv_I);
                il.EmitCalli(OpCodes.Calli, System.Reflection.CallingConventions.Standard, typeof(void), HandlerParameters, null);
                il.Emit(OpCodes.Ldloc, count);
                il.Emit(OpCodes.Ldc_I8, 1L);
                il.Emit(OpCodes.Add);
                il.Emit(OpCodes.Stloc, count);
                if (MayWriteMemory(in ins))
                {
                    // A store into this unit's own code: leave right after the storing instruction.
                    il.Emit(OpCodes.Ldarg_1);
                    il.Emit(OpCodes.Ldfld, InvalidatedField);
                    il.Emit(OpCodes.Brtrue, exit);
                }
            }
            EmitBlockExit(il, unit, k, labels, state, exit);
        }
        il.MarkLabel(exit);
        il.BeginFinallyBlock();
        il.Emit(OpCodes.Ldloc, stats);
        il.Emit(OpCodes.Ldloc, stats);
        il.Emit(OpCodes.Ldfld, TranslatedField);
        il.Emit(OpCodes.Ldloc, count);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Stfld, TranslatedField);
        il.EndExceptionBlock();
        il.Emit(OpCodes.Ret);
        return method.CreateDelegate<UnitBody>();
    }

    /// <summary>After block k: branch to a successor inside the region if RIP names one, else leave the unit.</summary>
    private static void EmitBlockExit(ILGenerator il, TranslatedUnit unit, int k, Label[] labels, LocalBuilder state, Label exit)
    {
        DecodedBlock[] blocks = unit.Blocks;
        Span<ulong> successors = stackalloc ulong[2];
        int n = StaticSuccessors(blocks[k], successors);
        for (int s = 0; s < n; s++)
        {
            int target = IndexOf(blocks, successors[s]);
            if (target < 0) continue;
            Label skip = il.DefineLabel();
            il.Emit(OpCodes.Ldloc, state);
            il.Emit(OpCodes.Ldfld, RipField);
            il.Emit(OpCodes.Ldc_I8, (long)successors[s]);
            il.Emit(OpCodes.Bne_Un, skip);
            if (target <= k)
            {
                // A back edge: give the dispatcher a chance to stop (exit requested, instruction budget spent).
                il.Emit(OpCodes.Ldarg_0);
                il.Emit(OpCodes.Call, MustLeaveMethod);
                il.Emit(OpCodes.Brtrue, exit);
            }
            il.Emit(OpCodes.Leave, labels[target]);
            il.MarkLabel(skip);
        }
        il.Emit(OpCodes.Leave, exit);
    }

    private static int IndexOf(DecodedBlock[] blocks, ulong start)
    {
        for (int i = 0; i < blocks.Length; i++) if (blocks[i].Start == start) return i;
        return -1;
    }

    /// <summary>Conservatively: can this instruction store to guest memory (and so hit code)?</summary>
    private static bool MayWriteMemory(in Instruction ins)
    {
        if (ins.Mnemonic is Mnemonic.Syscall or Mnemonic.Push or Mnemonic.Pushfq or Mnemonic.Call or Mnemonic.Enter) return true;
        for (int i = 0; i < ins.OpCount; i++)
        {
            OpKind k = ins.GetOpKind(i);
            if (k is OpKind.Memory or OpKind.MemoryESRDI or OpKind.MemoryESEDI or OpKind.MemoryESDI) return true;
        }
        return false;
    }
}
