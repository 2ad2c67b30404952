using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>Interpreter handlers: Control instructions.</summary>
internal static unsafe class ControlInstructions
{
    public static void Register(HandlerRegistry r)
    {
    }
}
