using Hv.Core.Execution;
using Hv.Core.Interpretation;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Decoding;

/// <summary>Feeds Iced from guest memory through the fetch path, so decoding honours the execute permission.</summary>
internal sealed class GuestCodeReader(GuestMemory memory) : CodeReader
{
    public ulong Address;
    /// <summary>First address that could not be fetched, if any.</summary>
    public ulong? FailedAt;

    public override int ReadByte()
    {
        if (memory.TryFetch8(Address, out byte b))
        {
            Address++;
            return b;
        }
        FailedAt ??= Address;
        return -1;
    }
}

/// <summary>Decodes guest basic blocks with Iced.</summary>
internal sealed unsafe class BlockDecoder
{
    private readonly GuestMemory memory;
    private readonly GuestCodeReader reader;
    private readonly Decoder decoder;
    private readonly int maxInstructions;
    private readonly List<Instruction> buffer = new(64);

    /// <summary>Debugger breakpoints, or null: a block ends before one, so every breakpoint starts a block.</summary>
    internal HashSet<ulong>? BreakBefore;

    public BlockDecoder(GuestMemory memory, int maxInstructions)
    {
        this.memory = memory;
        this.maxInstructions = maxInstructions;
        reader = new GuestCodeReader(memory);
        decoder = Decoder.Create(64, reader, DecoderOptions.None);
    }

    /// <summary>
    /// Decodes the block at <paramref name="start"/>. Raises the guest fault if not even the first instruction
    /// can be fetched; an undecodable first instruction becomes a one-instruction block whose handler raises #UD.
    /// </summary>
    public DecodedBlock Decode(ulong start)
    {
        DecodedBlock? block = TryDecode(start, out ulong faultAt);
        if (block is not null) return block;
        memory.Fetch8(faultAt); // raises the precise fetch fault
        throw new InvalidOperationException($"fetch at 0x{faultAt:x} failed to decode but did not fault");
    }

    /// <summary>Decodes the block at <paramref name="start"/>, or returns null (and the unfetchable address) if its first instruction cannot be fetched.</summary>
    public DecodedBlock? TryDecode(ulong start, out ulong faultAt)
    {
        faultAt = 0;
        buffer.Clear();
        ulong pageOfStart = start & ~PhysicalPage.OffsetMask;
        ulong ip = start;
        while (true)
        {
            reader.Address = ip;
            reader.FailedAt = null;
            decoder.IP = ip;
            decoder.Decode(out Instruction ins);
            if (decoder.LastError == DecoderError.NoMoreBytes)
            {
                if (buffer.Count > 0) break; // Let the fault happen when execution really gets there.
                faultAt = reader.FailedAt ?? ip;
                return null;
            }
            buffer.Add(ins);
            ip = ins.NextIP;
            if (EndsBlock(in ins) || buffer.Count >= maxInstructions || (ip & ~PhysicalPage.OffsetMask) != pageOfStart
                || BreakBefore?.Contains(ip) == true)
                break;
        }

        var instructions = buffer.ToArray();
        var handlers = new delegate*<Vcpu, ref Instruction, void>[instructions.Length];
        for (int i = 0; i < instructions.Length; i++) handlers[i] = InstructionTable.HandlerFor(in instructions[i]);
        ulong lastByte = instructions[^1].NextIP - 1;
        PhysicalPage first = memory.PageAt(start)!;
        PhysicalPage? second = (lastByte & ~PhysicalPage.OffsetMask) != pageOfStart ? memory.PageAt(lastByte) : null;
        return new DecodedBlock(start, instructions, handlers, second is null || ReferenceEquals(second, first) ? [first] : [first, second]);
    }

    private static bool EndsBlock(in Instruction ins) => ins.FlowControl != FlowControl.Next || ExitsToDispatcher(in ins);

    /// <summary>
    /// Instructions after which control must return to the dispatcher even though they do not branch: the
    /// OS may have stopped the vCPU or changed anything (SYSCALL, HLT), or the instruction raises #UD.
    /// </summary>
    public static bool ExitsToDispatcher(in Instruction ins) =>
        ins.Mnemonic is Mnemonic.Syscall or Mnemonic.Hlt || ins.Code == Code.INVALID || !InstructionTable.IsImplemented(in ins);
}
