using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>Interpreter handlers: Integer instructions.</summary>
internal static unsafe class IntegerInstructions
{
    public static void Register(HandlerRegistry r)
    {
    }
}
