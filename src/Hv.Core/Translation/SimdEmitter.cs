using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Hv.Core.Cpu;
using Hv.Core.Interpretation.Simd;
using Hv.Core.Memory;
using Iced.Intel;
using Label = System.Reflection.Emit.Label;

namespace Hv.Core.Translation;

/// <summary>
/// Inline IL for the integer and bitwise SSE2 instructions that compiled C code runs in its hot loops (string
/// scans, vectorized integer arithmetic, moves). They do not depend on MXCSR, so the host's SSE2 through
/// System.Runtime.Intrinsics is exact; floating-point SSE goes through <see cref="FloatEmitter"/>.
/// XMM registers are the unit's vector locals (<see cref="UnitCompiler.LoadXmm"/>); the guest's FXSAVE image holds
/// them only outside the unit and around the handlers that use them.
/// </summary>
internal sealed class SimdEmitter
{
    private static readonly Type V8 = typeof(Vector128<byte>);

    /// <summary>Two-operand "xmm = op(xmm, xmm/m128)" instructions: host method and the vector type it takes.</summary>
    private static readonly Dictionary<Mnemonic, (MethodInfo Method, Type Operand)> Binary = BuildBinary();

    private static readonly FieldInfo FpuPointerField = typeof(FpuState).GetField(nameof(FpuState.pointer), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo FpuField = typeof(CpuState).GetField(nameof(CpuState.Fpu))!;
    private static readonly MethodInfo MoveMask = typeof(Sse2).GetMethod(nameof(Sse2.MoveMask), [typeof(Vector128<byte>)])!;
    private static readonly MethodInfo ShufpsMethod = typeof(Sse).GetMethod(nameof(Sse.Shuffle), [typeof(Vector128<float>), typeof(Vector128<float>), typeof(byte)])!;
    private static readonly MethodInfo PshufdMethod = typeof(Sse2).GetMethod(nameof(Sse2.Shuffle), [typeof(Vector128<uint>), typeof(byte)])!;
    private static readonly MethodInfo MisalignedMethod = typeof(SimdEmitter).GetMethod(nameof(SetMisaligned), BindingFlags.Static | BindingFlags.NonPublic)!;

    private readonly UnitCompiler compiler;
    private readonly ILGenerator il;
    private LocalBuilder? fpu, vector;

    public SimdEmitter(UnitCompiler compiler)
    {
        this.compiler = compiler;
        il = compiler.IL;
    }

    /// <summary>
    /// Unit entry: loads the address of the guest's FXSAVE image (pinned, so it stays valid for the unit's life).
    /// </summary>
    public void EmitPrologue()
    {
        fpu = il.DeclareLocal(typeof(byte*));
        il.Emit(OpCodes.Ldloc, compiler.StateLocal);
        il.Emit(OpCodes.Ldfld, FpuField);
        il.Emit(OpCodes.Ldfld, FpuPointerField);
        il.Emit(OpCodes.Stloc, fpu);
    }

    public static bool TryGetBinary(Mnemonic m, out (MethodInfo Method, Type Operand) op) => Binary.TryGetValue(m, out op);

    /// <summary>"xmm = op(xmm, imm8)" shifts: host method (vector, byte) and the vector type it takes.</summary>
    private static readonly Dictionary<Mnemonic, (MethodInfo Method, Type Operand)> ShiftImmediate = BuildShifts();

    public static bool IsShiftImmediate(Mnemonic m) => ShiftImmediate.ContainsKey(m);

    public static bool IsMove(Mnemonic m) =>
        m is Mnemonic.Movdqa or Mnemonic.Movdqu or Mnemonic.Movaps or Mnemonic.Movups or Mnemonic.Movapd or Mnemonic.Movupd;

    private static bool IsAlignedMove(Mnemonic m) => m is Mnemonic.Movdqa or Mnemonic.Movaps or Mnemonic.Movapd;

    /// <summary>Emits the instruction inline, or returns false (nothing emitted) for forms it does not handle.</summary>
    public bool TryEmit(in Instruction ins)
    {
        if (ins.Encoding != EncodingKind.Legacy) return false;
        if (ins.Mnemonic == Mnemonic.Pmovmskb)
        {
            if (!ins.Op1Register.IsXMM() || !compiler.IsInlineRegister(ins.Op0Register)) return false;
            LoadXmm(ins.Op1Register, V8);
            il.Emit(OpCodes.Call, MoveMask);
            il.Emit(OpCodes.Conv_U8);
            compiler.StoreReg(ins.Op0Register);
            return true;
        }
        if (IsMove(ins.Mnemonic)) return TryEmitMove(in ins);
        if (ins.Mnemonic is Mnemonic.Shufps or Mnemonic.Pshufd) return TryEmitShuffle(in ins);
        if (ShiftImmediate.TryGetValue(ins.Mnemonic, out var shift))
        {
            if (ins.Op0Kind != OpKind.Register || !ins.Op0Register.IsXMM() || ins.Op1Kind != OpKind.Immediate8) return false;
            LoadXmm(ins.Op0Register, shift.Operand);
            il.Emit(OpCodes.Ldc_I4, (int)ins.Immediate8);
            il.Emit(OpCodes.Conv_U1);
            il.Emit(OpCodes.Call, shift.Method);
            StoreXmm(ins.Op0Register, shift.Method.ReturnType);
            return true;
        }
        if (!Binary.TryGetValue(ins.Mnemonic, out var op) || ins.Op0Kind != OpKind.Register || !ins.Op0Register.IsXMM()) return false;
        if (ins.Op1Kind == OpKind.Memory)
        {
            if (ins.MemorySize.GetSize() != 16) return false;
            EmitReadOperand(in ins, aligned: true); // legacy SSE: a 16-byte memory operand must be aligned
        }
        else if (!ins.Op1Register.IsXMM()) return false;
        // [dst value, src value] → op → dst
        LoadXmm(ins.Op0Register, op.Operand);
        if (ins.Op1Kind == OpKind.Memory) LoadReadOperand(op.Operand);
        else LoadXmm(ins.Op1Register, op.Operand);
        il.Emit(OpCodes.Call, op.Method);
        StoreXmm(ins.Op0Register, op.Method.ReturnType);
        return true;
    }

    /// <summary>SHUFPS (low half from the destination, high half from the source) and PSHUFD: pure bit moves.</summary>
    private bool TryEmitShuffle(in Instruction ins)
    {
        if (ins.Op0Kind != OpKind.Register || !ins.Op0Register.IsXMM() || ins.Op2Kind != OpKind.Immediate8) return false;
        bool pshufd = ins.Mnemonic == Mnemonic.Pshufd;
        Type type = pshufd ? typeof(Vector128<uint>) : typeof(Vector128<float>);
        if (ins.Op1Kind == OpKind.Memory) EmitReadOperand(in ins, aligned: true);
        else if (!ins.Op1Register.IsXMM()) return false;
        if (!pshufd) LoadXmm(ins.Op0Register, type);
        if (ins.Op1Kind == OpKind.Memory) LoadReadOperand(type);
        else LoadXmm(ins.Op1Register, type);
        il.Emit(OpCodes.Ldc_I4, (int)ins.Immediate8);
        il.Emit(OpCodes.Conv_U1);
        il.Emit(OpCodes.Call, pshufd ? PshufdMethod : ShufpsMethod);
        StoreXmm(ins.Op0Register, type);
        return true;
    }

    private bool TryEmitMove(in Instruction ins)
    {
        bool aligned = IsAlignedMove(ins.Mnemonic);
        if (ins.Op0Kind == OpKind.Register && ins.Op0Register.IsXMM())
        {
            if (ins.Op1Kind == OpKind.Memory)
            {
                EmitReadOperand(in ins, aligned);
                il.Emit(OpCodes.Ldloc, vector!);
            }
            else if (ins.Op1Register.IsXMM()) LoadXmm(ins.Op1Register, V8);
            else return false;
            StoreXmm(ins.Op0Register, V8);
            return true;
        }
        if (ins.Op0Kind == OpKind.Memory && ins.Op1Register.IsXMM() && ins.MemorySize.GetSize() == 16)
        {
            EmitOperandAddress(in ins, aligned);
            il.Emit(OpCodes.Ldloc, compiler.AddressLocal);
            LoadXmm(ins.Op1Register, V8);
            compiler.EmitTryWrite(16);
            return true;
        }
        return false;
    }

    /// <summary>Computes the memory operand's address into the address local, checking 16-byte alignment if required.</summary>
    private void EmitOperandAddress(in Instruction ins, bool aligned)
    {
        compiler.EmitAddress(in ins, withSegment: true);
        il.Emit(OpCodes.Stloc, compiler.AddressLocal);
        if (!aligned) return;
        Label ok = il.DefineLabel();
        il.Emit(OpCodes.Ldloc, compiler.AddressLocal);
        il.Emit(OpCodes.Ldc_I8, 15L);
        il.Emit(OpCodes.And);
        il.Emit(OpCodes.Ldc_I8, 0L);
        il.Emit(OpCodes.Beq, ok);
        il.Emit(OpCodes.Ldloc, compiler.MemoryLocal);
        il.Emit(OpCodes.Ldloc, compiler.AddressLocal);
        il.Emit(OpCodes.Call, MisalignedMethod);
        il.Emit(OpCodes.Br, compiler.FaultStub());
        il.MarkLabel(ok);
    }

    /// <summary>Pushes the operand <see cref="EmitReadOperand"/> read, as the vector type <paramref name="type"/>.</summary>
    internal void LoadReadOperand(Type type)
    {
        il.Emit(OpCodes.Ldloc, vector!);
        if (type != V8) il.Emit(OpCodes.Call, VectorCast.From(type));
    }

    /// <summary>Reads the 16-byte memory operand into the vector local (IL stack empty before and after).</summary>
    internal void EmitReadOperand(in Instruction ins, bool aligned)
    {
        vector ??= il.DeclareLocal(V8);
        EmitOperandAddress(in ins, aligned);
        il.Emit(OpCodes.Ldloc, compiler.AddressLocal);
        compiler.EmitTryRead(16);
        il.Emit(OpCodes.Stloc, vector);
    }

    /// <summary>Pushes the address of XMM register <paramref name="r"/> in the FXSAVE image (its home outside the unit).</summary>
    internal void XmmPointer(Register r) => FpuPointer(FpuState.XmmOffset + 16 * (r - Register.XMM0));

    /// <summary>Pushes the address of byte <paramref name="offset"/> of the FXSAVE image.</summary>
    internal void FpuPointer(int offset)
    {
        il.Emit(OpCodes.Ldloc, fpu!);
        il.Emit(OpCodes.Ldc_I4, offset);
        il.Emit(OpCodes.Add);
    }

    private void LoadXmm(Register r, Type type) => compiler.LoadXmm(r, type);

    private void StoreXmm(Register r, Type type) => compiler.StoreXmm(r, type);

    /// <summary>Records the #GP the interpreter raises for a misaligned operand.</summary>
    private static void SetMisaligned(GuestMemory memory, ulong address) => memory.PendingFault = SimdUnit.Misaligned(address).Fault;

    private static Dictionary<Mnemonic, (MethodInfo, Type)> BuildShifts()
    {
        var d = new Dictionary<Mnemonic, (MethodInfo, Type)>();
        void Add<T>(Mnemonic m, string name) where T : struct
        {
            Type v = typeof(Vector128<T>);
            MethodInfo? method = typeof(Sse2).GetMethod(name, [v, typeof(byte)]);
            if (method is not null) d[m] = (method, v);
        }
        // The host instructions have the guest's semantics for every count (counts past the width give 0, or
        // the sign for arithmetic shifts), so the immediate passes through unchanged.
        Add<ushort>(Mnemonic.Psrlw, nameof(Sse2.ShiftRightLogical));
        Add<uint>(Mnemonic.Psrld, nameof(Sse2.ShiftRightLogical));
        Add<ulong>(Mnemonic.Psrlq, nameof(Sse2.ShiftRightLogical));
        Add<ushort>(Mnemonic.Psllw, nameof(Sse2.ShiftLeftLogical));
        Add<uint>(Mnemonic.Pslld, nameof(Sse2.ShiftLeftLogical));
        Add<ulong>(Mnemonic.Psllq, nameof(Sse2.ShiftLeftLogical));
        Add<short>(Mnemonic.Psraw, nameof(Sse2.ShiftRightArithmetic));
        Add<int>(Mnemonic.Psrad, nameof(Sse2.ShiftRightArithmetic));
        Add<byte>(Mnemonic.Psrldq, nameof(Sse2.ShiftRightLogical128BitLane));
        Add<byte>(Mnemonic.Pslldq, nameof(Sse2.ShiftLeftLogical128BitLane));
        return d;
    }

    private static Dictionary<Mnemonic, (MethodInfo, Type)> BuildBinary()
    {
        var d = new Dictionary<Mnemonic, (MethodInfo, Type)>();
        void Add<T>(Mnemonic m, string name, Type host) where T : struct
        {
            Type v = typeof(Vector128<T>);
            MethodInfo? method = host.GetMethod(name, [v, v]);
            if (method is not null) d[m] = (method, v);
        }
        foreach (Mnemonic m in new[] { Mnemonic.Pxor, Mnemonic.Xorps, Mnemonic.Xorpd }) Add<byte>(m, nameof(Sse2.Xor), typeof(Sse2));
        foreach (Mnemonic m in new[] { Mnemonic.Por, Mnemonic.Orps, Mnemonic.Orpd }) Add<byte>(m, nameof(Sse2.Or), typeof(Sse2));
        foreach (Mnemonic m in new[] { Mnemonic.Pand, Mnemonic.Andps, Mnemonic.Andpd }) Add<byte>(m, nameof(Sse2.And), typeof(Sse2));
        foreach (Mnemonic m in new[] { Mnemonic.Pandn, Mnemonic.Andnps, Mnemonic.Andnpd }) Add<byte>(m, nameof(Sse2.AndNot), typeof(Sse2));
        Add<byte>(Mnemonic.Paddb, nameof(Sse2.Add), typeof(Sse2));
        Add<ushort>(Mnemonic.Paddw, nameof(Sse2.Add), typeof(Sse2));
        Add<uint>(Mnemonic.Paddd, nameof(Sse2.Add), typeof(Sse2));
        Add<ulong>(Mnemonic.Paddq, nameof(Sse2.Add), typeof(Sse2));
        Add<byte>(Mnemonic.Psubb, nameof(Sse2.Subtract), typeof(Sse2));
        Add<ushort>(Mnemonic.Psubw, nameof(Sse2.Subtract), typeof(Sse2));
        Add<uint>(Mnemonic.Psubd, nameof(Sse2.Subtract), typeof(Sse2));
        Add<ulong>(Mnemonic.Psubq, nameof(Sse2.Subtract), typeof(Sse2));
        Add<byte>(Mnemonic.Pcmpeqb, nameof(Sse2.CompareEqual), typeof(Sse2));
        Add<ushort>(Mnemonic.Pcmpeqw, nameof(Sse2.CompareEqual), typeof(Sse2));
        Add<uint>(Mnemonic.Pcmpeqd, nameof(Sse2.CompareEqual), typeof(Sse2));
        Add<sbyte>(Mnemonic.Pcmpgtb, nameof(Sse2.CompareGreaterThan), typeof(Sse2));
        Add<short>(Mnemonic.Pcmpgtw, nameof(Sse2.CompareGreaterThan), typeof(Sse2));
        Add<int>(Mnemonic.Pcmpgtd, nameof(Sse2.CompareGreaterThan), typeof(Sse2));
        Add<byte>(Mnemonic.Pminub, nameof(Sse2.Min), typeof(Sse2));
        Add<byte>(Mnemonic.Pmaxub, nameof(Sse2.Max), typeof(Sse2));
        Add<short>(Mnemonic.Pminsw, nameof(Sse2.Min), typeof(Sse2));
        Add<short>(Mnemonic.Pmaxsw, nameof(Sse2.Max), typeof(Sse2));
        Add<byte>(Mnemonic.Punpcklbw, nameof(Sse2.UnpackLow), typeof(Sse2));
        Add<ushort>(Mnemonic.Punpcklwd, nameof(Sse2.UnpackLow), typeof(Sse2));
        Add<uint>(Mnemonic.Punpckldq, nameof(Sse2.UnpackLow), typeof(Sse2));
        Add<ulong>(Mnemonic.Punpcklqdq, nameof(Sse2.UnpackLow), typeof(Sse2));
        Add<byte>(Mnemonic.Punpckhbw, nameof(Sse2.UnpackHigh), typeof(Sse2));
        Add<ushort>(Mnemonic.Punpckhwd, nameof(Sse2.UnpackHigh), typeof(Sse2));
        Add<uint>(Mnemonic.Punpckhdq, nameof(Sse2.UnpackHigh), typeof(Sse2));
        Add<ulong>(Mnemonic.Punpckhqdq, nameof(Sse2.UnpackHigh), typeof(Sse2));
        // Floating-point unpacks only move bits: the integer forms give the same result.
        Add<ulong>(Mnemonic.Unpcklpd, nameof(Sse2.UnpackLow), typeof(Sse2));
        Add<ulong>(Mnemonic.Unpckhpd, nameof(Sse2.UnpackHigh), typeof(Sse2));
        Add<uint>(Mnemonic.Unpcklps, nameof(Sse2.UnpackLow), typeof(Sse2));
        Add<uint>(Mnemonic.Unpckhps, nameof(Sse2.UnpackHigh), typeof(Sse2));
        Add<short>(Mnemonic.Packuswb, nameof(Sse2.PackUnsignedSaturate), typeof(Sse2));
        Add<short>(Mnemonic.Packsswb, nameof(Sse2.PackSignedSaturate), typeof(Sse2));
        Add<int>(Mnemonic.Packssdw, nameof(Sse2.PackSignedSaturate), typeof(Sse2));
        Add<short>(Mnemonic.Pmullw, nameof(Sse2.MultiplyLow), typeof(Sse2));
        Add<uint>(Mnemonic.Pmuludq, nameof(Sse2.Multiply), typeof(Sse2));
        Add<byte>(Mnemonic.Pavgb, nameof(Sse2.Average), typeof(Sse2));
        if (Ssse3.IsSupported) Add<sbyte>(Mnemonic.Pshufb, nameof(Ssse3.Shuffle), typeof(Ssse3));
        return d;
    }
}
