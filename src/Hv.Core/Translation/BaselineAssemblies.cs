using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using Hv.Core.Execution;

namespace Hv.Core.Translation;

/// <summary>
/// Where the code of baseline units without loops lives (see <see cref="TranslatedUnit.Baseline"/> and
/// <see cref="UnitCompiler.Compile"/>): static methods marked
/// <see cref="MethodImplAttributes.NoOptimization"/> in collectible dynamic assemblies, which the .NET JIT compiles
/// with MinOpts. A DynamicMethod is always compiled with full optimization, and the runtime offers no way to ask
/// otherwise; translate mode compiles every block the first time it runs, mostly code that runs a handful of
/// times, and MinOpts compiles such a unit about 2.5× cheaper (0.24 M against 0.6 M JIT cycles per unit on
/// recursion's 1,050 baseline units). A baseline unit that gets hot is regrown into an optimized DynamicMethod.
/// </summary>
/// <remarks>
/// An assembly holds at most <see cref="UnitsPerAssembly"/> units, one type each (a type's methods can only run
/// once the type is created), and the runtime collects it once none of its units is reachable: freed baseline
/// code goes away with the last unit of its assembly. One instance per translator, used on the vCPU thread only.
/// </remarks>
internal sealed class BaselineAssemblies
{
    /// <summary>Units per assembly: bounds how much dead code one live unit can keep.</summary>
    public const int UnitsPerAssembly = 256;

    private ModuleBuilder? module;
    private int unitsInModule;

    /// <summary>Defines the method of a new unit named <paramref name="name"/>, to be emitted and then completed.</summary>
    public BaselineMethod Define(string name)
    {
        if (module is null || unitsInModule == UnitsPerAssembly)
        {
            module = DefineAssembly();
            unitsInModule = 0;
        }
        TypeBuilder type = module.DefineType($"Unit{unitsInModule++}", TypeAttributes.NotPublic | TypeAttributes.Sealed | TypeAttributes.Abstract);
        MethodBuilder builder = type.DefineMethod(name, MethodAttributes.Assembly | MethodAttributes.Static, typeof(void), [typeof(TranslatedUnit), typeof(Vcpu)]);
        builder.SetImplementationFlags(MethodImplAttributes.NoOptimization);
        return new BaselineMethod(type, builder);
    }

    /// <summary>
    /// A collectible assembly whose code may use Hv.Core's internals, as a DynamicMethod with skipVisibility does
    /// (the runtime honours <see cref="IgnoresAccessChecksToAttribute"/> on dynamic assemblies).
    /// </summary>
    private static ModuleBuilder DefineAssembly()
    {
        var assembly = AssemblyBuilder.DefineDynamicAssembly(new AssemblyName("Hv.BaselineUnits"), AssemblyBuilderAccess.RunAndCollect);
        ConstructorInfo ignoreAccess = typeof(IgnoresAccessChecksToAttribute).GetConstructor([typeof(string)])!;
        assembly.SetCustomAttribute(new CustomAttributeBuilder(ignoreAccess, [typeof(BaselineAssemblies).Assembly.GetName().Name!]));
        return assembly.DefineDynamicModule("Hv.BaselineUnits");
    }
}

/// <summary>A baseline unit's method while its IL is emitted (see <see cref="BaselineAssemblies.Define"/>).</summary>
internal readonly record struct BaselineMethod(TypeBuilder Type, MethodBuilder Builder)
{
    /// <summary>Where the unit's IL goes.</summary>
    public ILGenerator IL => Builder.GetILGenerator();

    /// <summary>
    /// Creates the type, has the JIT compile the method now (inside the translation time, not on the unit's first
    /// entry) and returns the body delegate, closed over <paramref name="unit"/> as the DynamicMethods' are.
    /// </summary>
    public UnitBody Complete(TranslatedUnit unit)
    {
        MethodInfo method = Type.CreateType().GetMethod(Builder.Name, BindingFlags.NonPublic | BindingFlags.Static)!;
        RuntimeHelpers.PrepareMethod(method.MethodHandle);
        return method.CreateDelegate<UnitBody>(unit);
    }
}
