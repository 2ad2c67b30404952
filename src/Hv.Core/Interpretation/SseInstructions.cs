using Hv.Core.Execution;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>Interpreter handlers: Sse instructions.</summary>
internal static unsafe class SseInstructions
{
    public static void Register(HandlerRegistry r)
    {
    }
}
