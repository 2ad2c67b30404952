using Microsoft.Extensions.Logging;

namespace Hv.Core.Diagnostics;

/// <summary>Source-generated log messages of the engine.</summary>
internal static partial class EngineLog
{
    [LoggerMessage(EventId = 1000, EventName = nameof(HvEventIds.MachineStarted), Level = LogLevel.Debug,
        Message = "Machine started at 0x{Rip:x} in {Mode} mode")]
    public static partial void MachineStarted(ILogger logger, ulong rip, ExecutionMode mode);

    [LoggerMessage(EventId = 1001, EventName = nameof(HvEventIds.VcpuStopped), Level = LogLevel.Debug,
        Message = "vCPU stopped: {Reason} after {Instructions} instructions")]
    public static partial void VcpuStopped(ILogger logger, string reason, long instructions);

    [LoggerMessage(EventId = 1002, EventName = nameof(HvEventIds.BlockDecoded), Level = LogLevel.Trace,
        Message = "Decoded block 0x{Start:x}-0x{End:x} ({Count} instructions)")]
    public static partial void BlockDecoded(ILogger logger, ulong start, ulong end, int count);

    [LoggerMessage(EventId = 1003, EventName = nameof(HvEventIds.InstructionTrace), Level = LogLevel.Trace,
        Message = "0x{Rip:x}: {Instruction}")]
    public static partial void InstructionTrace(ILogger logger, ulong rip, string instruction);

    [LoggerMessage(EventId = 1004, EventName = nameof(HvEventIds.GuestFault), Level = LogLevel.Debug,
        Message = "Guest fault {Kind} at rip 0x{Rip:x} address 0x{Address:x} ({Access})")]
    public static partial void GuestFault(ILogger logger, Memory.FaultKind kind, ulong rip, ulong address, Memory.AccessKind access);

    [LoggerMessage(EventId = 1005, EventName = nameof(HvEventIds.RegionTranslated), Level = LogLevel.Debug,
        Message = "Translated region 0x{Start:x}: {Blocks} blocks, {Instructions} instructions")]
    public static partial void RegionTranslated(ILogger logger, ulong start, int blocks, int instructions);

    [LoggerMessage(EventId = 2000, EventName = nameof(HvEventIds.CodeInvalidated), Level = LogLevel.Debug,
        Message = "Write at 0x{Address:x} invalidated {Blocks} decoded blocks")]
    public static partial void CodeInvalidated(ILogger logger, ulong address, int blocks);

    [LoggerMessage(EventId = 2001, EventName = nameof(HvEventIds.SmcEvent), Level = LogLevel.Debug,
        Message = "SMC: write of {Length} bytes at 0x{Address:x} by rip 0x{WriterRip:x}: {Blocks} blocks invalidated, {Patched} patched in place, {Units} units invalidated")]
    public static partial void SmcEvent(ILogger logger, ulong address, int length, ulong writerRip, int blocks, int patched, int units);

    [LoggerMessage(EventId = 2002, EventName = nameof(HvEventIds.SmcDemoted), Level = LogLevel.Debug,
        Message = "SMC: code at 0x{Address:x} is rewritten again and again; {Lines} line(s) stay interpreted for a cool-down")]
    public static partial void SmcDemoted(ILogger logger, ulong address, int lines);

    [LoggerMessage(EventId = 2003, EventName = nameof(HvEventIds.SmcRepromoted), Level = LogLevel.Debug,
        Message = "SMC: code at 0x{Address:x} calmed down and is translated again")]
    public static partial void SmcRepromoted(ILogger logger, ulong address);

    [LoggerMessage(EventId = 2004, EventName = nameof(HvEventIds.SmcImmediateLoaded), Level = LogLevel.Debug,
        Message = "SMC: the immediate of the instruction at 0x{Address:x} was patched; translated code loads it from guest memory from now on")]
    public static partial void SmcImmediateLoaded(ILogger logger, ulong address);
}
