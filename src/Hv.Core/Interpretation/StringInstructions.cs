using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>Interpreter handlers: String instructions.</summary>
internal static unsafe class StringInstructions
{
    public static void Register(HandlerRegistry r)
    {
    }
}
