using Hv.Core;

namespace Hv.Linux.Tests.Support;

/// <summary>Execution modes for tests that run guest code.</summary>
public static class Modes
{
    public static TheoryData<ExecutionMode> AllModes => new() { ExecutionMode.Interpret, ExecutionMode.Translate, ExecutionMode.Tiered };
}
