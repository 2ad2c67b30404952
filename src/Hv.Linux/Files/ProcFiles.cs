using System.Globalization;
using System.Text;
using Hv.Core.Memory;

namespace Hv.Linux.Files;

/// <summary>
/// The few /proc files whose host version would describe the emulator rather than the guest: they are made
/// from the guest's state when opened (a snapshot, like reading the whole file at once).
/// </summary>
internal static class ProcFiles
{
    /// <summary>
    /// Opens /proc/self/maps (also as /proc/thread-self/maps or /proc/PID/maps with the guest's pid);
    /// null for every other path, which then goes to the host.
    /// </summary>
    public static FileDescription? TryOpen(LinuxKernel k, ReadOnlySpan<byte> path)
    {
        if (!path.StartsWith("/proc/"u8)) return null;
        ReadOnlySpan<byte> rest = path["/proc/".Length..];
        int slash = rest.IndexOf((byte)'/');
        if (slash < 0) return null;
        ReadOnlySpan<byte> who = rest[..slash], what = rest[(slash + 1)..];
        bool self = who.SequenceEqual("self"u8) || who.SequenceEqual("thread-self"u8) ||
            who.SequenceEqual(Encoding.ASCII.GetBytes(k.Pid.ToString(CultureInfo.InvariantCulture)));
        if (!self) return null;
        if (what.SequenceEqual("maps"u8)) return Snapshot(k, "maps", Maps(k.Memory));
        return null;
    }

    private static MemoryFile Snapshot(LinuxKernel k, string name, string text)
    {
        var file = new MemoryFile(k.Memory, name, k.NextInode(), allowSealing: false);
        file.WriteAt(Encoding.UTF8.GetBytes(text), 0);
        file.MakeReadOnly();
        return file;
    }

    /// <summary>The kernel's /proc/PID/maps format; neighbours the kernel would have merged are shown as one line.</summary>
    public static string Maps(AddressSpace memory)
    {
        var sb = new StringBuilder();
        IReadOnlyList<MemoryRegion> regions = memory.Regions;
        for (int i = 0; i < regions.Count; i++)
        {
            MemoryRegion r = regions[i];
            ulong end = r.End;
            while (i + 1 < regions.Count && Mergeable(regions[i + 1], r, end))
                end = regions[++i].End;
            int start = sb.Length;
            sb.Append(CultureInfo.InvariantCulture, $"{r.Start:x8}-{end:x8} ");
            sb.Append((r.Permissions & PagePermissions.Read) != 0 ? 'r' : '-');
            sb.Append((r.Permissions & PagePermissions.Write) != 0 ? 'w' : '-');
            sb.Append((r.Permissions & PagePermissions.Execute) != 0 ? 'x' : '-');
            sb.Append(r.Shared is null ? 'p' : 's');
            sb.Append(CultureInfo.InvariantCulture, $" {(r.Shared is null ? 0 : r.SharedOffset):x8} 00:00 0 ");
            if (r.Name.Length > 0)
            {
                sb.Append(' ', Math.Max(0, 73 - (sb.Length - start)));
                sb.Append(r.Name);
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    private static bool Mergeable(MemoryRegion next, MemoryRegion first, ulong end) =>
        next.Start == end && next.Permissions == first.Permissions && next.Name == first.Name &&
        ReferenceEquals(next.Shared, first.Shared) &&
        (first.Shared is null || next.SharedOffset == first.SharedOffset + (end - first.Start));
}
