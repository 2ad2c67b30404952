namespace System.Runtime.CompilerServices;

/// <summary>
/// Lets a dynamic assembly's code use the internals of the named assembly. The runtime recognises the attribute
/// by its name and namespace, but the framework does not ship it: each user declares it
/// (<see cref="Hv.Core.Translation.BaselineAssemblies"/> puts it on the assemblies holding baseline units).
/// </summary>
/// <param name="assemblyName">The simple name of the assembly whose internals are used.</param>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
internal sealed class IgnoresAccessChecksToAttribute(string assemblyName) : Attribute
{
    /// <summary>The simple name of the assembly whose internals are used.</summary>
    public string AssemblyName { get; } = assemblyName;
}
