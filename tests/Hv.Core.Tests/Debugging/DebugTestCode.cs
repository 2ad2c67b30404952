using Hv.Core.Tests.Support;
using Iced.Intel;

namespace Hv.Core.Tests.Debugging;

/// <summary>Helpers for debugger tests: addresses of the instructions of an assembled test program.</summary>
internal static class DebugTestCode
{
    /// <summary>Loads the program and returns the address of each of its instructions (the appended HLT last).</summary>
    public static ulong[] Load(TestMachine machine, Action<Assembler> build)
    {
        machine.Load(build);
        var bytes = new byte[TestMachine.CodeSize];
        machine.Memory.TryRead(TestMachine.CodeBase, bytes, checkPermissions: false);
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes), TestMachine.CodeBase);
        var addresses = new List<ulong>();
        while (true)
        {
            decoder.Decode(out Instruction ins);
            addresses.Add(ins.IP);
            if (ins.Mnemonic == Mnemonic.Hlt) return [.. addresses];
        }
    }
}
