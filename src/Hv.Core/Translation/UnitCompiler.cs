using System.Diagnostics;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Hv.Core.Cpu;
using Hv.Core.Decoding;
using Hv.Core.Diagnostics;
using Hv.Core.Execution;
using Hv.Core.Interpretation;
using Hv.Core.Memory;
using Iced.Intel;
using FlowControl = Iced.Intel.FlowControl;
using Label = System.Reflection.Emit.Label;

namespace Hv.Core.Translation;

/// <summary>
/// Emits the IL of one translated unit. Guest registers used by the unit live in IL locals (the JIT keeps them
/// in host registers); common integer instructions are emitted inline with their memory accesses going through
/// the soft-TLB fast path; everything else calls its interpreter handler with the registers spilled around the
/// call. Flags stay lazy: an inline instruction records them only if a later reader, exit or possible fault
/// can see them, and a compare followed by a conditional branch becomes one host compare.
/// </summary>
/// <remarks>
/// No exception handling region surrounds the body, so the JIT keeps guest registers in host registers.
/// Inline memory accesses use the non-throwing <see cref="GuestMemory.TryRead{T}"/> forms; a failed access
/// branches to an out-of-line stub that writes the registers back, records the instruction count and RIP, and
/// raises the fault. Inline code performs every access before it changes a register, so that state is exactly
/// the state before the faulting instruction. Fallback handlers see spilled registers and may throw directly.
/// </remarks>
internal sealed unsafe class UnitCompiler
{
    private static readonly FieldInfo InstructionStartField = typeof(Vcpu).GetField(nameof(Vcpu.instructionStart), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo VcpuStateField = typeof(Vcpu).GetField(nameof(Vcpu.state), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo VcpuStatsField = typeof(Vcpu).GetField(nameof(Vcpu.stats), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo VcpuMemoryField = typeof(Vcpu).GetField(nameof(Vcpu.memory), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo TranslatedLimitField = typeof(Vcpu).GetField(nameof(Vcpu.translatedLimit), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo RipField = typeof(CpuState).GetField(nameof(CpuState.Rip))!;
    private static readonly FieldInfo GprField = typeof(CpuState).GetField(nameof(CpuState.Gpr))!;
    private static readonly FieldInfo FsBaseField = typeof(CpuState).GetField(nameof(CpuState.FsBase))!;
    private static readonly FieldInfo GsBaseField = typeof(CpuState).GetField(nameof(CpuState.GsBase))!;
    private static readonly FieldInfo TranslatedField = typeof(HvStats).GetField(nameof(HvStats.TranslatedInstructions))!;
    private static readonly FieldInfo InstructionsField = typeof(TranslatedUnit).GetField(nameof(TranslatedUnit.Instructions), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo BlocksField = typeof(TranslatedUnit).GetField(nameof(TranslatedUnit.Blocks), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo PageOfMethod = typeof(DecodedBlock).GetMethod(nameof(DecodedBlock.PageOf), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo PageDataField = typeof(PhysicalPage).GetField(nameof(PhysicalPage.Data))!;
    private static readonly FieldInfo InvalidatedField = typeof(TranslatedUnit).GetField(nameof(TranslatedUnit.Invalidated))!;
    private static readonly MethodInfo CallTranslatedMethod = typeof(Vcpu).GetMethod(nameof(Vcpu.CallTranslated), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo RotateLeft32Method = typeof(System.Numerics.BitOperations).GetMethod(nameof(System.Numerics.BitOperations.RotateLeft), [typeof(uint), typeof(int)])!;
    private static readonly MethodInfo RotateLeft64Method = typeof(System.Numerics.BitOperations).GetMethod(nameof(System.Numerics.BitOperations.RotateLeft), [typeof(ulong), typeof(int)])!;
    private static readonly MethodInfo CallIndirectMethod = typeof(Vcpu).GetMethod(nameof(Vcpu.CallIndirect), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo FollowToReturnMethod = typeof(Vcpu).GetMethod(nameof(Vcpu.FollowToReturn), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo RunHandlerMethod = typeof(UnitCompiler).GetMethod(nameof(RunHandler), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo ConditionMethod = typeof(Flags).GetMethod(nameof(Flags.Condition))!;
    private static readonly FieldInfo FlagOpField = LazyFlagField(nameof(CpuState.FlagOp));
    private static readonly FieldInfo FlagSrc1Field = LazyFlagField(nameof(CpuState.FlagSrc1));
    private static readonly FieldInfo FlagSrc2Field = LazyFlagField(nameof(CpuState.FlagSrc2));
    private static readonly FieldInfo FlagResultField = LazyFlagField(nameof(CpuState.FlagResult));
    private static readonly FieldInfo FlagSizeField = LazyFlagField(nameof(CpuState.FlagSize));

    private static FieldInfo LazyFlagField(string name) => typeof(CpuState).GetField(name, BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo SetIncDecMethod = typeof(Flags).GetMethod(nameof(Flags.SetIncDec))!;
    private static readonly MethodInfo SetIncDecWithCarryMethod = typeof(Flags).GetMethod(nameof(Flags.SetIncDecWithCarry))!;
    private static readonly MethodInfo TryRead8 = typeof(UnitCompiler).GetMethod(nameof(MissRead8), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo TryRead16 = typeof(UnitCompiler).GetMethod(nameof(MissRead16), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo TryRead32 = typeof(UnitCompiler).GetMethod(nameof(MissRead32), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo TryRead64 = typeof(UnitCompiler).GetMethod(nameof(MissRead64), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo TryRead128 = typeof(UnitCompiler).GetMethod(nameof(MissRead128), BindingFlags.Static | BindingFlags.NonPublic)!;
    // A store that missed the inline TLB probe goes straight to the memory's slow path (one call, no second probe):
    // that is where stores beside code, SMC, watchpoints and faults are sorted out.
    // Indexed by log2 of the access size (1, 2, 4, 8 and 16 bytes).
    private static readonly MethodInfo[] MissWrites = Helpers(nameof(MissWrite8), nameof(MissWrite16), nameof(MissWrite32), nameof(MissWrite64), nameof(MissWrite128));

    // A store with no inline probe (baseline units outside loops): probe and, on a miss, the slow path, in one call.
    private static readonly MethodInfo[] OutOfLineWrites =
        Helpers(nameof(WriteOutOfLine8), nameof(WriteOutOfLine16), nameof(WriteOutOfLine32), nameof(WriteOutOfLine64), nameof(WriteOutOfLine128));

    private static MethodInfo[] Helpers(params string[] names) =>
        Array.ConvertAll(names, name => typeof(UnitCompiler).GetMethod(name, BindingFlags.Static | BindingFlags.NonPublic)!);

    // Per size rather than generic: a call to a generic method instantiation costs the JIT a method-spec lookup per
    // call site, and unit compiles are mostly JIT time (a block of 24 stores and loads compiled 12% faster).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool MissWrite8(GuestMemory m, ulong a, byte v) => m.TryWriteSlow(a, v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool MissWrite16(GuestMemory m, ulong a, ushort v) => m.TryWriteSlow(a, v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool MissWrite32(GuestMemory m, ulong a, uint v) => m.TryWriteSlow(a, v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool MissWrite64(GuestMemory m, ulong a, ulong v) => m.TryWriteSlow(a, v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool MissWrite128(GuestMemory m, ulong a, Vector128<byte> v) => m.TryWriteSlow(a, v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool WriteOutOfLine8(GuestMemory m, ulong a, byte v) => m.TryWrite(a, v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool WriteOutOfLine16(GuestMemory m, ulong a, ushort v) => m.TryWrite(a, v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool WriteOutOfLine32(GuestMemory m, ulong a, uint v) => m.TryWrite(a, v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool WriteOutOfLine64(GuestMemory m, ulong a, ulong v) => m.TryWrite(a, v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool WriteOutOfLine128(GuestMemory m, ulong a, Vector128<byte> v) => m.TryWrite(a, v);

    private static readonly MethodInfo ReverseUInt32 = typeof(System.Buffers.Binary.BinaryPrimitives).GetMethod(nameof(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness), [typeof(uint)])!;
    private static readonly MethodInfo ReverseUInt64 = typeof(System.Buffers.Binary.BinaryPrimitives).GetMethod(nameof(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness), [typeof(ulong)])!;
    private static readonly MethodInfo CheckBranchTargetMethod = typeof(ControlInstructions).GetMethod(nameof(ControlInstructions.CheckBranchTarget), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo SetStatusMethod = typeof(Flags).GetMethod(nameof(Flags.SetStatus))!;
    private static readonly MethodInfo UpdateFlagsMethod = typeof(Flags).GetMethod(nameof(Flags.Update))!;
    private static readonly MethodInfo ImulCoreMethod = typeof(IntegerInstructions).GetMethod(nameof(IntegerInstructions.ImulCore), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo ShlCoreMethod = typeof(IntegerInstructions).GetMethod(nameof(IntegerInstructions.ShlCore), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo ShrCoreMethod = typeof(IntegerInstructions).GetMethod(nameof(IntegerInstructions.ShrCore), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo SarCoreMethod = typeof(IntegerInstructions).GetMethod(nameof(IntegerInstructions.SarCore), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo RotateCoreMethod = typeof(IntegerInstructions).GetMethod(nameof(IntegerInstructions.RotateCore), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly FieldInfo TlbVpnField = typeof(TlbEntry).GetField(nameof(TlbEntry.Vpn))!;
    private static readonly FieldInfo TlbDataField = typeof(TlbEntry).GetField(nameof(TlbEntry.Data))!;
    private static readonly FieldInfo VcpuReadTlbField = typeof(Vcpu).GetField(nameof(Vcpu.readTlb), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo VcpuWriteTlbField = typeof(Vcpu).GetField(nameof(Vcpu.writeTlb), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo ArrayDataMethod = typeof(System.Runtime.InteropServices.MemoryMarshal)
        .GetMethod(nameof(System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference), 1, [Type.MakeGenericMethodParameter(0).MakeArrayType()])!
        .MakeGenericMethod(typeof(byte));
    private static readonly MethodInfo TlbDataMethod = typeof(System.Runtime.InteropServices.MemoryMarshal)
        .GetMethod(nameof(System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference), 1, [Type.MakeGenericMethodParameter(0).MakeArrayType()])!
        .MakeGenericMethod(typeof(TlbEntry));
    private static readonly MethodInfo Log2Method = typeof(System.Numerics.BitOperations).GetMethod(nameof(System.Numerics.BitOperations.Log2), [typeof(ulong)])!;
    private static readonly MethodInfo TrailingZeroMethod = typeof(System.Numerics.BitOperations).GetMethod(nameof(System.Numerics.BitOperations.TrailingZeroCount), [typeof(ulong)])!;
    private static readonly MethodInfo BigMulMethod = typeof(Math).GetMethod(nameof(Math.BigMul), [typeof(ulong), typeof(ulong), typeof(ulong).MakeByRefType()])!;
    private static readonly MethodInfo SzpFlagsMethod = typeof(IntegerInstructions).GetMethod(nameof(IntegerInstructions.SzpFlags), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo ThrowPendingFaultMethod = typeof(GuestMemory).GetMethod(nameof(GuestMemory.ThrowPendingFault))!;
    private static readonly MethodInfo AtFaultSiteMethod = typeof(UnitCompiler).GetMethod(nameof(AtFaultSite), BindingFlags.Static | BindingFlags.NonPublic)!;
    private static readonly MethodInfo AtInvalidationSiteMethod = typeof(UnitCompiler).GetMethod(nameof(AtInvalidationSite), BindingFlags.Static | BindingFlags.NonPublic)!;

    /// <summary>log2 of sizeof(TlbEntry) (a page number and an array reference).</summary>
    private const int EntryShift = 4;

    private const RflagsBits StatusFlags = RflagsBits.OF | RflagsBits.SF | RflagsBits.ZF | RflagsBits.AF | RflagsBits.CF | RflagsBits.PF;

    private readonly TranslatedUnit unit;
    private readonly ILGenerator il;
    private readonly LocalBuilder tlbRead, tlbWrite, tlbEntry, tlbAddress, tlbValue;
    private readonly LocalBuilder gprs;
    private readonly LocalBuilder state, stats, memory, address, tmpA, tmpB, tmpR, source, carry, load8, load16, load32, load64, flagBits, shiftCount;
    /// <summary>A 16-byte access's value, and its slow path's out parameter (declared by the first such access).</summary>
    private LocalBuilder? vectorValue, vectorMiss;
    /// <summary>Stubs that leave the unit from the middle of a block: the site they record, and their kind.</summary>
    private readonly List<(Label Stub, UnitExitSite Site, (FlagOp Op, int Size)? Flags, bool Fault)> exitStubs = [];
    private ulong currentIp;

    /// <summary>Instructions completed on the current straight-line path and not yet added to the counters.</summary>
    private int pending;
    private readonly LocalBuilder?[] regs = new LocalBuilder?[16];

    /// <summary>The unit's XMM registers (as <see cref="Xmm"/>), like <see cref="regs"/> for the GPRs.</summary>
    private readonly LocalBuilder?[] xmms = new LocalBuilder?[16];

    // Register masks (spills, reloads, written): bit i is GPR i, bit XmmBit + j is XMM j.
    private const int XmmBit = 16;
    private const uint AllXmms = 0xFFFF_0000, AllRegisters = 0xFFFF_FFFF;
    private static readonly Type Xmm = typeof(Vector128<byte>);
    private readonly Label exit;

    /// <summary>The epilogue after the registers' write-back: for paths whose registers are in the state already.</summary>
    private readonly Label leave;
    private readonly InstructionInfoFactory infoFactory = new();
    private readonly SimdEmitter simd;
    private readonly FloatEmitter fp;

    /// <summary>
    /// The current block is baseline code outside a loop (see <see cref="TranslatedUnit.Baseline"/>): its memory
    /// accesses skip the inline TLB probe and call the lookup out of line, and SSE arithmetic calls its handler.
    /// </summary>
    private bool accessesOutOfLine;

    /// <inheritdoc cref="accessesOutOfLine"/>
    internal bool ColdBaseline => accessesOutOfLine;

    /// <summary>Call sites numbered so far (indexes into <see cref="TranslatedUnit.CallTargets"/>).</summary>
    private int callSites;

    /// <summary>The indirect call sites (site number, block closed by the call), for <see cref="TranslatedUnit.CallSiteBlocks"/>.</summary>
    private readonly List<(int Site, int Block)> indirectCallSites = [];

    /// <summary>Index of the current instruction in <see cref="TranslatedUnit.Instructions"/>.</summary>
    private int currentIndex;
    private readonly Label[] blockLabels;

    /// <summary>What the previous inline instruction computed for its flags, for a fused condition.</summary>
    private (FlagOp Op, int Size)? fused;

    /// <summary>
    /// An inline ADD/SUB/logic producer whose flags only a fault could see before the next full flag writer
    /// (<see cref="FlagsSeenOnlyByFaults"/>): not recorded yet; its operands stay in tmpA/tmpB/tmpR, and fault
    /// stubs, a self-modification exit or anything else that needs the flags records them from there.
    /// <see cref="RotateDeferred"/> is a ROL/ROR whose CF/OF bits wait in flagBits (the state holds the rest).
    /// </summary>
    private (FlagOp Op, int Size)? deferred;

    /// <summary>
    /// The <see cref="fused"/> value after an inline BT/BTS/BTR/BTC: CF is bit shiftCount of tmpA (the operand's old
    /// value); the other flags come from the state.
    /// </summary>
    private static readonly (FlagOp Op, int Size) BitTestFused = (FlagOp.None, -1);

    /// <summary>The <see cref="deferred"/> value of a rotate: FlagOp.None, as its bits are eager.</summary>
    private static readonly (FlagOp Op, int Size) RotateDeferred = (FlagOp.None, 0);

    /// <summary>For a baseline unit, per block: can it run more than once per entry (<see cref="BlocksInLoops"/>)?</summary>
    private readonly bool[]? inLoop;

    /// <summary>A baseline unit none of whose blocks is in a loop: every memory access goes out of line.</summary>
    private readonly bool straightLineBaseline;

    /// <summary>Per instruction of the unit: may its flags be deferred (see <see cref="deferred"/>)?</summary>
    private readonly bool[] deferrable;

    internal ILGenerator IL => il;
    internal LocalBuilder StateLocal => state;
    internal LocalBuilder MemoryLocal => memory;
    internal LocalBuilder AddressLocal => address;

    /// <param name="unit">The unit to compile.</param>
    /// <param name="generator">
    /// Gives the IL generator, told whether the unit is a baseline unit without loops (<see cref="straightLineBaseline"/>).
    /// </param>
    private UnitCompiler(TranslatedUnit unit, Func<bool, ILGenerator> generator)
    {
        this.unit = unit;
        inLoop = unit.Baseline ? BlocksInLoops() : null;
        straightLineBaseline = inLoop is not null && Array.IndexOf(inLoop, true) < 0;
        il = generator(straightLineBaseline);
        state = il.DeclareLocal(typeof(CpuState));
        gprs = il.DeclareLocal(typeof(ulong).MakeByRefType());
        stats = il.DeclareLocal(typeof(HvStats));
        memory = il.DeclareLocal(typeof(GuestMemory));
        carry = il.DeclareLocal(typeof(bool));
        source = il.DeclareLocal(typeof(ulong));
        load8 = il.DeclareLocal(typeof(byte));
        load16 = il.DeclareLocal(typeof(ushort));
        load32 = il.DeclareLocal(typeof(uint));
        load64 = il.DeclareLocal(typeof(ulong));
        address = il.DeclareLocal(typeof(ulong));
        tmpA = il.DeclareLocal(typeof(ulong));
        tmpB = il.DeclareLocal(typeof(ulong));
        tmpR = il.DeclareLocal(typeof(ulong));
        flagBits = il.DeclareLocal(typeof(ulong));
        tlbRead = il.DeclareLocal(typeof(TlbEntry[]));
        tlbWrite = il.DeclareLocal(typeof(TlbEntry[]));
        tlbEntry = il.DeclareLocal(typeof(TlbEntry).MakeByRefType());
        tlbAddress = il.DeclareLocal(typeof(ulong));
        tlbValue = il.DeclareLocal(typeof(ulong));
        shiftCount = il.DeclareLocal(typeof(int));
        exit = il.DefineLabel();
        leave = il.DefineLabel();
        simd = new SimdEmitter(this);
        fp = new FloatEmitter(this, simd);
        blockLabels = new Label[unit.Blocks.Length];
        for (int i = 0; i < blockLabels.Length; i++) blockLabels[i] = il.DefineLabel();
        deferrable = new bool[unit.Instructions.Length];
        var deadAtStart = new bool[unit.Blocks.Length];
        for (int k = 0; k < unit.Blocks.Length; k++) deadAtStart[k] = FlagsDeadAtStart(unit.BlockCode(k));
        for (int k = 0, g = 0; k < unit.Blocks.Length; k++)
        {
            ReadOnlySpan<Instruction> code = unit.BlockCode(k);
            for (int i = 0; i < code.Length; i++, g++)
                deferrable[g] = FlagsSeenOnlyByFaults(code, i) || FlagsSeenOnlyWhereTheUnitLeaves(code, i, deadAtStart);
        }
    }

    /// <summary>
    /// Compiles <paramref name="unit"/> into its body delegate, JIT-compiled now. The method takes (unit, cpu) and
    /// the delegate is closed over the unit: invoking it passes its arguments straight through (an open static
    /// delegate would go through a shuffle thunk on every unit entry). A baseline unit without a loop goes to
    /// <paramref name="baselines"/> (MinOpts: it runs briefly per entry, until regrown if it gets hot); any other
    /// is a DynamicMethod, which the JIT optimizes in full (a loop in MinOpts code could run long before the
    /// regrown unit replaces it: busybox gzip in translate mode took 3.9 s instead of 3.3).
    /// </summary>
    public static UnitBody Compile(TranslatedUnit unit, BaselineAssemblies? baselines)
    {
        string name = $"unit_{unit.Start:x}";
        DynamicMethod? method = null;
        BaselineMethod? minOpts = null;
        new UnitCompiler(unit, straightLine =>
        {
            if (straightLine && baselines is not null) return (minOpts = baselines.Define(name)).Value.IL;
            method = new DynamicMethod(name, typeof(void), [typeof(TranslatedUnit), typeof(Vcpu)], typeof(UnitCompiler).Module, skipVisibility: true);
            return method.GetILGenerator();
        }).EmitUnit();
        if (minOpts is { } baseline) return baseline.Complete(unit);
        var body = (UnitBody)method!.CreateDelegate(typeof(UnitBody), unit);
        JitNow(method);
        return body;
    }

    private static readonly MethodInfo? DynamicMethodDescriptor =
        typeof(DynamicMethod).GetMethod("GetMethodDescriptor", BindingFlags.Instance | BindingFlags.NonPublic, Type.EmptyTypes);

    /// <summary>
    /// A DynamicMethod is JIT-compiled on its first call; that is ~0.5 ms, and it should be paid here (on the
    /// translating thread, inside translate_time_ms), not by the vCPU on first entry. The runtime has no public
    /// way to do that for dynamic methods, so this asks for the method handle the runtime keeps internally; if a
    /// future runtime lacks it, the JIT simply happens on first call as before.
    /// </summary>
    private static void JitNow(DynamicMethod method)
    {
        if (DynamicMethodDescriptor is null) return;
        try
        {
            if (DynamicMethodDescriptor.Invoke(method, null) is RuntimeMethodHandle handle) RuntimeHelpers.PrepareMethod(handle);
        }
        catch (TargetInvocationException)
        {
            // Not supported by this runtime: the first call compiles it.
        }
        catch (NotSupportedException)
        {
        }
    }

    /// <summary>Pushes the vCPU (the method's second argument).</summary>
    private void LoadCpu() => il.Emit(OpCodes.Ldarg_1);

    /// <summary>Pushes the unit being run (the method's first argument, bound by the delegate).</summary>
    private void LoadUnit() => il.Emit(OpCodes.Ldarg_0);

    /// <summary>Prologue: <paramref name="local"/> = the vCPU's <paramref name="field"/>.</summary>
    private void LoadFromCpu(FieldInfo field, LocalBuilder local)
    {
        LoadCpu();
        il.Emit(OpCodes.Ldfld, field);
        il.Emit(OpCodes.Stloc, local);
    }

    private void EmitUnit()
    {
        AllocateRegisters();
        LoadFromCpu(VcpuStateField, state);
        LoadFromCpu(VcpuStatsField, stats);
        LoadFromCpu(VcpuMemoryField, memory);
        if (!straightLineBaseline)
        {
            // The TLB arrays never change for a GuestMemory: hits need no call. (A baseline unit without loops
            // probes the TLB out of line only.)
            LoadFromCpu(VcpuReadTlbField, tlbRead);
            LoadFromCpu(VcpuWriteTlbField, tlbWrite);
        }
        simd.EmitPrologue();
        EmitRegisterFileAddress();
        LoadRegisters();

        int g = 0;
        for (int k = 0; k < unit.Blocks.Length; k++)
        {
            il.MarkLabel(blockLabels[k]);
            Debug.Assert(deferred is null, "deferred flags end with their block");
            accessesOutOfLine = inLoop is not null && !inLoop[k];
            fused = null;
            pending = 0;
            ReadOnlySpan<Instruction> code = unit.BlockCode(k);
            for (int i = 0; i < code.Length; i++, g++)
            {
                ref readonly Instruction ins = ref code[i];
                currentIp = ins.IP;
                currentIndex = g;
                bool last = i == code.Length - 1;
                bool flagsLive = FlagsLiveAfter(code, i);
                if (last && TryEmitTerminator(in ins, k)) continue;
                bool inlined = TryEmitInline(in ins, flagsLive);
                if (!inlined) EmitFallback(in ins);
                pending++;
                if (MayWriteMemory(in ins)) EmitInvalidationCheck(in ins);
                if (last) EmitBlockEnd(k, in ins, inlined);
            }
        }
        il.MarkLabel(exit);
        StoreRegisters();
        il.MarkLabel(leave);
        il.Emit(OpCodes.Ret);
        EmitExitStubs();
        if (callSites > 0)
        {
            unit.CallTargets = new TranslatedUnit?[callSites];
            unit.CallSiteBlocks = new DecodedBlock?[callSites];
            foreach ((int site, int block) in indirectCallSites) unit.CallSiteBlocks[site] = unit.Blocks[block];
        }
    }

    /// <summary>
    /// One stub per inline memory access (a fault) and per store that may hit this unit's own code (an
    /// invalidation exit). A stub records deferred flags if it must, and hands its site number to a shared tail:
    /// a fault publishes the count, RIP and registers as they were before the faulting instruction and raises the
    /// fault the access recorded; an invalidation exit publishes those after the store and leaves. The sites live
    /// in <see cref="TranslatedUnit.ExitSites"/>, read only on these cold paths: each stub is a few IL bytes.
    /// </summary>
    private void EmitExitStubs()
    {
        if (exitStubs.Count == 0) return;
        Label fault = il.DefineLabel(), invalidated = il.DefineLabel();
        bool anyFault = false, anyInvalidation = false;
        var sites = new UnitExitSite[exitStubs.Count];
        for (int i = 0; i < sites.Length; i++)
        {
            var (stub, site, flags, isFault) = exitStubs[i];
            sites[i] = site;
            il.MarkLabel(stub);
            // Flags a producer before this access left unrecorded (tmpA/tmpB/tmpR still hold its operands).
            if (flags is { } f) EmitDeferredFlags(f);
            il.Emit(OpCodes.Ldc_I4, i);
            il.Emit(OpCodes.Br, isFault ? fault : invalidated);
            anyFault |= isFault;
            anyInvalidation |= !isFault;
        }
        unit.ExitSites = sites;
        LocalBuilder index = il.DeclareLocal(typeof(int));
        void Tail(Label tail, MethodInfo atSite) // [site] → atSite(cpu, unit, site)
        {
            il.MarkLabel(tail);
            il.Emit(OpCodes.Stloc, index);
            LoadCpu();
            LoadUnit();
            il.Emit(OpCodes.Ldloc, index);
            il.Emit(OpCodes.Call, atSite);
        }
        if (anyFault)
        {
            Tail(fault, AtFaultSiteMethod);
            StoreRegisters();
            il.Emit(OpCodes.Ldloc, memory);
            il.Emit(OpCodes.Call, ThrowPendingFaultMethod);
            il.Emit(OpCodes.Ret);
        }
        if (anyInvalidation)
        {
            Tail(invalidated, AtInvalidationSiteMethod);
            il.Emit(OpCodes.Br, exit);
        }
    }

    /// <summary>A label to branch to when the current instruction's memory access fails.</summary>
    internal Label FaultStub()
    {
        Label stub = il.DefineLabel();
        exitStubs.Add((stub, new UnitExitSite(currentIp, pending), deferred, Fault: true));
        return stub;
    }

    /// <summary>A fault stub's tail: the completed instructions counted, the faulting one's address published.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AtFaultSite(Vcpu cpu, TranslatedUnit unit, int site) => cpu.instructionStart = CountSite(cpu, unit, site);

    /// <summary>An invalidation exit's tail: the completed instructions counted, RIP set after the store (0: set already).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AtInvalidationSite(Vcpu cpu, TranslatedUnit unit, int site)
    {
        ulong rip = CountSite(cpu, unit, site);
        if (rip != 0) cpu.State.Rip = rip;
    }

    /// <summary>Counts exit site <paramref name="site"/>'s completed instructions; returns its address.</summary>
    private static ulong CountSite(Vcpu cpu, TranslatedUnit unit, int site)
    {
        UnitExitSite s = unit.ExitSites![site];
        cpu.stats.TranslatedInstructions += s.Completed;
        return s.Ip;
    }

    // ---------------------------------------------------------------- registers

    private void AllocateRegisters()
    {
        foreach (Instruction ins in unit.Instructions)
        {
            written |= RegisterUse(in ins).Reload;
            for (int op = 0; op < ins.OpCount; op++)
                if (ins.GetOpKind(op) == OpKind.Register) Use(ins.GetOpRegister(op));
            Use(ins.MemoryBase);
            Use(ins.MemoryIndex);
            if (ins.Mnemonic is Mnemonic.Push or Mnemonic.Pop or Mnemonic.Call or Mnemonic.Ret) Use(Register.RSP);
            if (ins.Mnemonic is Mnemonic.Cdqe or Mnemonic.Cwde or Mnemonic.Cdq or Mnemonic.Cqo or Mnemonic.Div or Mnemonic.Idiv or Mnemonic.Mul)
            {
                Use(Register.RAX);
                Use(Register.RDX);
            }
        }
    }

    private void Use(Register r)
    {
        if (r is >= Register.XMM0 and <= Register.XMM15)
        {
            xmms[r - Register.XMM0] ??= il.DeclareLocal(Xmm);
            return;
        }
        if (!r.IsGPR()) return;
        int i = Operands.GprIndex(r);
        regs[i] ??= il.DeclareLocal(typeof(ulong));
    }

    /// <summary>
    /// Prologue: a managed pointer to the state's register array (16 elements, never replaced), so spills and
    /// reloads are plain stores and loads: no array reference to fetch and no bounds check per register.
    /// </summary>
    private void EmitRegisterFileAddress()
    {
        il.Emit(OpCodes.Ldloc, state);
        il.Emit(OpCodes.Ldfld, GprField);
        il.Emit(OpCodes.Ldc_I4, 15);
        il.Emit(OpCodes.Ldelema, typeof(ulong)); // the one bounds check: the last register exists
        il.Emit(OpCodes.Ldc_I4, -15 * sizeof(ulong));
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Stloc, gprs);
    }

    /// <summary>Pushes the address of register <paramref name="i"/> in the state.</summary>
    private void EmitRegisterSlot(int i)
    {
        il.Emit(OpCodes.Ldloc, gprs);
        if (i == 0) return;
        il.Emit(OpCodes.Ldc_I4, i * sizeof(ulong));
        il.Emit(OpCodes.Add);
    }

    private void LoadRegisters(uint mask = AllRegisters)
    {
        for (int i = 0; i < 16; i++)
        {
            if (regs[i] is not { } local || (mask & (1u << i)) == 0) continue;
            EmitRegisterSlot(i);
            il.Emit(OpCodes.Ldind_I8);
            il.Emit(OpCodes.Stloc, local);
        }
        for (int j = 0; j < 16; j++)
        {
            if (xmms[j] is not { } local || (mask & (1u << (XmmBit + j))) == 0) continue;
            simd.XmmPointer(Register.XMM0 + j);
            il.Emit(OpCodes.Ldobj, Xmm);
            il.Emit(OpCodes.Stloc, local);
        }
    }

    /// <summary>
    /// Registers some instruction of the unit writes (Iced's register use, implicit operands included). The
    /// others keep the value they were loaded with, so their locals are never stored back.
    /// </summary>
    private uint written;

    private void StoreRegisters(uint mask = AllRegisters)
    {
        for (int i = 0; i < 16; i++)
        {
            if (regs[i] is not { } local || (mask & written & (1u << i)) == 0) continue;
            EmitRegisterSlot(i);
            il.Emit(OpCodes.Ldloc, local);
            il.Emit(OpCodes.Stind_I8);
        }
        for (int j = 0; j < 16; j++)
        {
            if (xmms[j] is not { } local || (mask & written & (1u << (XmmBit + j))) == 0) continue;
            simd.XmmPointer(Register.XMM0 + j);
            il.Emit(OpCodes.Ldloc, local);
            il.Emit(OpCodes.Stobj, Xmm);
        }
    }

    /// <summary>Pushes XMM register <paramref name="r"/> as the vector type <paramref name="type"/> (a bit cast).</summary>
    internal void LoadXmm(Register r, Type type)
    {
        il.Emit(OpCodes.Ldloc, xmms[r - Register.XMM0]!);
        if (type != Xmm) il.Emit(OpCodes.Call, VectorCast.From(type));
    }

    /// <summary>Pops a vector of type <paramref name="type"/> into XMM register <paramref name="r"/> (a bit cast).</summary>
    internal void StoreXmm(Register r, Type type)
    {
        if (type != Xmm) il.Emit(OpCodes.Call, VectorCast.To(type));
        il.Emit(OpCodes.Stloc, xmms[r - Register.XMM0]!);
    }

    private LocalBuilder Reg(Register r) => regs[Operands.GprIndex(r)]!;

    /// <summary>Pushes a register's value zero-extended to 64 bits (not AH..BH: see <see cref="IsInlineGpr"/>).</summary>
    internal void LoadReg(Register r)
    {
        il.Emit(OpCodes.Ldloc, Reg(r));
        ZeroExtend(Operands.GprSize(r));
    }

    /// <summary>
    /// Stores the value on the stack into a register with x86-64 rules: 32-bit writes zero the top half,
    /// 8- and 16-bit writes merge into the old value.
    /// </summary>
    internal void StoreReg(Register r)
    {
        int size = Operands.GprSize(r);
        LocalBuilder reg = Reg(r);
        if (size >= 4)
        {
            ZeroExtend(size);
            il.Emit(OpCodes.Stloc, reg);
            return;
        }
        ulong mask = Operands.SizeMask(size);
        il.Emit(OpCodes.Ldc_I8, (long)mask);
        il.Emit(OpCodes.And);
        il.Emit(OpCodes.Ldloc, reg);
        il.Emit(OpCodes.Ldc_I8, (long)~mask);
        il.Emit(OpCodes.And);
        il.Emit(OpCodes.Or);
        il.Emit(OpCodes.Stloc, reg);
    }

    /// <summary>Truncates the 64-bit value on the stack to <paramref name="size"/> bytes, zero-extended.</summary>
    private void ZeroExtend(int size)
    {
        switch (size)
        {
            case 1: il.Emit(OpCodes.Conv_U1); il.Emit(OpCodes.Conv_U8); break;
            case 2: il.Emit(OpCodes.Conv_U2); il.Emit(OpCodes.Conv_U8); break;
            case 4: il.Emit(OpCodes.Conv_U4); il.Emit(OpCodes.Conv_U8); break;
        }
    }

    internal bool IsInlineRegister(Register r) => IsInlineGpr(r);

    /// <summary>General registers inline code handles: all but the legacy high-byte registers AH..BH.</summary>
    private static bool IsInlineGpr(Register r) => r.IsGPR() && r is not (>= Register.AH and <= Register.BH);

    /// <summary>Operand width in bytes when operand <paramref name="op"/> is an inline register or memory, else 0.</summary>
    private static int InlineSize(in Instruction ins, int op) => ins.GetOpKind(op) switch
    {
        OpKind.Register => IsInlineGpr(ins.GetOpRegister(op)) ? Operands.GprSize(ins.GetOpRegister(op)) : 0,
        OpKind.Memory => ins.MemorySize.GetSize() is var n and (1 or 2 or 4 or 8) ? n : 0,
        _ => 0,
    };

    private void ZeroExtend32() => ZeroExtend(4);

    // ---------------------------------------------------------------- bookkeeping

    /// <summary>Adds <paramref name="n"/> completed instructions to the translated-instruction counter.</summary>
    private void FlushCount(int n)
    {
        if (n == 0) return;
        il.Emit(OpCodes.Ldloc, stats);
        il.Emit(OpCodes.Ldloc, stats);
        il.Emit(OpCodes.Ldfld, TranslatedField);
        il.Emit(OpCodes.Ldc_I8, (long)n);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Stfld, TranslatedField);
    }

    /// <summary>Publishes the pending count (before leaving the straight-line path).</summary>
    private void FlushPending()
    {
        FlushCount(pending);
        pending = 0;
    }

    private void SetInstructionStart(in Instruction ins)
    {
        LoadCpu();
        il.Emit(OpCodes.Ldc_I8, (long)ins.IP);
        il.Emit(OpCodes.Stfld, InstructionStartField);
    }

    private void SetRip(ulong value)
    {
        il.Emit(OpCodes.Ldloc, state);
        il.Emit(OpCodes.Ldc_I8, (long)value);
        il.Emit(OpCodes.Stfld, RipField);
    }

    /// <summary>A store into this unit's own code: leave right after the storing instruction (through a stub).</summary>
    private void EmitInvalidationCheck(in Instruction ins)
    {
        Label stub = il.DefineLabel();
        LoadUnit();
        il.Emit(OpCodes.Ldfld, InvalidatedField);
        il.Emit(OpCodes.Brtrue, stub);
        // RIP after the store; a fallback branch already set it (0: leave it).
        ulong rip = ins.FlowControl == FlowControl.Next ? ins.NextIP : 0;
        exitStubs.Add((stub, new UnitExitSite(rip, pending), deferred, Fault: false));
    }

    /// <summary>Leaves the unit (state already published) if a write has invalidated its code.</summary>
    private void ExitIfInvalidated()
    {
        LoadUnit();
        il.Emit(OpCodes.Ldfld, InvalidatedField);
        il.Emit(OpCodes.Brtrue, exit);
    }

    // ---------------------------------------------------------------- fallback

    /// <summary>
    /// Calls the interpreter handler: spills the registers it uses, reloads those it may write (everything
    /// around instructions that hand control to the OS). A fault in the handler comes back as false and
    /// goes to a stub, which writes every register back before raising it.
    /// </summary>
    private void EmitFallback(in Instruction ins)
    {
        System.Diagnostics.Debug.Assert(!IsVolatileImmediate(out _), "a volatile immediate must be emitted inline (see LoadsImmediate)");
        FlushDeferredFlags();
        fused = null;
        FlushPending();
        EmitHandlerCall(in ins);
    }

    /// <summary>
    /// The call itself, also the slow path of inline code: leaves the instruction count and the flag fusion
    /// alone (a fault stub publishes the pending count).
    /// </summary>
    internal void EmitHandlerCall(in Instruction ins)
    {
        (uint spill, uint reload) = BlockDecoder.ExitsToDispatcher(in ins) ? (AllRegisters, AllRegisters) : RegisterUse(in ins);
        StoreRegisters(spill);
        SetInstructionStart(in ins);
        SetRip(ins.NextIP);
        LoadCpu();
        LoadUnit();
        il.Emit(OpCodes.Ldfld, InstructionsField);
        il.Emit(OpCodes.Ldc_I4, currentIndex);
        il.Emit(OpCodes.Ldelema, typeof(Instruction));
        il.Emit(OpCodes.Ldc_I8, (long)InstructionTable.HandlerFor(in ins));
        il.Emit(OpCodes.Conv_I);
        il.Emit(OpCodes.Call, RunHandlerMethod);
        il.Emit(OpCodes.Brfalse, FaultStub());
        LoadRegisters(reload);
    }

    /// <summary>
    /// Bit masks of the registers (GPRs and XMMs) an instruction reads or writes (spill) and may write (reload),
    /// from Iced; FXSAVE and FXRSTOR use every XMM register without naming it.
    /// </summary>
    private (uint Spill, uint Reload) RegisterUse(in Instruction ins)
    {
        uint spill = 0, reload = 0;
        if (ins.Mnemonic is Mnemonic.Fxsave or Mnemonic.Fxsave64 or Mnemonic.Fxrstor or Mnemonic.Fxrstor64) spill = reload = AllXmms;
        foreach (UsedRegister used in infoFactory.GetInfo(in ins).GetUsedRegisters())
        {
            Register full = used.Register.GetFullRegister();
            uint bit;
            if (full.IsGPR64()) bit = 1u << Operands.GprIndex(full);
            else if (full is >= Register.ZMM0 and <= Register.ZMM15) bit = 1u << (XmmBit + (full - Register.ZMM0)); // XMM, YMM or ZMM j
            else continue;
            spill |= bit; // partial writes merge with the old value, so writes need the current value too
            if (used.Access is not (OpAccess.Read or OpAccess.CondRead)) reload |= bit;
        }
        return (spill, reload);
    }

    // TLB misses, out of line: compiled once (optimized at once), not inlined into every access site of every unit.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool MissRead8(GuestMemory m, ulong a, out byte v) => m.TryRead8(a, out v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool MissRead16(GuestMemory m, ulong a, out ushort v) => m.TryRead16(a, out v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool MissRead32(GuestMemory m, ulong a, out uint v) => m.TryRead32(a, out v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool MissRead64(GuestMemory m, ulong a, out ulong v) => m.TryRead64(a, out v);
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] private static bool MissRead128(GuestMemory m, ulong a, out Vector128<byte> v) => m.TryRead128(a, out v);

    /// <summary>Runs an interpreter handler, turning a guest fault into false (and <see cref="GuestMemory.PendingFault"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called from units from their first run: skip tier 0
    internal static bool RunHandler(Vcpu cpu, ref Instruction ins, delegate*<Vcpu, ref Instruction, void> handler)
    {
        try
        {
            handler(cpu, ref ins);
            return true;
        }
        catch (GuestFaultException e)
        {
            cpu.Memory.PendingFault = e.Fault;
            return false;
        }
    }

    // ---------------------------------------------------------------- block ends

    /// <summary>After a non-terminator last instruction: continue at a region block or leave the unit.</summary>
    private void EmitBlockEnd(int k, in Instruction last, bool inlined)
    {
        FlushPending();
        if (last.FlowControl == FlowControl.Next && (inlined || !BlockDecoder.ExitsToDispatcher(in last)))
        {
            // The block ended at the size or page limit (or before an instruction only the translator knows):
            // the successor is static.
            GoTo(last.NextIP, k);
            deferred = null;
            return;
        }
        // A fallback branch (or syscall) left RIP in the state: dispatch on it.
        Span<ulong> successors = stackalloc ulong[2];
        int n = Translator.StaticSuccessors(in unit.BlockCode(k)[^1], successors);
        EmitDispatch(LoadStateRip, successors[..n], k);
    }

    /// <summary>
    /// Goes on at the guest address <paramref name="loadAddress"/> pushes (RIP in the state already): a branch to
    /// whichever of <paramref name="targets"/> it is, if that is a block of the unit; else the unit leaves.
    /// </summary>
    private void EmitDispatch(Action loadAddress, ReadOnlySpan<ulong> targets, int k)
    {
        foreach (ulong target in targets)
        {
            if (IndexOfBlock(target) >= 0) EmitBranchIfAt(loadAddress, target, k);
        }
        il.Emit(OpCodes.Br, exit);
    }

    /// <summary>
    /// Branches to <paramref name="target"/>, a block of the unit, if the address <paramref name="loadAddress"/>
    /// pushes is it (RIP in the state already); else falls through.
    /// </summary>
    private void EmitBranchIfAt(Action loadAddress, ulong target, int k)
    {
        Label other = il.DefineLabel();
        loadAddress();
        il.Emit(OpCodes.Ldc_I8, (long)target);
        il.Emit(OpCodes.Bne_Un, other);
        GoTo(target, k, ripInState: true);
        il.MarkLabel(other);
    }

    private void LoadStateRip()
    {
        il.Emit(OpCodes.Ldloc, state);
        il.Emit(OpCodes.Ldfld, RipField);
    }

    /// <summary>
    /// Control goes to <paramref name="target"/> (the count published): a region block, or the exit with RIP set
    /// to it (unless <paramref name="ripInState"/>: the state holds it already). Inside the unit RIP is not
    /// stored: nothing reads it before the unit leaves.
    /// </summary>
    private void GoTo(ulong target, int fromBlock, bool ripInState = false)
    {
        int index = IndexOfBlock(target);
        if (index < 0)
        {
            if (!ripInState) SetRip(target);
            RecordDeferredFlags();
            il.Emit(OpCodes.Br, exit);
            return;
        }
        if (index <= fromBlock)
        {
            // A back edge: return to the dispatcher once the instruction budget is spent.
            Label stay = il.DefineLabel();
            il.Emit(OpCodes.Ldloc, stats);
            il.Emit(OpCodes.Ldfld, TranslatedField);
            LoadCpu();
            il.Emit(OpCodes.Ldfld, TranslatedLimitField);
            il.Emit(OpCodes.Blt, stay);
            if (!ripInState) SetRip(target);
            RecordDeferredFlags();
            il.Emit(OpCodes.Br, exit);
            il.MarkLabel(stay);
        }
        il.Emit(OpCodes.Br, blockLabels[index]);
    }

    /// <summary>
    /// The call itself, after the push (RIP = target, count published): enters the callee's unit as a nested
    /// host call (<see cref="Vcpu.CallTranslated"/>, or <see cref="Vcpu.CallIndirect"/> for an indirect call).
    /// When it comes back with the guest at <paramref name="returnAddress"/> (at once, or after
    /// <see cref="Vcpu.FollowToReturn"/> followed a callee that left its unit) and this unit intact, execution
    /// goes on here; anything else (no unit to call, a longjmp, a signal, a thread switch, SMC on this unit)
    /// leaves for the dispatcher with the state as the guest left it.
    /// </summary>
    private void EmitTranslatedCall(Action pushTarget, ulong returnAddress, int k, bool indirect = false)
    {
        EmitHostCall(pushTarget, k, indirect);
        if (IndexOfBlock(returnAddress) < 0)
        {
            // The unit does not go on at the return address (a baseline block, say): whatever the call did, the
            // state has everything, and the dispatcher goes on from there.
            il.Emit(OpCodes.Pop);
            il.Emit(OpCodes.Br, leave);
            return;
        }
        il.Emit(OpCodes.Brfalse, leave);
        // Back at the return address, or following the callee there (Vcpu.FollowToReturn); the state has
        // everything either way, so the registers are reloaded before going on or leaving.
        Label back = il.DefineLabel();
        il.Emit(OpCodes.Ldloc, state);
        il.Emit(OpCodes.Ldfld, RipField);
        il.Emit(OpCodes.Ldc_I8, (long)returnAddress);
        il.Emit(OpCodes.Beq, back);
        LoadCpu();
        LoadUnit();
        il.Emit(OpCodes.Ldc_I8, (long)returnAddress);
        il.Emit(OpCodes.Call, FollowToReturnMethod);
        il.Emit(OpCodes.Brtrue, back);
        LoadRegisters();
        il.Emit(OpCodes.Br, exit);
        il.MarkLabel(back);
        LoadRegisters();
        ExitIfInvalidated();
        GoTo(returnAddress, k, ripInState: true);
    }

    /// <summary>
    /// Stores the registers and enters the unit at the target <paramref name="pushTarget"/> pushes through call
    /// site number callSites (see <see cref="Vcpu.CallTranslated"/>); leaves the call's bool on the IL stack.
    /// </summary>
    private void EmitHostCall(Action pushTarget, int k, bool indirect)
    {
        StoreRegisters();
        LoadCpu();
        LoadUnit();
        il.Emit(OpCodes.Ldc_I4, callSites);
        if (indirect) indirectCallSites.Add((callSites, k));
        callSites += indirect ? Vcpu.IndirectCallWays : 1;
        pushTarget();
        il.Emit(OpCodes.Call, indirect ? CallIndirectMethod : CallTranslatedMethod);
    }

    /// <summary>
    /// A JMP out of a unit that has return sites (<see cref="ReturnSites"/>), RIP set to <paramref name="target"/>:
    /// a tail call (msort ends with <c>jmp memcpy</c>), whose RET pops a return address of this unit's frames.
    /// It runs as a nested host call, and wherever the guest is when it comes back goes on as after a RET: in
    /// line at a return site, else out to the dispatcher.
    /// </summary>
    private void EmitTailCall(ulong target, int k)
    {
        EmitHostCall(() => il.Emit(OpCodes.Ldc_I8, (long)target), k, indirect: false);
        il.Emit(OpCodes.Brfalse, leave);
        LoadRegisters();
        ExitIfInvalidated();
        EmitDispatch(LoadStateRip, CollectionsMarshal.AsSpan(ReturnSites()), k);
    }

    /// <summary>A JMP to <paramref name="target"/> that <see cref="EmitTailCall"/> compiles.</summary>
    private bool IsTailCall(ulong target) => IndexOfBlock(target) < 0 && ReturnSites().Count > 0;

    /// <summary>
    /// CALLs <see cref="TryEmitTerminator"/> handles (direct, or through a 64-bit register or memory operand):
    /// their return address is where the caller's unit continues, so regions grow over it.
    /// </summary>
    internal static bool IsInlineCall(in Instruction ins) =>
        ins.Mnemonic == Mnemonic.Call && (ins.Op0Kind == OpKind.NearBranch64 || HasIndirectTarget(in ins));

    /// <summary>
    /// A near CALL/JMP through a 64-bit register or memory operand (Iced gives every near indirect branch in
    /// 64-bit mode a 64-bit operand).
    /// </summary>
    private static bool HasIndirectTarget(in Instruction ins) =>
        ins.Op0Kind == OpKind.Register && ins.Op0Register.IsGPR64() || ins.Op0Kind == OpKind.Memory && ins.MemorySize.GetSize() == 8;

    /// <summary>
    /// Per block: can it run more than once per entry into the unit, i.e. does it lie between the target and
    /// the source of a branch back to an earlier block (or the same one)? Blocks are laid out in the order
    /// the region grew, which is the order <see cref="GoTo"/> calls back edges by. The edges are those the unit's
    /// code takes: static successors, a call's return address (a translated call continues there), a direct
    /// call's target in the unit (a branch), and a RET's return sites in the unit (<see cref="ReturnSites"/>).
    /// </summary>
    private bool[] BlocksInLoops()
    {
        var inLoop = new bool[unit.Blocks.Length];
        Span<ulong> successors = stackalloc ulong[3];
        Span<ulong> callees = stackalloc ulong[Vcpu.IndirectCallWays];
        for (int j = 0; j < unit.Blocks.Length; j++)
        {
            ref readonly Instruction last = ref unit.BlockCode(j)[^1];
            int n = Translator.StaticSuccessors(in last, successors);
            if (IsInlineCall(in last)) successors[n++] = last.NextIP;
            MarkBackEdges(inLoop, j, successors[..n]);
            MarkBackEdges(inLoop, j, callees[..CallTargetsInUnit(j, callees)]);
            if (last.Mnemonic == Mnemonic.Ret || last.Mnemonic == Mnemonic.Jmp && last.Op0Kind == OpKind.NearBranch64 && IsTailCall(last.NearBranchTarget))
                MarkBackEdges(inLoop, j, CollectionsMarshal.AsSpan(ReturnSites()));
        }
        return inLoop;
    }

    /// <summary>Marks the blocks from each earlier (or the same) target up to block <paramref name="from"/> as in a loop.</summary>
    private void MarkBackEdges(bool[] inLoop, int from, ReadOnlySpan<ulong> targets)
    {
        foreach (ulong target in targets)
        {
            int i = IndexOfBlock(target);
            if (i >= 0 && i <= from) inLoop.AsSpan(i, from - i + 1).Fill(true);
        }
    }

    /// <summary>At most this many return addresses are tested in line at a RET (the rest leave the unit).</summary>
    private const int MaxReturnSites = 8;

    private List<ulong>? returnSites;

    /// <summary>
    /// Return addresses of the unit's calls that branch inside it (<see cref="CallTargetsInUnit"/>: recursion, a
    /// local function, a callee taken in), where they are blocks of the unit too: a RET that pops one of them
    /// branches back.
    /// Nothing is lost whichever frame the address belongs to: any RET may go on at whatever address it popped,
    /// and a return address in the unit is only a block start like any other.
    /// </summary>
    private List<ulong> ReturnSites()
    {
        if (returnSites is not null) return returnSites;
        returnSites = [];
        Span<ulong> callees = stackalloc ulong[Vcpu.IndirectCallWays];
        for (int k = 0; k < unit.Blocks.Length && returnSites.Count < MaxReturnSites; k++)
        {
            ref readonly Instruction last = ref unit.BlockCode(k)[^1];
            if (CallTargetsInUnit(k, callees) > 0 && IndexOfBlock(last.NextIP) >= 0 && !returnSites.Contains(last.NextIP))
                returnSites.Add(last.NextIP);
        }
        return returnSites;
    }

    /// <summary>
    /// Where the CALL closing block <paramref name="k"/> may branch inside the unit: a direct call's target that
    /// is a block of the unit, or the callees an indirect call enters in line (<see cref="TranslatedUnit.InlineCallTargets"/>).
    /// </summary>
    /// <returns>How many targets were written to <paramref name="into"/> (room for <see cref="Vcpu.IndirectCallWays"/>).</returns>
    private int CallTargetsInUnit(int k, Span<ulong> into)
    {
        ref readonly Instruction last = ref unit.BlockCode(k)[^1];
        if (last.Mnemonic != Mnemonic.Call) return 0;
        if (last.Op0Kind != OpKind.NearBranch64)
        {
            ReadOnlySpan<ulong> inline = unit.InlineCallTargets(k);
            inline.CopyTo(into);
            return inline.Length;
        }
        if (IndexOfBlock(last.NearBranchTarget) < 0) return 0;
        into[0] = last.NearBranchTarget;
        return 1;
    }

    private int IndexOfBlock(ulong start) => unit.IndexOfBlock(start);

    /// <summary>Inline JCC/JMP/CALL/RET at the end of block <paramref name="k"/>.</summary>
    private bool TryEmitTerminator(in Instruction ins, int k)
    {
        if (!IsDirectJump(in ins)) FlushDeferredFlags(); // only direct jumps record them where the unit leaves
        switch (ins.Mnemonic)
        {
            case Mnemonic.Jmp when ins.Op0Kind == OpKind.NearBranch64:
            {
                bool tailCall = IsTailCall(ins.NearBranchTarget);
                if (tailCall) FlushDeferredFlags(); // the callee sees them
                fused = null;
                pending++;
                FlushPending();
                if (tailCall)
                {
                    SetRip(ins.NearBranchTarget);
                    EmitTailCall(ins.NearBranchTarget, k);
                }
                else GoTo(ins.NearBranchTarget, k);
                deferred = null;
                return true;
            }
            case Mnemonic.Ja or Mnemonic.Jae or Mnemonic.Jb or Mnemonic.Jbe or Mnemonic.Je or Mnemonic.Jne or Mnemonic.Jg
                or Mnemonic.Jge or Mnemonic.Jl or Mnemonic.Jle or Mnemonic.Js or Mnemonic.Jns or Mnemonic.Jo or Mnemonic.Jno
                or Mnemonic.Jp or Mnemonic.Jnp when ins.Op0Kind == OpKind.NearBranch64:
            {
                Label notTaken = il.DefineLabel();
                EmitCondition(ins.ConditionCode);
                fused = null;
                pending++;
                FlushPending();
                il.Emit(OpCodes.Brfalse, notTaken);
                GoTo(ins.NearBranchTarget, k);
                il.MarkLabel(notTaken);
                GoTo(ins.NextIP, k);
                deferred = null;
                return true;
            }
            case Mnemonic.Call when ins.Op0Kind == OpKind.NearBranch64:
            {
                fused = null;
                ulong returnAddress = ins.NextIP, target = ins.NearBranchTarget;
                EmitPush(() => il.Emit(OpCodes.Ldc_I8, (long)returnAddress));
                pending++;
                FlushPending();
                SetRip(target);
                ExitIfInvalidated(); // the push rewrote this unit's code
                // A target inside the region (its entry too: recursion) is only a branch, and the RETs of this
                // unit come back to the return address in line (see ReturnSites).
                if (IndexOfBlock(target) >= 0) GoTo(target, k, ripInState: true);
                else EmitTranslatedCall(() => il.Emit(OpCodes.Ldc_I8, (long)target), returnAddress, k);
                return true;
            }
            case Mnemonic.Call or Mnemonic.Jmp when HasIndirectTarget(in ins):
            {
                // Indirect: read the target (with the old RSP), check it is canonical, push, leave the unit.
                fused = null;
                if (ins.Op0Kind == OpKind.Register) LoadReg(ins.Op0Register); else EmitLoad(in ins, 8);
                il.Emit(OpCodes.Stloc, source);
                il.Emit(OpCodes.Ldloc, memory);
                il.Emit(OpCodes.Ldloc, source);
                il.Emit(OpCodes.Call, CheckBranchTargetMethod);
                il.Emit(OpCodes.Brfalse, FaultStub());
                if (ins.Mnemonic == Mnemonic.Call)
                {
                    ulong returnAddress = ins.NextIP;
                    EmitPush(() => il.Emit(OpCodes.Ldc_I8, (long)returnAddress));
                }
                pending++;
                FlushPending();
                il.Emit(OpCodes.Ldloc, state);
                il.Emit(OpCodes.Ldloc, source);
                il.Emit(OpCodes.Stfld, RipField);
                if (ins.Mnemonic == Mnemonic.Call)
                {
                    ExitIfInvalidated(); // the push rewrote this unit's code
                    // A callee the region took in (see TranslatedUnit.InlineCallTargets) is a branch when the
                    // target is it, and its RET comes back in line (see ReturnSites); any other is a call.
                    foreach (ulong callee in unit.InlineCallTargets(k)) EmitBranchIfAt(() => il.Emit(OpCodes.Ldloc, source), callee, k);
                    EmitTranslatedCall(() => il.Emit(OpCodes.Ldloc, source), ins.NextIP, k, indirect: true);
                }
                else il.Emit(OpCodes.Br, exit);
                return true;
            }
            case Mnemonic.Ret when ins.OpCount == 0:
            {
                fused = null;
                LocalBuilder rsp = regs[(int)Gpr.Rsp]!;
                il.Emit(OpCodes.Ldloc, rsp);
                EmitTryRead(8);
                il.Emit(OpCodes.Stloc, tmpR);
                il.Emit(OpCodes.Ldloc, state);
                il.Emit(OpCodes.Ldloc, tmpR);
                il.Emit(OpCodes.Stfld, RipField);
                il.Emit(OpCodes.Ldloc, rsp);
                il.Emit(OpCodes.Ldc_I8, 8L);
                il.Emit(OpCodes.Add);
                il.Emit(OpCodes.Stloc, rsp);
                pending++;
                FlushPending();
                // Back to a call made inside this unit: a branch. Anywhere else: leave (to the caller's unit, whose
                // host frame this one is, or to the dispatcher).
                EmitDispatch(() => il.Emit(OpCodes.Ldloc, tmpR), CollectionsMarshal.AsSpan(ReturnSites()), k);
                return true;
            }
            default:
                return false;
        }
    }

    // ---------------------------------------------------------------- inline instructions

    private static bool IsGpr3264(Register r) => r.IsGPR32() || r.IsGPR64();

    private bool TryEmitInline(in Instruction ins, bool flagsLive)
    {
        (FlagOp Op, int Size)? before = fused;
        // Deferred flags survive only instructions that keep tmpA/tmpB/tmpR and the state's flags, up to the
        // register-destination ALU instruction that overwrites them (which reads memory before its operands).
        if (!KeepsFusedCondition(in ins) && !IsDeferralEnd(in ins) && !(deferred == RotateDeferred && IsChainedRotate(in ins)))
            FlushDeferredFlags();
        if (!TryEmitInlineCore(in ins, flagsLive)) return false;
        // A compare's fused condition survives moves, loads, stores and the like in between (cmp; mov; jcc).
        if (KeepsFusedCondition(in ins)) fused = before;
        return true;
    }

    /// <summary>
    /// Inline instructions that change no flags and leave the fused operands (tmpA, tmpB, tmpR) alone, so a
    /// condition after them may still be computed from the compare before them.
    /// </summary>
    private static bool KeepsFusedCondition(in Instruction ins)
    {
        if (ins.RflagsModified != RflagsBits.None || ins.RflagsUndefined != RflagsBits.None) return false;
        return ins.Mnemonic switch
        {
            Mnemonic.Mov or Mnemonic.Movzx or Mnemonic.Movsx or Mnemonic.Movsxd or Mnemonic.Lea or Mnemonic.Not
                or Mnemonic.Bswap or Mnemonic.Push or Mnemonic.Pop or Mnemonic.Nop or Mnemonic.Endbr64 => true,
            _ when ins.ConditionCode != ConditionCode.None && ins.FlowControl == FlowControl.Next => true, // SETcc, CMOVcc
            _ => SimdEmitter.TryGetBinary(ins.Mnemonic, out _) || SimdEmitter.IsMove(ins.Mnemonic) || SimdEmitter.IsShiftImmediate(ins.Mnemonic)
                || ins.Mnemonic is Mnemonic.Pmovmskb or Mnemonic.Shufps or Mnemonic.Pshufd || FloatEmitter.Handles(ins.Mnemonic),
        };
    }

    /// <summary>Records deferred flags in the state now (before anything that could see or clobber them).</summary>
    private void FlushDeferredFlags()
    {
        if (deferred is not { } f) return;
        // Here, in line, the operands are those of the last producer (a fault stub or an exit is emitted
        // elsewhere, and there tmpA/tmpB/tmpR hold what they held when its access or store ran).
        Debug.Assert(f == RotateDeferred || fused == f, "deferred flags need their operands in tmpA/tmpB/tmpR");
        EmitDeferredFlags(f);
        deferred = null;
    }

    /// <summary>
    /// On a path that leaves the unit from a block end (see <see cref="FlagsSeenOnlyWhereTheUnitLeaves"/>):
    /// records the deferred flags there, keeping them deferred for the block's other paths.
    /// </summary>
    private void RecordDeferredFlags()
    {
        if (deferred is { } f) EmitDeferredFlags(f);
    }

    /// <summary>Records deferred flags: a rotate's CF/OF from flagBits, or an ALU producer's from tmpA/tmpB/tmpR.</summary>
    private void EmitDeferredFlags((FlagOp Op, int Size) f)
    {
        if (f == RotateDeferred)
        {
            EmitSetStatus(all: false);
            return;
        }
        EmitSetFlags(f.Op, f.Size);
    }

    /// <summary>
    /// ROL/ROR of an inline register by an immediate with a nonzero masked count: it cannot fault and replaces
    /// exactly the CF and OF a deferred rotate would have set, keeping the rest.
    /// </summary>
    private static bool IsChainedRotate(in Instruction ins) =>
        ins.Mnemonic is Mnemonic.Rol or Mnemonic.Ror && ins.Op0Kind == OpKind.Register && IsInlineGpr(ins.Op0Register)
        && ins.Op1Kind == OpKind.Immediate8 && (ins.Immediate8 & (Operands.GprSize(ins.Op0Register) == 8 ? 63 : 31)) != 0;

    /// <summary>
    /// An inline ADD/SUB/CMP/logic instruction with a register destination: it overwrites every status flag,
    /// and its only possible fault (a memory source) happens before it touches tmpA/tmpB/tmpR.
    /// </summary>
    private static bool IsDeferralEnd(in Instruction ins) => ins.Op0Kind == OpKind.Register && IsInlineFlagProducer(in ins);

    /// <summary>
    /// May the flags of instruction <paramref name="i"/> (an inline ADD/SUB/logic) go unrecorded? Yes if, before
    /// the block ends, a <see cref="IsDeferralEnd"/> instruction overwrites them and everything in between keeps
    /// the fused operands (<see cref="KeepsFusedCondition"/>) and reads no flags but through them (SETcc, CMOVcc:
    /// <see cref="ReadsFusedCondition"/>): then only a fault (or an exit
    /// after a store into this unit) could see them, and those paths record them from tmpA/tmpB/tmpR.
    /// </summary>
    private static bool FlagsSeenOnlyByFaults(ReadOnlySpan<Instruction> code, int i)
    {
        // A rotate's CF/OF may also wait through further such rotates (each replaces them).
        bool rotate = IsChainedRotate(in code[i]);
        if (!rotate && !IsInlineFlagProducer(in code[i])) return false;
        for (int j = i + 1; j < code.Length - 1; j++) // the last instruction ends the block: flags are seen there
        {
            ref readonly Instruction next = ref code[j];
            if ((next.RflagsRead & StatusFlags) != 0 && (rotate || !ReadsFusedCondition(in next, in code[i]))) return false;
            if (IsDeferralEnd(in next)) return true;
            if (!KeepsFusedCondition(in next) && !(rotate && IsChainedRotate(in next))) return false;
        }
        return false;
    }

    /// <summary>
    /// May the flags of instruction <paramref name="i"/> (an inline ADD/SUB/logic) go unrecorded across the end of
    /// its block? Yes if the rest of the block keeps the fused operands and reads no flags but through them
    /// (SETcc, CMOVcc, the closing JCC; or it ends with a JMP or at a size limit), some successor is in the unit,
    /// and every successor in the unit overwrites the flags before anything can see them
    /// (<see cref="FlagsDeadAtStart"/>): then only the paths that leave the unit see them, and those record them
    /// (<see cref="RecordDeferredFlags"/>), as fault stubs do.
    /// </summary>
    private bool FlagsSeenOnlyWhereTheUnitLeaves(ReadOnlySpan<Instruction> code, int i, bool[] deadAtStart)
    {
        if (!IsInlineFlagProducer(in code[i])) return false;
        ref readonly Instruction last = ref code[^1];
        for (int j = i + 1; j < code.Length; j++)
        {
            ref readonly Instruction next = ref code[j];
            if (j == code.Length - 1 && IsDirectJump(in next))
            {
                if (next.ConditionCode != ConditionCode.None && !CanFuse(ProducerOp(in code[i]), next.ConditionCode)) return false;
                break;
            }
            if ((next.RflagsRead & StatusFlags) != 0 && !ReadsFusedCondition(in next, in code[i]) || !KeepsFusedCondition(in next)) return false;
        }
        if (last.FlowControl == FlowControl.Next && BlockDecoder.ExitsToDispatcher(in last)) return false;
        Span<ulong> successors = stackalloc ulong[2];
        int n = Translator.StaticSuccessors(in last, successors);
        bool staysInUnit = false;
        foreach (ulong successor in successors[..n])
        {
            if (IndexOfBlock(successor) is not (>= 0 and int index)) continue;
            if (!deadAtStart[index]) return false;
            staysInUnit = true;
        }
        // With every successor outside the unit, deferring would only record the flags once per way out.
        return staysInUnit;
    }

    /// <summary>
    /// Are the status flags dead where this block starts: does it overwrite all six before anything reads them
    /// (a partial writer reads the rest), with nothing before that, the writer included, able to fault or leave?
    /// </summary>
    private static bool FlagsDeadAtStart(ReadOnlySpan<Instruction> code)
    {
        foreach (ref readonly Instruction ins in code)
        {
            if ((ins.RflagsRead & StatusFlags) != 0 || MayFault(in ins) || ins.FlowControl != FlowControl.Next) return false;
            if (WritesAllStatusFlags(in ins)) return true;
            if (((ins.RflagsModified | ins.RflagsUndefined) & StatusFlags) != 0) return false;
        }
        return false;
    }

    /// <summary>
    /// A SETcc or CMOVcc whose condition is computed from the operands of the inline <paramref name="producer"/>
    /// (see <see cref="TryEmitFusedCondition"/>), not from the recorded flags.
    /// </summary>
    private static bool ReadsFusedCondition(in Instruction ins, in Instruction producer) =>
        ins.ConditionCode != ConditionCode.None && ins.FlowControl == FlowControl.Next && CanFuse(ProducerOp(in producer), ins.ConditionCode);

    /// <summary>A JCC or JMP to an address in the instruction.</summary>
    private static bool IsDirectJump(in Instruction ins) =>
        ins.Op0Kind == OpKind.NearBranch64 && ins.FlowControl is FlowControl.ConditionalBranch or FlowControl.UnconditionalBranch && ins.Mnemonic != Mnemonic.Call;

    /// <summary>The lazy-flag operation an inline ADD/SUB/CMP/logic instruction records.</summary>
    private static FlagOp ProducerOp(in Instruction ins) => ins.Mnemonic switch
    {
        Mnemonic.Add => FlagOp.Add,
        Mnemonic.Sub or Mnemonic.Cmp => FlagOp.Sub,
        _ => FlagOp.Logic,
    };

    private bool TryEmitInlineCore(in Instruction ins, bool flagsLive)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Nop or Mnemonic.Endbr64:
                return true;
            case Mnemonic.Mov:
                return TryEmitMov(in ins);
            case Mnemonic.Movzx or Mnemonic.Movsx or Mnemonic.Movsxd:
                return TryEmitExtend(in ins);
            case Mnemonic.Lea when IsGpr3264(ins.Op0Register):
                fused = null;
                EmitAddress(in ins, withSegment: false);
                StoreReg(ins.Op0Register);
                return true;
            case Mnemonic.Add or Mnemonic.Sub or Mnemonic.And or Mnemonic.Or or Mnemonic.Xor or Mnemonic.Cmp or Mnemonic.Test:
                return TryEmitAlu(in ins, flagsLive);
            case Mnemonic.Inc or Mnemonic.Dec when InlineSize(in ins, 0) != 0 && !ins.HasLockPrefix:
            {
                int size = InlineSize(in ins, 0);
                bool inMemory = ins.Op0Kind == OpKind.Memory;
                // INC/DEC keep CF: take it from the previous inline compare if there is one.
                bool carryKnown = fused is { Op: FlagOp.Add or FlagOp.Sub or FlagOp.Logic };
                if (carryKnown && flagsLive)
                {
                    EmitFusedCarry(fused!.Value.Op);
                    il.Emit(OpCodes.Stloc, carry);
                }
                LoadDestination(in ins, inMemory, size);
                il.Emit(OpCodes.Stloc, tmpA);
                il.Emit(OpCodes.Ldloc, tmpA);
                il.Emit(OpCodes.Ldc_I8, 1L);
                il.Emit(ins.Mnemonic == Mnemonic.Inc ? OpCodes.Add : OpCodes.Sub);
                ZeroExtend(size);
                il.Emit(OpCodes.Stloc, tmpR);
                StoreResult(in ins, inMemory, size);
                if (flagsLive)
                {
                    il.Emit(OpCodes.Ldloc, state);
                    il.Emit(ins.Mnemonic == Mnemonic.Dec ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
                    il.Emit(OpCodes.Ldloc, tmpA);
                    il.Emit(OpCodes.Ldloc, tmpR);
                    il.Emit(OpCodes.Ldc_I4, size);
                    if (carryKnown)
                    {
                        il.Emit(OpCodes.Ldloc, carry);
                        il.Emit(OpCodes.Call, SetIncDecWithCarryMethod);
                    }
                    else il.Emit(OpCodes.Call, SetIncDecMethod);
                }
                fused = (ins.Mnemonic == Mnemonic.Inc ? FlagOp.Inc : FlagOp.Dec, size);
                return true;
            }
            case Mnemonic.Adc or Mnemonic.Sbb when !ins.HasLockPrefix && InlineSize(in ins, 0) != 0
                && (ins.Op1Kind == OpKind.Register ? IsInlineGpr(ins.Op1Register) : IsImmediate(ins.Op1Kind) || ins.Op1Kind == OpKind.Memory && ins.Op0Kind == OpKind.Register):
                // The carry in first (a fused one reads the previous instruction's operands).
                EmitCondition(ConditionCode.b);
                il.Emit(OpCodes.Stloc, carry);
                fused = null;
                return TryEmitAlu(in ins, flagsLive);
            case Mnemonic.Not when ins.Op0Kind == OpKind.Register && IsInlineGpr(ins.Op0Register):
                fused = null;
                LoadReg(ins.Op0Register);
                il.Emit(OpCodes.Not);
                StoreReg(ins.Op0Register);
                return true;
            case Mnemonic.Neg when ins.Op0Kind == OpKind.Register && IsInlineGpr(ins.Op0Register):
            {
                // NEG x sets flags exactly like SUB 0, x.
                int size = Operands.GprSize(ins.Op0Register);
                il.Emit(OpCodes.Ldc_I8, 0L);
                il.Emit(OpCodes.Stloc, tmpA);
                LoadReg(ins.Op0Register);
                il.Emit(OpCodes.Stloc, tmpB);
                il.Emit(OpCodes.Ldloc, tmpB);
                il.Emit(OpCodes.Neg);
                ZeroExtend(size);
                il.Emit(OpCodes.Stloc, tmpR);
                il.Emit(OpCodes.Ldloc, tmpR);
                StoreReg(ins.Op0Register);
                if (flagsLive) EmitSetFlags(FlagOp.Sub, size);
                fused = (FlagOp.Sub, size);
                return true;
            }
            case Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol or Mnemonic.Ror
                when InlineSize(in ins, 0) != 0 && !ins.HasLockPrefix
                && (ins.Op1Kind == OpKind.Immediate8 || ins.Op1Kind == OpKind.Register && ins.Op1Register == Register.CL):
                return !flagsLive && ins.Op1Kind == OpKind.Immediate8 && ins.Op0Kind == OpKind.Register && IsGpr3264(ins.Op0Register)
                    ? EmitShiftImmediate(in ins) : EmitShift(in ins, flagsLive);
            case Mnemonic.Imul when ins.OpCount >= 2 && ins.Op0Kind == OpKind.Register && IsGpr3264(ins.Op0Register)
                && (ins.Op1Kind == OpKind.Memory || ins.Op1Kind == OpKind.Register && IsGpr3264(ins.Op1Register)):
            {
                fused = null;
                int size = Operands.GprSize(ins.Op0Register);
                // Memory first, on an empty IL stack: a failed access branches to a fault stub.
                if (ins.Op1Kind == OpKind.Memory) EmitLoad(in ins, size); else LoadReg(ins.Op1Register);
                il.Emit(OpCodes.Stloc, tmpB);
                if (ins.OpCount == 2) LoadReg(ins.Op0Register);
                il.Emit(OpCodes.Ldloc, tmpB);
                if (ins.OpCount == 3) il.Emit(OpCodes.Ldc_I8, (long)ins.GetImmediate(2));
                if (flagsLive)
                {
                    // The interpreter's own product-and-flags function.
                    il.Emit(OpCodes.Ldc_I4, size);
                    il.Emit(OpCodes.Ldloca, flagBits);
                    il.Emit(OpCodes.Call, ImulCoreMethod);
                    StoreReg(ins.Op0Register);
                    EmitSetStatus(all: true);
                    return true;
                }
                il.Emit(OpCodes.Mul); // the low half of a product is the same signed or unsigned
                StoreReg(ins.Op0Register);
                return true;
            }
            case Mnemonic.Seta or Mnemonic.Setae or Mnemonic.Setb or Mnemonic.Setbe or Mnemonic.Sete or Mnemonic.Setne
                or Mnemonic.Setg or Mnemonic.Setge or Mnemonic.Setl or Mnemonic.Setle or Mnemonic.Sets or Mnemonic.Setns
                or Mnemonic.Seto or Mnemonic.Setno or Mnemonic.Setp or Mnemonic.Setnp
                when ins.Op0Kind == OpKind.Register && IsInlineGpr(ins.Op0Register):
                EmitCondition(ins.ConditionCode);
                il.Emit(OpCodes.Conv_U8);
                StoreReg(ins.Op0Register);
                fused = null;
                return true;
            case Mnemonic.Cmova or Mnemonic.Cmovae or Mnemonic.Cmovb or Mnemonic.Cmovbe or Mnemonic.Cmove or Mnemonic.Cmovne
                or Mnemonic.Cmovg or Mnemonic.Cmovge or Mnemonic.Cmovl or Mnemonic.Cmovle or Mnemonic.Cmovs or Mnemonic.Cmovns
                or Mnemonic.Cmovo or Mnemonic.Cmovno or Mnemonic.Cmovp or Mnemonic.Cmovnp
                when IsGpr3264(ins.Op0Register) && (ins.Op1Kind == OpKind.Memory || IsGpr3264(ins.Op1Register)):
            {
                // The source is read (and may fault) whether or not the condition holds; a 32-bit destination
                // is zero-extended either way.
                int size = Operands.GprSize(ins.Op0Register);
                if (ins.Op1Kind == OpKind.Memory) EmitLoad(in ins, size); else LoadReg(ins.Op1Register);
                il.Emit(OpCodes.Stloc, source); // not tmpB: the fused condition still needs the compare's operands
                Label keep = il.DefineLabel(), done = il.DefineLabel();
                EmitCondition(ins.ConditionCode);
                il.Emit(OpCodes.Brfalse, keep);
                il.Emit(OpCodes.Ldloc, source);
                il.Emit(OpCodes.Br, done);
                il.MarkLabel(keep);
                LoadReg(ins.Op0Register);
                il.MarkLabel(done);
                StoreReg(ins.Op0Register);
                fused = null;
                return true;
            }
            case Mnemonic.Div or Mnemonic.Idiv when ins.Op0Kind == OpKind.Memory && ins.MemorySize.GetSize() is 4 or 8
                || ins.Op0Kind == OpKind.Register && IsGpr3264(ins.Op0Register):
                EmitDivide(in ins);
                return true;
            case Mnemonic.Mul when ins.Op0Kind == OpKind.Memory && ins.MemorySize.GetSize() is 4 or 8
                || ins.Op0Kind == OpKind.Register && IsGpr3264(ins.Op0Register):
                EmitMultiplyWide(in ins, flagsLive);
                return true;
            case Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc when !ins.HasLockPrefix
                && (ins.Op0Kind == OpKind.Register && IsInlineGpr(ins.Op0Register)
                    && (ins.Op1Kind == OpKind.Immediate8 || ins.Op1Kind == OpKind.Register && IsInlineGpr(ins.Op1Register))
                || ins.Op0Kind == OpKind.Memory && ins.Op1Kind == OpKind.Immediate8 && ins.MemorySize.GetSize() is 2 or 4 or 8):
                EmitBitTest(in ins, flagsLive);
                return true;
            case Mnemonic.Bsf or Mnemonic.Bsr or Mnemonic.Tzcnt when IsGpr3264(ins.Op0Register)
                && (ins.Op1Kind == OpKind.Memory || ins.Op1Kind == OpKind.Register && IsGpr3264(ins.Op1Register)):
                EmitBitScan(in ins, flagsLive);
                return true;
            case Mnemonic.Xchg when ins.Op0Kind == OpKind.Register && ins.Op1Kind == OpKind.Register
                && IsGpr3264(ins.Op0Register) && IsGpr3264(ins.Op1Register):
                fused = null;
                LoadReg(ins.Op0Register);
                il.Emit(OpCodes.Stloc, tmpA);
                LoadReg(ins.Op1Register);
                StoreReg(ins.Op0Register);
                il.Emit(OpCodes.Ldloc, tmpA);
                StoreReg(ins.Op1Register);
                return true;
            case Mnemonic.Bswap when IsGpr3264(ins.Op0Register):
                fused = null;
                LoadReg(ins.Op0Register);
                if (Operands.GprSize(ins.Op0Register) == 4)
                {
                    il.Emit(OpCodes.Conv_U4);
                    il.Emit(OpCodes.Call, ReverseUInt32);
                    il.Emit(OpCodes.Conv_U8);
                }
                else il.Emit(OpCodes.Call, ReverseUInt64);
                StoreReg(ins.Op0Register);
                return true;
            case Mnemonic.Cdqe or Mnemonic.Cwde or Mnemonic.Cdq or Mnemonic.Cqo:
                fused = null;
                EmitSignExtendAccumulator(ins.Mnemonic);
                return true;
            case var _ when SimdEmitter.TryGetBinary(ins.Mnemonic, out _) || SimdEmitter.IsMove(ins.Mnemonic)
                || SimdEmitter.IsShiftImmediate(ins.Mnemonic) || ins.Mnemonic is Mnemonic.Pmovmskb or Mnemonic.Shufps or Mnemonic.Pshufd:
                if (!simd.TryEmit(in ins)) return false;
                fused = null;
                return true;
            case var _ when FloatEmitter.Handles(ins.Mnemonic):
                if (!fp.TryEmit(in ins)) return false;
                fused = null;
                return true;
            case Mnemonic.Push when ins.Op0Kind == OpKind.Register && ins.Op0Register.IsGPR64():
            {
                fused = null;
                Register r = ins.Op0Register;
                EmitPush(() => il.Emit(OpCodes.Ldloc, Reg(r)));
                return true;
            }
            case Mnemonic.Pop when ins.Op0Kind == OpKind.Register && ins.Op0Register.IsGPR64() && ins.Op0Register != Register.RSP:
            {
                fused = null;
                LocalBuilder rsp = regs[(int)Gpr.Rsp]!;
                il.Emit(OpCodes.Ldloc, rsp);
                EmitTryRead(8);
                il.Emit(OpCodes.Stloc, Reg(ins.Op0Register));
                il.Emit(OpCodes.Ldloc, rsp);
                il.Emit(OpCodes.Ldc_I8, 8L);
                il.Emit(OpCodes.Add);
                il.Emit(OpCodes.Stloc, rsp);
                return true;
            }
            default:
                return false;
        }
    }

    /// <summary>Shifts and rotates of a 32/64-bit register by an immediate whose flags nobody reads.</summary>
    private bool EmitShiftImmediate(in Instruction ins)
    {
        fused = null;
        deferred = null; // flags nobody sees (a chained rotate's predecessor included: see FlagsSeenOnlyByFaults)
        int size = Operands.GprSize(ins.Op0Register);
        int bits = size * 8;
        int count = (int)(ins.Immediate8 & (size == 8 ? 63u : 31u));
        LoadReg(ins.Op0Register);
        if (count != 0) // a zero count changes nothing, but a 32-bit destination is still zero-extended
        {
            switch (ins.Mnemonic)
            {
                case Mnemonic.Shl or Mnemonic.Sal:
                    il.Emit(OpCodes.Ldc_I4, count);
                    il.Emit(OpCodes.Shl);
                    break;
                case Mnemonic.Shr:
                    il.Emit(OpCodes.Ldc_I4, count);
                    il.Emit(OpCodes.Shr_Un);
                    break;
                case Mnemonic.Sar:
                    if (size == 4)
                    {
                        il.Emit(OpCodes.Conv_I4);
                        il.Emit(OpCodes.Conv_I8);
                    }
                    il.Emit(OpCodes.Ldc_I4, count);
                    il.Emit(OpCodes.Shr);
                    break;
                default: // rotates: the JIT's intrinsic (one ROL/ROR instruction) at the operand's width
                    int left = ins.Mnemonic == Mnemonic.Rol ? count : bits - count;
                    if (size == 4) il.Emit(OpCodes.Conv_U4);
                    il.Emit(OpCodes.Ldc_I4, left);
                    il.Emit(OpCodes.Call, size == 4 ? RotateLeft32Method : RotateLeft64Method);
                    if (size == 4) il.Emit(OpCodes.Conv_U8);
                    break;
            }
        }
        StoreReg(ins.Op0Register);
        return true;
    }

    /// <summary>
    /// Shifts and rotates of a register or memory operand (any width) whose flags someone may read, or by CL:
    /// the interpreter's result-and-flags function. A zero count (known here, or tested at run time for CL)
    /// changes no flags and no memory, but a register destination is still written (32-bit: zero-extended).
    /// The destination is read first, so a faulting access changes nothing.
    /// </summary>
    private bool EmitShift(in Instruction ins, bool flagsLive)
    {
        fused = null;
        bool inMemory = ins.Op0Kind == OpKind.Memory;
        int size = InlineSize(in ins, 0);
        int mask = size == 8 ? 63 : 31;
        bool rotate = ins.Mnemonic is Mnemonic.Rol or Mnemonic.Ror;
        Label zero = il.DefineLabel(), done = il.DefineLabel();
        LoadDestination(in ins, inMemory, size);
        il.Emit(OpCodes.Stloc, tmpA);
        if (ins.Op1Kind == OpKind.Immediate8)
        {
            int c = ins.Immediate8 & mask;
            if (c == 0)
            {
                EmitZeroCountShift(in ins, inMemory);
                return true;
            }
            il.Emit(OpCodes.Ldc_I4, c);
        }
        else
        {
            LoadReg(Register.CL);
            il.Emit(OpCodes.Conv_I4);
            il.Emit(OpCodes.Ldc_I4, mask);
            il.Emit(OpCodes.And);
        }
        il.Emit(OpCodes.Stloc, shiftCount);
        il.Emit(OpCodes.Ldloc, shiftCount);
        il.Emit(OpCodes.Brfalse, zero);
        il.Emit(OpCodes.Ldloc, tmpA);
        il.Emit(OpCodes.Ldloc, shiftCount);
        il.Emit(OpCodes.Ldc_I4, size);
        if (rotate) il.Emit(ins.Mnemonic == Mnemonic.Rol ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
        il.Emit(OpCodes.Ldloca, flagBits);
        il.Emit(OpCodes.Call, ins.Mnemonic switch
        {
            Mnemonic.Shl or Mnemonic.Sal => ShlCoreMethod,
            Mnemonic.Shr => ShrCoreMethod,
            Mnemonic.Sar => SarCoreMethod,
            _ => RotateCoreMethod,
        });
        il.Emit(OpCodes.Stloc, tmpR);
        StoreResult(in ins, inMemory, size);
        deferred = null; // only a chained rotate gets here with one pending, and it replaces that one's CF/OF
        if (flagsLive && rotate && deferrable[currentIndex]) deferred = RotateDeferred;
        else if (flagsLive) EmitSetStatus(all: !rotate);
        il.Emit(OpCodes.Br, done);
        il.MarkLabel(zero);
        EmitZeroCountShift(in ins, inMemory);
        il.MarkLabel(done);
        return true;
    }

    /// <summary>A zero-count shift: memory and flags stay; a register is rewritten (a 32-bit one zero-extended).</summary>
    private void EmitZeroCountShift(in Instruction ins, bool inMemory)
    {
        if (inMemory) return;
        il.Emit(OpCodes.Ldloc, tmpA);
        StoreReg(ins.Op0Register);
    }

    /// <summary>
    /// BSF/BSR (a zero source sets ZF and leaves the destination alone; only ZF changes) and TZCNT (zero gives
    /// the width; CF and ZF change) — the interpreter's rules.
    /// </summary>
    private void EmitBitScan(in Instruction ins, bool flagsLive)
    {
        fused = null;
        int size = Operands.GprSize(ins.Op0Register);
        bool tzcnt = ins.Mnemonic == Mnemonic.Tzcnt;
        Label zero = il.DefineLabel(), done = il.DefineLabel();
        if (ins.Op1Kind == OpKind.Memory) EmitLoad(in ins, size); else LoadReg(ins.Op1Register);
        il.Emit(OpCodes.Stloc, tmpB);
        il.Emit(OpCodes.Ldloc, tmpB);
        il.Emit(OpCodes.Brfalse, zero);
        il.Emit(OpCodes.Ldloc, tmpB);
        il.Emit(OpCodes.Call, ins.Mnemonic == Mnemonic.Bsr ? Log2Method : TrailingZeroMethod);
        il.Emit(OpCodes.Conv_U8);
        il.Emit(OpCodes.Dup);
        il.Emit(OpCodes.Stloc, tmpR);
        StoreReg(ins.Op0Register);
        // Nonzero source: BSF/BSR clear ZF; TZCNT clears CF and sets ZF when the count is 0.
        if (flagsLive) EmitUpdateFlags(tzcnt ? CarryZero : (long)RFlags.ZF, () =>
        {
            if (!tzcnt) { il.Emit(OpCodes.Ldc_I8, 0L); return; }
            il.Emit(OpCodes.Ldloc, tmpR);
            il.Emit(OpCodes.Ldc_I8, 0L);
            il.Emit(OpCodes.Ceq);
            il.Emit(OpCodes.Ldc_I4_6); // ZF is bit 6
            il.Emit(OpCodes.Shl);
            il.Emit(OpCodes.Conv_U8);
        });
        il.Emit(OpCodes.Br, done);
        il.MarkLabel(zero);
        if (tzcnt)
        {
            il.Emit(OpCodes.Ldc_I8, (long)size * 8);
            StoreReg(ins.Op0Register);
        }
        if (flagsLive) EmitUpdateFlags(tzcnt ? CarryZero : (long)RFlags.ZF, () => il.Emit(OpCodes.Ldc_I8, tzcnt ? (long)RFlags.CF : (long)RFlags.ZF));
        il.MarkLabel(done);
    }

    private const long CarryZero = (long)(RFlags.CF | RFlags.ZF);

    /// <summary>32/64-bit MUL: RDX:RAX = RAX * source; CF = OF = (high half != 0), ZF/SF/PF from the low half.</summary>
    private void EmitMultiplyWide(in Instruction ins, bool flagsLive)
    {
        fused = null;
        int size = ins.Op0Kind == OpKind.Memory ? ins.MemorySize.GetSize() : Operands.GprSize(ins.Op0Register);
        LocalBuilder rax = regs[(int)Gpr.Rax]!, rdx = regs[(int)Gpr.Rdx]!;
        if (ins.Op0Kind == OpKind.Memory) EmitLoad(in ins, size); else LoadReg(ins.Op0Register);
        il.Emit(OpCodes.Stloc, tmpB);
        if (size == 8)
        {
            il.Emit(OpCodes.Ldloc, rax);
            il.Emit(OpCodes.Ldloc, tmpB);
            il.Emit(OpCodes.Ldloca, tmpR);
            il.Emit(OpCodes.Call, BigMulMethod);
            il.Emit(OpCodes.Stloc, tmpA);
        }
        else
        {
            LoadReg(Register.EAX);
            il.Emit(OpCodes.Ldloc, tmpB);
            il.Emit(OpCodes.Mul);
            il.Emit(OpCodes.Dup);
            ZeroExtend(4);
            il.Emit(OpCodes.Stloc, tmpR);
            il.Emit(OpCodes.Ldc_I4, 32);
            il.Emit(OpCodes.Shr_Un);
            il.Emit(OpCodes.Stloc, tmpA);
        }
        il.Emit(OpCodes.Ldloc, tmpR);
        il.Emit(OpCodes.Stloc, rax);
        il.Emit(OpCodes.Ldloc, tmpA);
        il.Emit(OpCodes.Stloc, rdx);
        if (!flagsLive) return;
        il.Emit(OpCodes.Ldloc, state);
        il.Emit(OpCodes.Ldloc, tmpA);
        il.Emit(OpCodes.Ldc_I8, 0L);
        il.Emit(OpCodes.Cgt_Un);
        il.Emit(OpCodes.Conv_U8);
        il.Emit(OpCodes.Ldc_I8, (long)(RFlags.CF | RFlags.OF));
        il.Emit(OpCodes.Mul);
        il.Emit(OpCodes.Ldloc, tmpR);
        il.Emit(OpCodes.Ldc_I4, size);
        il.Emit(OpCodes.Call, SzpFlagsMethod);
        il.Emit(OpCodes.Or);
        il.Emit(OpCodes.Call, SetStatusMethod);
    }

    /// <summary>
    /// BT/BTS/BTR/BTC on a register (immediate or register offset, modulo the width) or memory with an immediate
    /// offset: only CF changes, so BT whose CF nobody reads is just its memory access.
    /// </summary>
    private void EmitBitTest(in Instruction ins, bool flagsLive)
    {
        fused = null;
        bool inMemory = ins.Op0Kind == OpKind.Memory;
        int size = inMemory ? ins.MemorySize.GetSize() : Operands.GprSize(ins.Op0Register);
        int bits = size * 8;
        LoadDestination(in ins, inMemory, size);
        il.Emit(OpCodes.Stloc, tmpA);
        if (ins.Op1Kind == OpKind.Immediate8) il.Emit(OpCodes.Ldc_I4, ins.Immediate8 & (bits - 1));
        else
        {
            LoadReg(ins.Op1Register);
            il.Emit(OpCodes.Conv_I4);
            il.Emit(OpCodes.Ldc_I4, bits - 1);
            il.Emit(OpCodes.And);
        }
        il.Emit(OpCodes.Stloc, shiftCount);
        if (ins.Mnemonic != Mnemonic.Bt)
        {
            il.Emit(OpCodes.Ldloc, tmpA);
            il.Emit(OpCodes.Ldc_I8, 1L);
            il.Emit(OpCodes.Ldloc, shiftCount);
            il.Emit(OpCodes.Shl);
            if (ins.Mnemonic == Mnemonic.Btr) il.Emit(OpCodes.Not);
            il.Emit(ins.Mnemonic switch { Mnemonic.Bts => OpCodes.Or, Mnemonic.Btr => OpCodes.And, _ => OpCodes.Xor });
            il.Emit(OpCodes.Stloc, tmpR);
            StoreResult(in ins, inMemory, size);
        }
        fused = BitTestFused;
        if (!flagsLive) return;
        EmitUpdateFlags((long)RFlags.CF, () =>
        {
            il.Emit(OpCodes.Ldloc, tmpA);
            il.Emit(OpCodes.Ldloc, shiftCount);
            il.Emit(OpCodes.Shr_Un);
            il.Emit(OpCodes.Ldc_I8, 1L);
            il.Emit(OpCodes.And);
        });
    }

    /// <summary>
    /// 32/64-bit DIV/IDIV when the dividend fits the low half (RDX/EDX zero, or the sign of RAX/EAX) and the
    /// quotient cannot overflow: one host division. Anything else — a zero divisor, a wide dividend,
    /// MIN / -1 — runs the handler, which divides wide or raises #DE. Flags stay unchanged (Hv's choice).
    /// </summary>
    private void EmitDivide(in Instruction ins)
    {
        fused = null;
        bool signed = ins.Mnemonic == Mnemonic.Idiv;
        int size = ins.Op0Kind == OpKind.Memory ? ins.MemorySize.GetSize() : Operands.GprSize(ins.Op0Register);
        bool wide = size == 8;
        LocalBuilder rax = regs[(int)Gpr.Rax]!, rdx = regs[(int)Gpr.Rdx]!;
        Label slow = il.DefineLabel(), done = il.DefineLabel();
        if (ins.Op0Kind == OpKind.Memory) EmitLoad(in ins, size); else LoadReg(ins.Op0Register);
        il.Emit(OpCodes.Stloc, tmpB);
        il.Emit(OpCodes.Ldloc, tmpB);
        il.Emit(OpCodes.Brfalse, slow);
        // [v] pushes a register or the divisor at the operand width (signed or not) for the host division.
        void Push(LocalBuilder v)
        {
            il.Emit(OpCodes.Ldloc, v);
            if (!wide) il.Emit(signed ? OpCodes.Conv_I4 : OpCodes.Conv_U4);
        }
        // The high half must be the extension of the low half.
        Push(rdx);
        if (signed)
        {
            Push(rax);
            il.Emit(OpCodes.Ldc_I4, wide ? 63 : 31);
            il.Emit(OpCodes.Shr);
            il.Emit(OpCodes.Bne_Un, slow);
            // MIN / -1 overflows.
            Label ok = il.DefineLabel();
            Push(tmpB);
            if (wide) il.Emit(OpCodes.Ldc_I8, -1L); else il.Emit(OpCodes.Ldc_I4_M1);
            il.Emit(OpCodes.Bne_Un, ok);
            Push(rax);
            if (wide) il.Emit(OpCodes.Ldc_I8, long.MinValue); else il.Emit(OpCodes.Ldc_I4, int.MinValue);
            il.Emit(OpCodes.Beq, slow);
            il.MarkLabel(ok);
        }
        else il.Emit(OpCodes.Brtrue, slow);
        foreach (bool remainder in new[] { false, true })
        {
            Push(rax);
            Push(tmpB);
            il.Emit(remainder ? signed ? OpCodes.Rem : OpCodes.Rem_Un : signed ? OpCodes.Div : OpCodes.Div_Un);
            if (!wide) il.Emit(OpCodes.Conv_U4);
            il.Emit(OpCodes.Conv_U8);
            il.Emit(OpCodes.Stloc, remainder ? tmpA : tmpR);
        }
        il.Emit(OpCodes.Ldloc, tmpR);
        il.Emit(OpCodes.Stloc, rax);
        il.Emit(OpCodes.Ldloc, tmpA);
        il.Emit(OpCodes.Stloc, rdx);
        il.Emit(OpCodes.Br, done);
        il.MarkLabel(slow);
        EmitHandlerCall(in ins);
        il.MarkLabel(done);
    }

    /// <summary>Flags.Update(state, mask, bits) with the bits pushed by <paramref name="pushBits"/>.</summary>
    private void EmitUpdateFlags(long mask, Action pushBits)
    {
        il.Emit(OpCodes.Ldloc, state);
        il.Emit(OpCodes.Ldc_I8, mask);
        pushBits();
        il.Emit(OpCodes.Call, UpdateFlagsMethod);
    }

    /// <summary>Publishes the eager flags in flagBits: all six status flags, or only a rotate's CF and OF.</summary>
    private void EmitSetStatus(bool all)
    {
        il.Emit(OpCodes.Ldloc, state);
        if (!all) il.Emit(OpCodes.Ldc_I8, (long)IntegerInstructions.RotateFlags);
        il.Emit(OpCodes.Ldloc, flagBits);
        il.Emit(OpCodes.Call, all ? SetStatusMethod : UpdateFlagsMethod);
    }

    /// <summary>CWDE/CDQE (sign-extend into RAX) and CDQ/CQO (sign of RAX into RDX).</summary>
    private void EmitSignExtendAccumulator(Mnemonic mnemonic)
    {
        LocalBuilder rax = regs[(int)Gpr.Rax]!;
        il.Emit(OpCodes.Ldloc, rax);
        switch (mnemonic)
        {
            case Mnemonic.Cwde:
                il.Emit(OpCodes.Conv_I2);
                il.Emit(OpCodes.Conv_U4);
                il.Emit(OpCodes.Conv_U8);
                il.Emit(OpCodes.Stloc, rax);
                break;
            case Mnemonic.Cdqe:
                il.Emit(OpCodes.Conv_I4);
                il.Emit(OpCodes.Conv_I8);
                il.Emit(OpCodes.Stloc, rax);
                break;
            case Mnemonic.Cdq:
                il.Emit(OpCodes.Conv_I4);
                il.Emit(OpCodes.Ldc_I4, 31);
                il.Emit(OpCodes.Shr);
                il.Emit(OpCodes.Conv_U4);
                il.Emit(OpCodes.Conv_U8);
                il.Emit(OpCodes.Stloc, regs[(int)Gpr.Rdx]!);
                break;
            default: // CQO
                il.Emit(OpCodes.Ldc_I4, 63);
                il.Emit(OpCodes.Shr);
                il.Emit(OpCodes.Stloc, regs[(int)Gpr.Rdx]!);
                break;
        }
    }

    /// <summary>
    /// Records lazy flags (what Flags.SetAdd/SetSub/SetAdc/SetSbb/SetLogic do) with direct field stores: less for
    /// the JIT than an inlined call, and logic results need no operands (nothing reads them for FlagOp.Logic).
    /// </summary>
    private void EmitSetFlags(FlagOp op, int size)
    {
        EmitStoreState(FlagOpField, null, (int)op);
        if (op != FlagOp.Logic)
        {
            EmitStoreState(FlagSrc1Field, tmpA);
            EmitStoreState(FlagSrc2Field, tmpB);
        }
        EmitStoreState(FlagResultField, tmpR);
        EmitStoreState(FlagSizeField, null, size);
    }

    /// <summary>state.field = <paramref name="value"/>, or the constant when no local is given.</summary>
    private void EmitStoreState(FieldInfo field, LocalBuilder? value, int constant = 0)
    {
        il.Emit(OpCodes.Ldloc, state);
        if (value is null) il.Emit(OpCodes.Ldc_I4, constant); else il.Emit(OpCodes.Ldloc, value);
        il.Emit(OpCodes.Stfld, field);
    }

    private void EmitPush(Action pushValue)
    {
        LocalBuilder rsp = regs[(int)Gpr.Rsp]!;
        // Store first, then move RSP: a faulting push leaves RSP unchanged.
        il.Emit(OpCodes.Ldloc, rsp);
        il.Emit(OpCodes.Ldc_I8, 8L);
        il.Emit(OpCodes.Sub);
        il.Emit(OpCodes.Stloc, address);
        il.Emit(OpCodes.Ldloc, address);
        pushValue();
        EmitTryWrite(8);
        il.Emit(OpCodes.Ldloc, address);
        il.Emit(OpCodes.Stloc, rsp);
    }

    private bool TryEmitMov(in Instruction ins)
    {
        int size = InlineSize(in ins, 0);
        if (size == 0) return false;
        OpKind k1 = ins.Op1Kind;
        if (k1 == OpKind.Register ? !IsInlineGpr(ins.Op1Register) : !IsImmediate(k1) && k1 != OpKind.Memory) return false;
        if (ins.Op0Kind == OpKind.Register)
        {
            if (k1 == OpKind.Register) LoadReg(ins.Op1Register);
            else if (IsImmediate(k1)) EmitImmediate(in ins, size);
            else EmitLoad(in ins, size);
            StoreReg(ins.Op0Register);
        }
        else
        {
            EmitAddress(in ins, withSegment: true);
            il.Emit(OpCodes.Stloc, address);
            il.Emit(OpCodes.Ldloc, address);
            if (k1 == OpKind.Register) LoadReg(ins.Op1Register);
            else EmitImmediate(in ins, size);
            EmitTryWrite(size);
        }
        fused = null;
        return true;
    }

    /// <summary>
    /// Pushes operand 1's immediate, zero-extended from <paramref name="size"/> bytes. An immediate the SMC policy
    /// made volatile (<see cref="DecodedBlock.VolatileImmediates"/>) is read from its frame each time the
    /// instruction runs, so a store that changes only those bytes needs no retranslation and still takes effect
    /// for the very next execution, as on x86.
    /// </summary>
    private void EmitImmediate(in Instruction ins, int size)
    {
        ulong mask = Operands.SizeMask(size);
        if (!IsVolatileImmediate(out int k) || !TryLocateImmediate(unit.Blocks[k], in ins, out int part, out int offset))
        {
            il.Emit(OpCodes.Ldc_I8, (long)(ins.GetImmediate(1) & mask));
            return;
        }
        LoadUnit();
        il.Emit(OpCodes.Ldfld, BlocksField);
        il.Emit(OpCodes.Ldc_I4, k);
        il.Emit(OpCodes.Ldelem_Ref);
        il.Emit(OpCodes.Ldc_I4, part);
        il.Emit(OpCodes.Call, PageOfMethod);
        il.Emit(OpCodes.Ldfld, PageDataField);
        il.Emit(OpCodes.Call, ArrayDataMethod);
        il.Emit(OpCodes.Ldc_I4, offset);
        il.Emit(OpCodes.Add);
        OpKind kind = ins.Op1Kind;
        int bytes = ImmediateBytes(kind);
        if (bytes > 1) il.Emit(OpCodes.Unaligned, (byte)1);
        bool signed = kind is OpKind.Immediate8to16 or OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32to64;
        il.Emit(bytes switch
        {
            1 => signed ? OpCodes.Ldind_I1 : OpCodes.Ldind_U1,
            2 => OpCodes.Ldind_U2,
            4 => signed ? OpCodes.Ldind_I4 : OpCodes.Ldind_U4,
            _ => OpCodes.Ldind_I8,
        });
        if (bytes < 8) il.Emit(signed ? OpCodes.Conv_I8 : OpCodes.Conv_U8);
        if (size < 8)
        {
            il.Emit(OpCodes.Ldc_I8, (long)mask);
            il.Emit(OpCodes.And);
        }
    }

    /// <summary>True if the current instruction's immediate is volatile; <paramref name="k"/> is its block's index.</summary>
    private bool IsVolatileImmediate(out int k)
    {
        int i = currentIndex;
        k = 0;
        while (i >= unit.Blocks[k].Count) i -= unit.Blocks[k++].Count;
        return i < 64 && (Volatile.Read(ref unit.Blocks[k].VolatileImmediates) >> i & 1) != 0;
    }

    /// <summary>
    /// True for instructions whose immediate the inline MOV/ALU emitters push through <see cref="EmitImmediate"/>
    /// (so marking it volatile makes translated code load it): the SMC policy marks nothing else.
    /// </summary>
    internal static bool LoadsImmediate(in Instruction ins) =>
        IsImmediate(ins.Op1Kind) && InlineSize(in ins, 0) != 0 && ins.Mnemonic switch
        {
            Mnemonic.Mov => true,
            Mnemonic.Adc or Mnemonic.Sbb => !ins.HasLockPrefix,
            _ => IsInlineFlagProducer(in ins),
        };

    /// <summary>Bytes the immediate operand <paramref name="kind"/> takes in the encoding (0 if not an immediate).</summary>
    internal static int ImmediateBytes(OpKind kind) => kind switch
    {
        OpKind.Immediate8 or OpKind.Immediate8to16 or OpKind.Immediate8to32 or OpKind.Immediate8to64 => 1,
        OpKind.Immediate16 => 2,
        OpKind.Immediate32 or OpKind.Immediate32to64 => 4,
        OpKind.Immediate64 => 8,
        _ => 0,
    };

    /// <summary>
    /// Where operand 1's immediate lies in <paramref name="block"/>'s frames: the last bytes of the encoding (true
    /// of every MOV/ALU immediate form), on one frame. False if it straddles a page boundary.
    /// </summary>
    internal static bool TryLocateImmediate(DecodedBlock block, in Instruction ins, out int part, out int offset)
    {
        int bytes = ImmediateBytes(ins.Op1Kind);
        ulong first = ins.NextIP - (ulong)bytes;
        part = (int)((first >> PhysicalPage.Shift) - (block.Start >> PhysicalPage.Shift));
        offset = (int)(first & PhysicalPage.OffsetMask);
        return bytes != 0 && part is 0 or 1 && part < block.PartCount && offset + bytes <= PhysicalPage.Size;
    }

    private bool TryEmitExtend(in Instruction ins)
    {
        if (ins.Op0Kind != OpKind.Register || !IsInlineGpr(ins.Op0Register)) return false;
        bool signed = ins.Mnemonic != Mnemonic.Movzx;
        int srcSize;
        if (ins.Op1Kind == OpKind.Register)
        {
            Register src = ins.Op1Register;
            if (src is >= Register.AH and <= Register.BH) return false;
            srcSize = Operands.GprSize(src);
            il.Emit(OpCodes.Ldloc, Reg(src));
        }
        else if (ins.Op1Kind == OpKind.Memory)
        {
            srcSize = ins.MemorySize.GetSize();
            EmitLoad(in ins, srcSize);
        }
        else return false;
        if (signed)
        {
            il.Emit(srcSize switch { 1 => OpCodes.Conv_I1, 2 => OpCodes.Conv_I2, _ => OpCodes.Conv_I4 });
            il.Emit(OpCodes.Conv_I8);
        }
        else
        {
            il.Emit(srcSize switch { 1 => OpCodes.Conv_U1, 2 => OpCodes.Conv_U2, _ => OpCodes.Conv_U4 });
            il.Emit(OpCodes.Conv_U8);
        }
        StoreReg(ins.Op0Register);
        fused = null;
        return true;
    }

    private bool TryEmitAlu(in Instruction ins, bool flagsLive)
    {
        bool withCarry = ins.Mnemonic is Mnemonic.Adc or Mnemonic.Sbb; // the caller put CF in the carry local
        if (!withCarry && !IsInlineFlagProducer(in ins)) return false;
        OpKind k0 = ins.Op0Kind, k1 = ins.Op1Kind;
        int size = InlineSize(in ins, 0);

        bool writes = ins.Mnemonic is not (Mnemonic.Cmp or Mnemonic.Test);
        // A memory source is read first, while tmpA/tmpB/tmpR still hold deferred flags for its fault stub.
        if (k1 == OpKind.Memory)
        {
            EmitLoad(in ins, size);
            il.Emit(OpCodes.Stloc, source);
        }
        // a = destination value
        LoadDestination(in ins, k0 == OpKind.Memory, size);
        il.Emit(OpCodes.Stloc, tmpA);
        deferred = null; // a memory destination is never a deferral end: flushed before
        // b = source value
        if (k1 == OpKind.Register) LoadReg(ins.Op1Register);
        else if (k1 == OpKind.Memory) il.Emit(OpCodes.Ldloc, source);
        else EmitImmediate(in ins, size);
        il.Emit(OpCodes.Stloc, tmpB);
        // r = a op b
        il.Emit(OpCodes.Ldloc, tmpA);
        il.Emit(OpCodes.Ldloc, tmpB);
        FlagOp op;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Add: il.Emit(OpCodes.Add); op = FlagOp.Add; break;
            case Mnemonic.Sub or Mnemonic.Cmp: il.Emit(OpCodes.Sub); op = FlagOp.Sub; break;
            case Mnemonic.Adc or Mnemonic.Sbb:
                il.Emit(ins.Mnemonic == Mnemonic.Adc ? OpCodes.Add : OpCodes.Sub);
                il.Emit(OpCodes.Ldloc, carry);
                il.Emit(OpCodes.Conv_U8);
                il.Emit(ins.Mnemonic == Mnemonic.Adc ? OpCodes.Add : OpCodes.Sub);
                op = ins.Mnemonic == Mnemonic.Adc ? FlagOp.Adc : FlagOp.Sbb;
                break;
            case Mnemonic.And or Mnemonic.Test: il.Emit(OpCodes.And); op = FlagOp.Logic; break;
            case Mnemonic.Or: il.Emit(OpCodes.Or); op = FlagOp.Logic; break;
            default: il.Emit(OpCodes.Xor); op = FlagOp.Logic; break;
        }
        ZeroExtend(size);
        il.Emit(OpCodes.Stloc, tmpR);
        if (writes)
        {
            StoreResult(in ins, k0 == OpKind.Memory, size);
        }
        fused = withCarry ? null : (op, size);
        if (flagsLive && !withCarry && deferrable[currentIndex]) deferred = fused;
        else if (flagsLive) EmitSetFlags(op, size);
        return true;
    }

    /// <summary>
    /// [address] on the stack → the loaded value: zero-extended to 64 bits, or a Vector128&lt;byte&gt; for
    /// <paramref name="size"/> 16. The soft-TLB hit path is plain IL (nothing for the JIT to inline); a miss calls
    /// the out-of-line slow path, and a fault goes to a stub. (The slow path's out parameter has a local of its
    /// own, so the value's local is never address-taken and stays in a register.)
    /// </summary>
    internal void EmitTryRead(int size)
    {
        Label miss = il.DefineLabel(), done = il.DefineLabel();
        bool vector = size == 16;
        LocalBuilder value = vector ? vectorValue ??= il.DeclareLocal(Xmm) : tlbValue;
        il.Emit(OpCodes.Stloc, tlbAddress);
        if (!accessesOutOfLine)
        {
            EmitTlbProbe(tlbRead, size, miss);
            if (vector)
            {
                il.Emit(OpCodes.Unaligned, (byte)1);
                il.Emit(OpCodes.Ldobj, Xmm);
            }
            else
            {
                il.Emit(size switch { 1 => OpCodes.Ldind_U1, 2 => OpCodes.Ldind_U2, 4 => OpCodes.Ldind_U4, _ => OpCodes.Ldind_I8 });
                il.Emit(OpCodes.Conv_U8);
            }
            il.Emit(OpCodes.Stloc, value);
            il.Emit(OpCodes.Br, done);
        }
        il.MarkLabel(miss);
        (LocalBuilder local, MethodInfo method) = size switch
        {
            1 => (load8, TryRead8),
            2 => (load16, TryRead16),
            4 => (load32, TryRead32),
            8 => (load64, TryRead64),
            _ => (vectorMiss ??= il.DeclareLocal(Xmm), TryRead128),
        };
        il.Emit(OpCodes.Ldloc, memory);
        il.Emit(OpCodes.Ldloc, tlbAddress);
        il.Emit(OpCodes.Ldloca, local);
        il.Emit(OpCodes.Call, method);
        il.Emit(OpCodes.Brfalse, FaultStub());
        il.Emit(OpCodes.Ldloc, local);
        if (!vector) il.Emit(OpCodes.Conv_U8);
        il.Emit(OpCodes.Stloc, value);
        il.MarkLabel(done);
        il.Emit(OpCodes.Ldloc, value);
    }

    /// <summary>
    /// [address, value] on the stack → stored; a fault goes to a stub. The value is a ulong, or a
    /// Vector128&lt;byte&gt; for <paramref name="size"/> 16. Pages holding code have no write entry, so their stores
    /// take the slow path (SMC).
    /// </summary>
    internal void EmitTryWrite(int size)
    {
        Label miss = il.DefineLabel(), done = il.DefineLabel();
        LocalBuilder value = size == 16 ? vectorValue ??= il.DeclareLocal(Xmm) : tlbValue;
        il.Emit(OpCodes.Stloc, value);
        il.Emit(OpCodes.Stloc, tlbAddress);
        if (!accessesOutOfLine)
        {
            EmitTlbProbe(tlbWrite, size, miss);
            il.Emit(OpCodes.Ldloc, value);
            if (size == 16)
            {
                il.Emit(OpCodes.Unaligned, (byte)1);
                il.Emit(OpCodes.Stobj, Xmm);
            }
            else il.Emit(size switch { 1 => OpCodes.Stind_I1, 2 => OpCodes.Stind_I2, 4 => OpCodes.Stind_I4, _ => OpCodes.Stind_I8 });
            il.Emit(OpCodes.Br, done);
        }
        il.MarkLabel(miss);
        // Publish the storing instruction (only the slow path can reach the SMC engine, since code frames have
        // no plain write entry): an SMC event names its writer and the engine knows which instruction runs.
        LoadCpu();
        il.Emit(OpCodes.Ldc_I8, (long)currentIp);
        il.Emit(OpCodes.Stfld, InstructionStartField);
        il.Emit(OpCodes.Ldloc, memory);
        il.Emit(OpCodes.Ldloc, tlbAddress);
        il.Emit(OpCodes.Ldloc, value);
        int sizeIndex = System.Numerics.BitOperations.Log2((uint)size);
        if (size < 8) il.Emit(size switch { 1 => OpCodes.Conv_U1, 2 => OpCodes.Conv_U2, _ => OpCodes.Conv_U4 });
        il.Emit(OpCodes.Call, (accessesOutOfLine ? OutOfLineWrites : MissWrites)[sizeIndex]);
        il.Emit(OpCodes.Brfalse, FaultStub());
        il.MarkLabel(done);
    }

    /// <summary>
    /// The TLB lookup for the address in tlbAddress: on a hit (same page, access inside it) pushes the host
    /// address of the guest byte (unaligned loads and stores are fine on x86-64); otherwise branches to
    /// <paramref name="miss"/> with an empty stack.
    /// </summary>
    private void EmitTlbProbe(LocalBuilder entries, int size, Label miss)
    {
        Debug.Assert(Unsafe.SizeOf<TlbEntry>() == 1 << EntryShift);
        // entry = ref entries[SoftTlb.Index(address >> 12)], as byref arithmetic: the index is in range by
        // construction (the arrays have Entries elements), so no bounds check.
        il.Emit(OpCodes.Ldloc, entries);
        il.Emit(OpCodes.Call, TlbDataMethod);
        il.Emit(OpCodes.Ldloc, tlbAddress);
        il.Emit(OpCodes.Ldc_I4, PhysicalPage.Shift);
        il.Emit(OpCodes.Shr_Un);
        il.Emit(OpCodes.Dup);
        il.Emit(OpCodes.Ldc_I4, SoftTlb.IndexBits);
        il.Emit(OpCodes.Shr_Un);
        il.Emit(OpCodes.Ldc_I4_1);
        il.Emit(OpCodes.Shl);
        il.Emit(OpCodes.Xor);
        il.Emit(OpCodes.Ldc_I8, (long)SoftTlb.IndexMask);
        il.Emit(OpCodes.And);
        il.Emit(OpCodes.Ldc_I4, EntryShift);
        il.Emit(OpCodes.Shl);
        il.Emit(OpCodes.Conv_I);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Stloc, tlbEntry);
        // One compare checks the entry and that the access stays inside its page: the entry sits at index
        // (first page & mask) and holds that page's number, so it can equal the page of the access's last
        // byte only if that is the first page (the next page, or a wrapped-around page 0, lives at another
        // index; invalid and code-tagged numbers match no address).
        il.Emit(OpCodes.Ldloc, tlbEntry);
        il.Emit(OpCodes.Ldfld, TlbVpnField);
        il.Emit(OpCodes.Ldloc, tlbAddress);
        if (size > 1)
        {
            il.Emit(OpCodes.Ldc_I8, (long)size - 1);
            il.Emit(OpCodes.Add);
        }
        il.Emit(OpCodes.Ldc_I4, PhysicalPage.Shift);
        il.Emit(OpCodes.Shr_Un);
        il.Emit(OpCodes.Bne_Un, miss);
        il.Emit(OpCodes.Ldloc, tlbEntry);
        il.Emit(OpCodes.Ldfld, TlbDataField);
        il.Emit(OpCodes.Call, ArrayDataMethod);
        il.Emit(OpCodes.Ldloc, tlbAddress);
        il.Emit(OpCodes.Ldc_I8, (long)PhysicalPage.OffsetMask);
        il.Emit(OpCodes.And);
        il.Emit(OpCodes.Conv_I);
        il.Emit(OpCodes.Add);
    }

    /// <summary>
    /// Pushes operand 0 (read-modify-write destination): from memory, keeping its address in the <c>address</c>
    /// local for <see cref="StoreResult"/>, or from its register.
    /// </summary>
    private void LoadDestination(in Instruction ins, bool inMemory, int size)
    {
        if (inMemory)
        {
            EmitAddress(in ins, withSegment: true);
            il.Emit(OpCodes.Stloc, address);
            il.Emit(OpCodes.Ldloc, address);
            EmitTryRead(size);
        }
        else LoadReg(ins.Op0Register);
    }

    /// <summary>
    /// Writes the result in <c>tmpR</c> back to operand 0: to memory at the <c>address</c> local (computed when the
    /// operand was read) or to its register.
    /// </summary>
    private void StoreResult(in Instruction ins, bool inMemory, int size)
    {
        if (inMemory)
        {
            il.Emit(OpCodes.Ldloc, address);
            il.Emit(OpCodes.Ldloc, tmpR);
            EmitTryWrite(size);
        }
        else
        {
            il.Emit(OpCodes.Ldloc, tmpR);
            StoreReg(ins.Op0Register);
        }
    }

    /// <summary>Stores <paramref name="value"/> (1, 2, 4 or 8 bytes) to the memory operand; a fault goes to a stub.</summary>
    internal void EmitStore(in Instruction ins, int size, LocalBuilder value)
    {
        EmitAddress(in ins, withSegment: true);
        il.Emit(OpCodes.Stloc, address);
        il.Emit(OpCodes.Ldloc, address);
        il.Emit(OpCodes.Ldloc, value);
        EmitTryWrite(size);
    }

    /// <summary>Loads the memory operand (1, 2, 4 or 8 bytes), zero-extended to 64 bits.</summary>
    internal void EmitLoad(in Instruction ins, int size)
    {
        EmitAddress(in ins, withSegment: true);
        EmitTryRead(size);
    }

    /// <summary>Pushes the effective address of the memory operand.</summary>
    internal void EmitAddress(in Instruction ins, bool withSegment)
    {
        il.Emit(OpCodes.Ldc_I8, (long)ins.MemoryDisplacement64);
        Register b = ins.MemoryBase, x = ins.MemoryIndex;
        if (b != Register.None && b != Register.RIP && b != Register.EIP)
        {
            LoadReg(b);
            il.Emit(OpCodes.Add);
        }
        if (x != Register.None)
        {
            LoadReg(x);
            int shift = ins.MemoryIndexScale switch { 1 => 0, 2 => 1, 4 => 2, _ => 3 };
            if (shift != 0)
            {
                il.Emit(OpCodes.Ldc_I4, shift);
                il.Emit(OpCodes.Shl);
            }
            il.Emit(OpCodes.Add);
        }
        if (withSegment && ins.SegmentPrefix is Register.FS or Register.GS)
        {
            il.Emit(OpCodes.Ldloc, state);
            il.Emit(OpCodes.Ldfld, ins.SegmentPrefix == Register.FS ? FsBaseField : GsBaseField);
            il.Emit(OpCodes.Add);
        }
        if (b.IsGPR32() || x.IsGPR32()) ZeroExtend32();
    }

    private static bool IsImmediate(OpKind k) =>
        k is OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32 or OpKind.Immediate64
            or OpKind.Immediate8to16 or OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32to64;

    // ---------------------------------------------------------------- conditions and flag liveness

    /// <summary>Pushes 1 if <paramref name="cc"/> holds, else 0 — from the previous compare when possible.</summary>
    private void EmitCondition(ConditionCode cc)
    {
        if (fused == BitTestFused)
        {
            if (cc is ConditionCode.b or ConditionCode.ae)
            {
                // CF = the tested bit of the operand's old value.
                il.Emit(OpCodes.Ldloc, tmpA);
                il.Emit(OpCodes.Ldloc, shiftCount);
                il.Emit(OpCodes.Shr_Un);
                il.Emit(OpCodes.Conv_I4);
                il.Emit(OpCodes.Ldc_I4_1);
                il.Emit(OpCodes.And);
                if (cc == ConditionCode.ae) Not();
                return;
            }
        }
        else if (fused is { } f && TryEmitFusedCondition(f.Op, f.Size, cc)) return;
        Debug.Assert(deferred is null, "deferred flags are not in the state yet");
        il.Emit(OpCodes.Ldloc, state);
        il.Emit(OpCodes.Ldc_I4, (int)cc);
        il.Emit(OpCodes.Call, ConditionMethod);
    }

    /// <summary>Can a JCC/SETcc/CMOVcc test <paramref name="cc"/> from the operands of an inline producer of <paramref name="op"/> (<see cref="TryEmitFusedCondition"/>)?</summary>
    private static bool CanFuse(FlagOp op, ConditionCode cc) => cc switch
    {
        ConditionCode.e or ConditionCode.ne or ConditionCode.s or ConditionCode.ns => true,
        ConditionCode.b or ConditionCode.ae => op == FlagOp.Sub,
        ConditionCode.a or ConditionCode.be or ConditionCode.l or ConditionCode.ge or ConditionCode.g or ConditionCode.le => op is FlagOp.Sub or FlagOp.Logic,
        _ => false,
    };

    private bool TryEmitFusedCondition(FlagOp op, int size, ConditionCode cc)
    {
        if (!CanFuse(op, cc)) return false;
        switch (op, cc)
        {
            case (_, ConditionCode.e):
                EmitSigned(tmpR, size); il.Emit(OpCodes.Ldc_I8, 0L); il.Emit(OpCodes.Ceq); return true;
            case (_, ConditionCode.ne):
                EmitSigned(tmpR, size); il.Emit(OpCodes.Ldc_I8, 0L); il.Emit(OpCodes.Ceq); Not(); return true;
            case (_, ConditionCode.s):
                EmitSigned(tmpR, size); il.Emit(OpCodes.Ldc_I8, 0L); il.Emit(OpCodes.Clt); return true;
            case (_, ConditionCode.ns):
                EmitSigned(tmpR, size); il.Emit(OpCodes.Ldc_I8, 0L); il.Emit(OpCodes.Clt); Not(); return true;
            case (FlagOp.Sub, ConditionCode.b): Compare(OpCodes.Clt_Un, false, size); return true;
            case (FlagOp.Sub, ConditionCode.ae): Compare(OpCodes.Clt_Un, true, size); return true;
            case (FlagOp.Sub, ConditionCode.a): Compare(OpCodes.Cgt_Un, false, size); return true;
            case (FlagOp.Sub, ConditionCode.be): Compare(OpCodes.Cgt_Un, true, size); return true;
            case (FlagOp.Sub, ConditionCode.l): Compare(OpCodes.Clt, false, size); return true;
            case (FlagOp.Sub, ConditionCode.ge): Compare(OpCodes.Clt, true, size); return true;
            case (FlagOp.Sub, ConditionCode.g): Compare(OpCodes.Cgt, false, size); return true;
            case (FlagOp.Sub, ConditionCode.le): Compare(OpCodes.Cgt, true, size); return true;
            case (FlagOp.Logic, ConditionCode.l):
                return TryEmitFusedCondition(op, size, ConditionCode.s);
            case (FlagOp.Logic, ConditionCode.ge):
                return TryEmitFusedCondition(op, size, ConditionCode.ns);
            case (FlagOp.Logic, ConditionCode.g):
                EmitSigned(tmpR, size); il.Emit(OpCodes.Ldc_I8, 0L); il.Emit(OpCodes.Cgt); return true;
            case (FlagOp.Logic, ConditionCode.le):
                EmitSigned(tmpR, size); il.Emit(OpCodes.Ldc_I8, 0L); il.Emit(OpCodes.Cgt); Not(); return true;
            case (FlagOp.Logic, ConditionCode.be):
                return TryEmitFusedCondition(op, size, ConditionCode.e);
            case (FlagOp.Logic, ConditionCode.a):
                return TryEmitFusedCondition(op, size, ConditionCode.ne);
            default:
                return false;
        }
    }

    /// <summary>Pushes the CF the previous inline ADD/SUB/logic instruction produced.</summary>
    private void EmitFusedCarry(FlagOp op)
    {
        switch (op)
        {
            case FlagOp.Add: // carry out of a + b: the (masked) result is below a
                il.Emit(OpCodes.Ldloc, tmpR);
                il.Emit(OpCodes.Ldloc, tmpA);
                il.Emit(OpCodes.Clt_Un);
                break;
            case FlagOp.Sub: // borrow: a < b
                il.Emit(OpCodes.Ldloc, tmpA);
                il.Emit(OpCodes.Ldloc, tmpB);
                il.Emit(OpCodes.Clt_Un);
                break;
            default:
                il.Emit(OpCodes.Ldc_I4_0);
                break;
        }
    }

    /// <summary>Compares the recorded operands a and b (signed compares on sign-extended values).</summary>
    private void Compare(OpCode compare, bool negate, int size)
    {
        bool signed = compare.Value == OpCodes.Clt.Value || compare.Value == OpCodes.Cgt.Value;
        if (signed)
        {
            EmitSigned(tmpA, size);
            EmitSigned(tmpB, size);
        }
        else
        {
            il.Emit(OpCodes.Ldloc, tmpA);
            il.Emit(OpCodes.Ldloc, tmpB);
        }
        il.Emit(compare);
        if (negate) Not();
    }

    private void EmitSigned(LocalBuilder value, int size)
    {
        il.Emit(OpCodes.Ldloc, value);
        if (size == 8) return;
        il.Emit(size switch { 1 => OpCodes.Conv_I1, 2 => OpCodes.Conv_I2, _ => OpCodes.Conv_I4 });
        il.Emit(OpCodes.Conv_I8);
    }

    private void Not()
    {
        il.Emit(OpCodes.Ldc_I4_0);
        il.Emit(OpCodes.Ceq);
    }

    /// <summary>
    /// Must instruction <paramref name="i"/>'s flags be recorded? Not if a later instruction of the block
    /// overwrites every status flag before anything reads them and nothing in between can fault or leave.
    /// </summary>
    private static bool FlagsLiveAfter(ReadOnlySpan<Instruction> code, int i)
    {
        for (int j = i + 1; j < code.Length; j++)
        {
            ref readonly Instruction next = ref code[j];
            if ((next.RflagsRead & StatusFlags) != 0) return true;
            if (MayFault(in next) || j == code.Length - 1 && next.FlowControl != FlowControl.Next) return true;
            if (WritesAllStatusFlags(in next)) return false;
            // An inline INC/DEC right after an inline ADD/SUB/logic takes CF from it directly.
            if (j == i + 1 && next.Mnemonic is Mnemonic.Inc or Mnemonic.Dec && next.Op0Kind == OpKind.Register
                && IsInlineGpr(next.Op0Register) && IsInlineFlagProducer(in code[i])) continue;
        }
        return true;
    }

    /// <summary>Does the instruction set all six status flags (none left as they were, none left undefined by Hv)?</summary>
    private static bool WritesAllStatusFlags(in Instruction ins) =>
        (ins.RflagsModified & StatusFlags) == StatusFlags && (ins.RflagsUndefined == RflagsBits.None || WritesEveryStatusFlag(in ins));

    /// <summary>
    /// Instructions that leave some status flags architecturally undefined but for which Hv (interpreter and
    /// inline code alike) always writes all six: AND/OR/XOR/TEST (AF cleared), MUL/IMUL (SetStatus of every
    /// flag) and SHL/SHR/SAR by a nonzero immediate count (AF cleared; a zero count changes nothing).
    /// </summary>
    private static bool WritesEveryStatusFlag(in Instruction ins) => ins.Mnemonic switch
    {
        Mnemonic.And or Mnemonic.Or or Mnemonic.Xor or Mnemonic.Test or Mnemonic.Mul or Mnemonic.Imul => true,
        Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar => ins.Op1Kind == OpKind.Immediate8
            && (ins.Immediate8 & (InlineSize(in ins, 0) == 8 ? 63 : 31)) != 0,
        _ => false,
    };

    /// <summary>Instructions <see cref="TryEmitAlu"/> emits inline (so their operands are in tmpA/tmpB/tmpR).</summary>
    private static bool IsInlineFlagProducer(in Instruction ins) =>
        ins.Mnemonic is Mnemonic.Add or Mnemonic.Sub or Mnemonic.And or Mnemonic.Or or Mnemonic.Xor or Mnemonic.Cmp or Mnemonic.Test
        && !ins.HasLockPrefix
        && InlineSize(in ins, 0) != 0
        && (ins.Op1Kind == OpKind.Register ? IsInlineGpr(ins.Op1Register)
            : IsImmediate(ins.Op1Kind) || ins.Op1Kind == OpKind.Memory && ins.Op0Kind == OpKind.Register);

    /// <summary>
    /// Can this instruction raise a guest fault? Not the integer instructions below with only register and
    /// immediate operands (nor LEA/NOP, which never access memory); anything else conservatively may.
    /// </summary>
    private static bool MayFault(in Instruction ins)
    {
        if (ins.Mnemonic is Mnemonic.Add or Mnemonic.Sub or Mnemonic.And or Mnemonic.Or or Mnemonic.Xor or Mnemonic.Cmp
            or Mnemonic.Test or Mnemonic.Inc or Mnemonic.Dec or Mnemonic.Mov or Mnemonic.Lea or Mnemonic.Movzx
            or Mnemonic.Movsx or Mnemonic.Movsxd or Mnemonic.Nop or Mnemonic.Adc or Mnemonic.Sbb or Mnemonic.Neg
            or Mnemonic.Not or Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol
            or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr or Mnemonic.Shld or Mnemonic.Shrd or Mnemonic.Imul
            or Mnemonic.Mul or Mnemonic.Bswap or Mnemonic.Xchg or Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr
            or Mnemonic.Btc or Mnemonic.Bsf or Mnemonic.Bsr or Mnemonic.Tzcnt or Mnemonic.Lzcnt or Mnemonic.Popcnt
            or Mnemonic.Cdqe or Mnemonic.Cwde or Mnemonic.Cdq or Mnemonic.Cqo
            || ins.ConditionCode != ConditionCode.None && ins.FlowControl == FlowControl.Next
                && ins.Op0Kind == OpKind.Register && ins.Op0Register.IsGPR()) // SETcc, CMOVcc
        {
            for (int op = 0; op < ins.OpCount; op++)
                if (ins.GetOpKind(op) != OpKind.Register && !IsImmediate(ins.GetOpKind(op))) return ins.Mnemonic != Mnemonic.Lea && ins.Mnemonic != Mnemonic.Nop;
            return false;
        }
        return true;
    }

    /// <summary>Conservatively: can this instruction store to guest memory (and so hit code)?</summary>
    internal static bool MayWriteMemory(in Instruction ins)
    {
        if (ins.Mnemonic is Mnemonic.Syscall or Mnemonic.Push or Mnemonic.Pushfq or Mnemonic.Call or Mnemonic.Enter
            or Mnemonic.Maskmovq or Mnemonic.Maskmovdqu) return true;
        // An explicit memory destination is always operand 0 (Intel operand order); a memory source elsewhere
        // (loads, compares, LEA) writes nothing.
        if (ins.OpCount > 0 && ins.Op0Kind == OpKind.Memory && ins.Mnemonic is not (Mnemonic.Lea or Mnemonic.Nop or Mnemonic.Cmp or Mnemonic.Test))
            return true;
        for (int i = 0; i < ins.OpCount; i++)
        {
            OpKind k = ins.GetOpKind(i);
            if (k is OpKind.MemoryESRDI or OpKind.MemoryESEDI or OpKind.MemoryESDI) return true;
        }
        // x87/SSE stores with implicit memory and FXSAVE are covered by OpKind.Memory.
        return !InstructionTable.IsImplemented(in ins);
    }
}
