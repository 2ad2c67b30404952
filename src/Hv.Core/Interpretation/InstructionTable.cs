using Hv.Core.Execution;
using Hv.Core.Memory;
using Iced.Intel;

namespace Hv.Core.Interpretation;

/// <summary>
/// Maps every Iced <see cref="Code"/> to its interpreter handler. Each instruction group registers its
/// handlers in its own file (<c>Register</c> methods called from the static constructor); codes nobody
/// registered raise #UD with a diagnostic naming the bytes and mnemonic.
/// </summary>
internal static unsafe class InstructionTable
{
    public static readonly int CodeCount = Enum.GetValues<Code>().Length;
    public static readonly int MnemonicCount = Enum.GetValues<Mnemonic>().Length;
    private static readonly bool[] Implemented = new bool[CodeCount];
    private static readonly delegate*<Vcpu, ref Instruction, void>[] Handlers = Build();

    /// <summary>The handler for a decoded instruction.</summary>
    public static delegate*<Vcpu, ref Instruction, void> HandlerFor(in Instruction ins) => Handlers[(int)ins.Code];

    /// <summary>True if the interpreter implements this instruction.</summary>
    public static bool IsImplemented(in Instruction ins) => Implemented[(int)ins.Code];

    /// <summary>True if the interpreter implements this code.</summary>
    public static bool IsImplemented(Code code) => Implemented[(int)code];

    private static delegate*<Vcpu, ref Instruction, void>[] Build()
    {
        var table = new delegate*<Vcpu, ref Instruction, void>[CodeCount];
        for (int i = 0; i < table.Length; i++) table[i] = &Undefined;
        var registry = new HandlerRegistry(table, Implemented);
        IntegerInstructions.Register(registry);
        ControlInstructions.Register(registry);
        StringInstructions.Register(registry);
        SystemInstructions.Register(registry);
        SseInstructions.Register(registry);
        X87Instructions.Register(registry);
        return table;
    }

    /// <summary>Raises #UD for an instruction Hv does not implement (or that does not exist).</summary>
    internal static void Undefined(Vcpu cpu, ref Instruction ins)
    {
        string detail = ins.Code == Code.INVALID
            ? "undefined opcode"
            : $"unimplemented instruction '{ins.Mnemonic.ToString().ToLowerInvariant()}' ({ins.Code})";
        throw new GuestFaultException(new GuestFault(FaultKind.InvalidOpcode, 0, AccessKind.Execute, detail));
    }
}

/// <summary>Lets instruction groups fill the handler table.</summary>
internal sealed unsafe class HandlerRegistry(delegate*<Vcpu, ref Instruction, void>[] table, bool[] implemented)
{
    private static readonly Code[][] CodesByMnemonic = GroupCodes();

    /// <summary>Registers <paramref name="handler"/> for one code.</summary>
    public void Add(Code code, delegate*<Vcpu, ref Instruction, void> handler)
    {
        table[(int)code] = handler;
        implemented[(int)code] = true;
    }

    /// <summary>Registers <paramref name="handler"/> for every legacy/REX-encoded code of a mnemonic (not VEX/EVEX/XOP).</summary>
    public void Add(Mnemonic mnemonic, delegate*<Vcpu, ref Instruction, void> handler)
    {
        foreach (Code code in CodesByMnemonic[(int)mnemonic]) Add(code, handler);
    }

    /// <summary>Every legacy-encoded code with this mnemonic that is valid in 64-bit mode.</summary>
    public static ReadOnlySpan<Code> CodesOf(Mnemonic mnemonic) => CodesByMnemonic[(int)mnemonic];

    private static Code[][] GroupCodes()
    {
        // No reference to InstructionTable here: its initializer calls into this type (no static-init cycle).
        var lists = new List<Code>[Enum.GetValues<Mnemonic>().Length];
        for (int i = 0; i < lists.Length; i++) lists[i] = [];
        int codeCount = Enum.GetValues<Code>().Length;
        for (int i = 0; i < codeCount; i++)
        {
            var code = (Code)i;
            OpCodeInfo info = code.ToOpCode();
            if (!info.Mode64 || info.Encoding != EncodingKind.Legacy) continue;
            lists[(int)code.Mnemonic()].Add(code);
        }
        var result = new Code[lists.Length][];
        for (int i = 0; i < lists.Length; i++) result[i] = [.. lists[i]];
        return result;
    }
}
