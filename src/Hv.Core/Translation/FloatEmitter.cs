using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.Intrinsics;
using Hv.Core.Cpu;
using Hv.Core.Interpretation;
using Iced.Intel;
using Label = System.Reflection.Emit.Label;

namespace Hv.Core.Translation;

/// <summary>
/// Inline IL for scalar SSE moves and the SSE floating-point instructions of compiled C loops. Moves are exact
/// bit copies. Arithmetic runs a <see cref="FloatOps"/> fast path that is exact whenever it reports success
/// (see there); otherwise — an unusual operand or result, or a guest MXCSR that is not round-to-nearest with
/// PE masked and already set — the instruction runs through its interpreter handler (the host thunk), which
/// computes every flag, honours DAZ/FTZ and raises unmasked exceptions exactly as before.
/// </summary>
internal sealed class FloatEmitter
{
    /// <summary>Arithmetic by mnemonic: the fast-path helper and whether it depends on MXCSR (rounding, PE).</summary>
    private static readonly Dictionary<Mnemonic, (string Helper, bool Mxcsr)> Arithmetic = new()
    {
        [Mnemonic.Addsd] = (nameof(FloatOps.Addsd), true), [Mnemonic.Subsd] = (nameof(FloatOps.Subsd), true),
        [Mnemonic.Mulsd] = (nameof(FloatOps.Mulsd), true), [Mnemonic.Divsd] = (nameof(FloatOps.Divsd), true),
        [Mnemonic.Sqrtsd] = (nameof(FloatOps.Sqrtsd), true), [Mnemonic.Minsd] = (nameof(FloatOps.Minsd), false),
        [Mnemonic.Maxsd] = (nameof(FloatOps.Maxsd), false),
        [Mnemonic.Addss] = (nameof(FloatOps.Addss), true), [Mnemonic.Subss] = (nameof(FloatOps.Subss), true),
        [Mnemonic.Mulss] = (nameof(FloatOps.Mulss), true), [Mnemonic.Divss] = (nameof(FloatOps.Divss), true),
        [Mnemonic.Sqrtss] = (nameof(FloatOps.Sqrtss), true), [Mnemonic.Minss] = (nameof(FloatOps.Minss), false),
        [Mnemonic.Maxss] = (nameof(FloatOps.Maxss), false),
        [Mnemonic.Addpd] = (nameof(FloatOps.Addpd), true), [Mnemonic.Subpd] = (nameof(FloatOps.Subpd), true),
        [Mnemonic.Mulpd] = (nameof(FloatOps.Mulpd), true), [Mnemonic.Divpd] = (nameof(FloatOps.Divpd), true),
        [Mnemonic.Cvtss2sd] = (nameof(FloatOps.Cvtss2sd), false), [Mnemonic.Cvtsd2ss] = (nameof(FloatOps.Cvtsd2ss), true),
        [Mnemonic.Cvtsi2sd] = (nameof(FloatOps.Cvtsi2sd), true), [Mnemonic.Cvtsi2ss] = (nameof(FloatOps.Cvtsi2ss), true),
        [Mnemonic.Ucomisd] = (nameof(FloatOps.Comisd), false), [Mnemonic.Comisd] = (nameof(FloatOps.Comisd), false),
        [Mnemonic.Ucomiss] = (nameof(FloatOps.Comiss), false), [Mnemonic.Comiss] = (nameof(FloatOps.Comiss), false),
        [Mnemonic.Cvttsd2si] = ("Cvttsd2si", true), [Mnemonic.Cvttss2si] = ("Cvttss2si", true),
    };

    private static readonly MethodInfo SetStatusMethod = typeof(Flags).GetMethod(nameof(Flags.SetStatus))!;
    private static readonly MethodInfo BitsToDouble = typeof(BitConverter).GetMethod(nameof(BitConverter.UInt64BitsToDouble))!;
    private static readonly MethodInfo BitsToSingle = typeof(BitConverter).GetMethod(nameof(BitConverter.UInt32BitsToSingle))!;
    private static readonly MethodInfo LowDouble = XmmLanes.Method(nameof(XmmLanes.LowDouble)), LowSingle = XmmLanes.Method(nameof(XmmLanes.LowSingle));
    private static readonly MethodInfo Low64 = XmmLanes.Method(nameof(XmmLanes.Low64)), Low32 = XmmLanes.Method(nameof(XmmLanes.Low32));
    private static readonly MethodInfo WithLowDouble = XmmLanes.Method(nameof(XmmLanes.WithLowDouble)), WithLowSingle = XmmLanes.Method(nameof(XmmLanes.WithLowSingle));
    private static readonly MethodInfo WithLow64 = XmmLanes.Method(nameof(XmmLanes.WithLow64)), WithLow32 = XmmLanes.Method(nameof(XmmLanes.WithLow32));
    private static readonly MethodInfo Scalar = XmmLanes.Method(nameof(XmmLanes.Scalar));
    private static readonly Type Xmm = typeof(Vector128<byte>);

    private readonly UnitCompiler compiler;
    private readonly SimdEmitter simd;
    private readonly ILGenerator il;
    private readonly Dictionary<Type, LocalBuilder> locals = [];

    public FloatEmitter(UnitCompiler compiler, SimdEmitter simd)
    {
        this.compiler = compiler;
        this.simd = simd;
        il = compiler.IL;
    }

    /// <summary>Does this emitter handle the mnemonic (for some operand forms)?</summary>
    public static bool Handles(Mnemonic m) => Arithmetic.ContainsKey(m) || IsScalarMove(m);

    private static bool IsScalarMove(Mnemonic m) => m is Mnemonic.Movsd or Mnemonic.Movss or Mnemonic.Movq or Mnemonic.Movd;

    /// <summary>Emits the instruction inline, or returns false (nothing emitted) for forms it does not handle.</summary>
    public bool TryEmit(in Instruction ins)
    {
        if (ins.Encoding != EncodingKind.Legacy || ins.OpCount != 2) return false;
        if (IsScalarMove(ins.Mnemonic)) return TryEmitMove(in ins);
        if (compiler.ColdBaseline) return false;
        (string name, bool mxcsr) = Arithmetic[ins.Mnemonic];
        Register r0 = ins.Op0Register;
        if (ins.Mnemonic is Mnemonic.Cvttsd2si or Mnemonic.Cvttss2si)
        {
            if (!compiler.IsInlineRegister(r0)) return false;
            name += r0.IsGPR64() ? "64" : "32";
        }
        else if (!r0.IsXMM()) return false;
        if (ins.Op1Kind == OpKind.Register && !(ins.Op1Register.IsXMM() || compiler.IsInlineRegister(ins.Op1Register))) return false;
        EmitArithmetic(in ins, typeof(FloatOps).GetMethod(name)!, mxcsr);
        return true;
    }

    private LocalBuilder Local(Type t)
    {
        if (!locals.TryGetValue(t, out LocalBuilder? l)) locals[t] = l = il.DeclareLocal(t);
        return l;
    }

    /// <summary>
    /// [source → local] (may fault, on an empty stack); helper(dest?, source, out result) and [MXCSR check]; on
    /// success commit the result, else run the handler.
    /// </summary>
    private void EmitArithmetic(in Instruction ins, MethodInfo helper, bool mxcsr)
    {
        ParameterInfo[] ps = helper.GetParameters();
        Type source = ps[^2].ParameterType, result = ps[^1].ParameterType.GetElementType()!;
        LocalBuilder b = Local(source), r = Local(result);
        Label slow = il.DefineLabel(), done = il.DefineLabel();
        EmitSource(in ins, source);
        il.Emit(OpCodes.Stloc, b);
        if (ps.Length == 3) LoadXmm(ins.Op0Register, ps[0].ParameterType);
        il.Emit(OpCodes.Ldloc, b);
        il.Emit(OpCodes.Ldloca, r);
        il.Emit(OpCodes.Call, helper);
        if (mxcsr) // and the MXCSR test, in the same branch (the helper's result is unused when it fails)
        {
            simd.FpuPointer(FpuState.MxcsrOffset);
            il.Emit(OpCodes.Ldind_U4);
            il.Emit(OpCodes.Ldc_I4, unchecked((int)FloatOps.MxcsrMask));
            il.Emit(OpCodes.And);
            il.Emit(OpCodes.Ldc_I4, (int)FloatOps.MxcsrFast);
            il.Emit(OpCodes.Ceq);
            il.Emit(OpCodes.And);
        }
        il.Emit(OpCodes.Brfalse, slow);
        if (result == typeof(ulong)) // COMIS: the status flags
        {
            il.Emit(OpCodes.Ldloc, compiler.StateLocal);
            il.Emit(OpCodes.Ldloc, r);
            il.Emit(OpCodes.Call, SetStatusMethod);
        }
        else if (result == typeof(long)) // CVTT*2SI
        {
            il.Emit(OpCodes.Ldloc, r);
            compiler.StoreReg(ins.Op0Register);
        }
        else if (result == typeof(Vector128<double>))
        {
            il.Emit(OpCodes.Ldloc, r);
            compiler.StoreXmm(ins.Op0Register, result);
        }
        else // a scalar into the low lane; the rest of the register stays
        {
            compiler.LoadXmm(ins.Op0Register, Xmm);
            il.Emit(OpCodes.Ldloc, r);
            il.Emit(OpCodes.Call, result == typeof(double) ? WithLowDouble : WithLowSingle);
            compiler.StoreXmm(ins.Op0Register, Xmm);
        }
        il.Emit(OpCodes.Br, done);
        il.MarkLabel(slow);
        compiler.EmitHandlerCall(in ins);
        il.MarkLabel(done);
    }

    /// <summary>Pushes operand 1 as <paramref name="type"/>: double/float (xmm low or memory), a vector, or a signed integer.</summary>
    private void EmitSource(in Instruction ins, Type type)
    {
        if (type == typeof(Vector128<double>))
        {
            if (ins.Op1Kind == OpKind.Memory)
            {
                simd.EmitReadOperand(in ins, aligned: true);
                simd.LoadReadOperand(type);
            }
            else LoadXmm(ins.Op1Register, type);
            return;
        }
        if (type == typeof(long))
        {
            int size = ins.Op1Kind == OpKind.Memory ? ins.MemorySize.GetSize() : Operands.GprSize(ins.Op1Register);
            if (ins.Op1Kind == OpKind.Memory) compiler.EmitLoad(in ins, size); else compiler.LoadReg(ins.Op1Register);
            if (size == 4)
            {
                il.Emit(OpCodes.Conv_I4);
                il.Emit(OpCodes.Conv_I8);
            }
            return;
        }
        if (ins.Op1Kind == OpKind.Register)
        {
            LoadXmm(ins.Op1Register, type);
            return;
        }
        bool single = type == typeof(float);
        compiler.EmitLoad(in ins, single ? 4 : 8);
        if (single) il.Emit(OpCodes.Conv_U4);
        il.Emit(OpCodes.Call, single ? BitsToSingle : BitsToDouble);
    }

    /// <summary>Pushes XMM register <paramref name="r"/> as a vector, or its low lane as a double or float.</summary>
    private void LoadXmm(Register r, Type type)
    {
        if (type == typeof(double) || type == typeof(float))
        {
            compiler.LoadXmm(r, Xmm);
            il.Emit(OpCodes.Call, type == typeof(double) ? LowDouble : LowSingle);
        }
        else compiler.LoadXmm(r, type);
    }

    /// <summary>
    /// MOVSS/MOVSD/MOVD/MOVQ between XMM, GPR and memory: register-to-register MOVSS/MOVSD merge into the low
    /// element; every other XMM destination is zero-extended.
    /// </summary>
    private bool TryEmitMove(in Instruction ins)
    {
        OpKind k0 = ins.Op0Kind, k1 = ins.Op1Kind;
        Register r0 = ins.Op0Register, r1 = ins.Op1Register;
        bool xmm0 = k0 == OpKind.Register && r0.IsXMM(), xmm1 = k1 == OpKind.Register && r1.IsXMM();
        if (!xmm0 && !xmm1) return false; // string MOVSD or MMX forms
        if (k0 == OpKind.Register && !xmm0 && !compiler.IsInlineRegister(r0)) return false;
        if (k1 == OpKind.Register && !xmm1 && !compiler.IsInlineRegister(r1)) return false;
        if (k0 is not (OpKind.Register or OpKind.Memory) || k1 is not (OpKind.Register or OpKind.Memory)) return false;
        int size = ins.Mnemonic is Mnemonic.Movss or Mnemonic.Movd ? 4 : 8;
        LocalBuilder value = Local(typeof(ulong));
        // Read (may fault, on an empty stack).
        if (xmm1)
        {
            compiler.LoadXmm(r1, Xmm);
            il.Emit(OpCodes.Call, size == 4 ? Low32 : Low64);
        }
        else if (k1 == OpKind.Register) compiler.LoadReg(r1);
        else compiler.EmitLoad(in ins, size);
        il.Emit(OpCodes.Stloc, value);
        // Write.
        if (xmm0)
        {
            if (xmm1 && ins.Mnemonic is Mnemonic.Movss or Mnemonic.Movsd)
            {
                compiler.LoadXmm(r0, Xmm);
                il.Emit(OpCodes.Ldloc, value);
                il.Emit(OpCodes.Call, size == 4 ? WithLow32 : WithLow64);
            }
            else
            {
                il.Emit(OpCodes.Ldloc, value);
                il.Emit(OpCodes.Call, Scalar);
            }
            compiler.StoreXmm(r0, Xmm);
        }
        else if (k0 == OpKind.Register)
        {
            il.Emit(OpCodes.Ldloc, value);
            compiler.StoreReg(r0);
        }
        else compiler.EmitStore(in ins, size, value);
        return true;
    }
}
