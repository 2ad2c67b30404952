using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>Interpreter handlers: X87 instructions.</summary>
internal static unsafe class X87Instructions
{
    public static void Register(HandlerRegistry r)
    {
    }
}
