using System.Buffers;
using System.Buffers.Binary;
using Hv.Core.Execution;
using Hv.Core.Memory;
using Hv.Linux.Files;
using static Hv.Linux.Files.GuestBuffers;

namespace Hv.Linux.Syscalls;

/// <summary>Waiting on fds: eventfd, epoll, poll and select.</summary>
internal static unsafe partial class FileSyscalls
{
    // ---------------------------------------------------------------- event fds

    private static long Eventfd(LinuxKernel k, Vcpu cpu) => MakeEventfd(k, (uint)Arg0(cpu), 0);
    private static long Eventfd2(LinuxKernel k, Vcpu cpu) => MakeEventfd(k, (uint)Arg0(cpu), Int(Arg1(cpu)));

    /// <summary>eventfd: a host eventfd behind a guest fd (reads, writes and polls pass through).</summary>
    private static long MakeEventfd(LinuxKernel k, uint initial, int flags)
    {
        const int EFD_SEMAPHORE = 1;
        if ((flags & ~(OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK | EFD_SEMAPHORE)) != 0) return -Errno.EINVAL;
        long fd = Host.Call(290, initial, flags | OpenFlags.O_CLOEXEC);
        return fd < 0 ? fd : Install(k, new HostFile((int)fd, ownsFd: true), (flags & OpenFlags.O_CLOEXEC) != 0);
    }

    private static long EpollCreate(LinuxKernel k, Vcpu cpu) => Int(Arg0(cpu)) <= 0 ? -Errno.EINVAL : MakeEpoll(k, 0);

    private static long EpollCreate1(LinuxKernel k, Vcpu cpu)
    {
        int flags = Int(Arg0(cpu));
        return (flags & ~OpenFlags.O_CLOEXEC) != 0 ? -Errno.EINVAL : MakeEpoll(k, flags);
    }

    /// <summary>
    /// epoll: a host epoll instance watching host fds. The 64-bit event data is the guest's own cookie and
    /// comes back unchanged, so events need no translation.
    /// </summary>
    private static long MakeEpoll(LinuxKernel k, int flags)
    {
        long fd = Host.Call(291, OpenFlags.O_CLOEXEC);
        return fd < 0 ? fd : Install(k, new HostFile((int)fd, ownsFd: true), flags != 0);
    }

    private static long EpollCtl(LinuxKernel k, Vcpu cpu)
    {
        const int EPOLL_CTL_DEL = 2;
        FileDescription? epoll = k.Files.Get(Int(Arg0(cpu))), target = k.Files.Get(Int(Arg2(cpu)));
        if (epoll is null || target is null) return -Errno.EBADF;
        int op = Int(Arg1(cpu));
        Span<byte> ev = stackalloc byte[12];
        ev.Clear();
        if (op != EPOLL_CTL_DEL && !k.Memory.TryRead(Arg3(cpu), ev)) return -Errno.EFAULT;
        if (epoll.HostFd < 0) return -Errno.EINVAL;
        if (target.HostFd < 0) return -Errno.EPERM; // like a regular file
        fixed (byte* p = ev) return Host.Call(233, epoll.HostFd, op, target.HostFd, (long)p);
    }

    private static long EpollWait(LinuxKernel k, Vcpu cpu)
    {
        int timeout = Int(Arg3(cpu));
        Span<byte> ts = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(ts, timeout / 1000);
        BinaryPrimitives.WriteInt64LittleEndian(ts[8..], timeout % 1000 * 1_000_000L);
        return EpollWaitCore(k, cpu, ts, timeout >= 0);
    }

    private static long EpollPwait2(LinuxKernel k, Vcpu cpu)
    {
        ulong address = Arg3(cpu);
        Span<byte> ts = stackalloc byte[16];
        if (address != 0)
        {
            if (!k.Memory.TryRead(address, ts)) return -Errno.EFAULT;
            if (!ValidTimespec(ts)) return -Errno.EINVAL;
        }
        return EpollWaitCore(k, cpu, ts, address != 0);
    }

    private static long EpollWaitCore(LinuxKernel k, Vcpu cpu, ReadOnlySpan<byte> timeout, bool hasTimeout)
    {
        const int EventSize = 12, MaxEvents = Chunk / EventSize;
        FileDescription? epoll = k.Files.Get(Int(Arg0(cpu)));
        if (epoll is null) return -Errno.EBADF;
        ulong events = Arg1(cpu);
        int max = Int(Arg2(cpu));
        if (max <= 0 || max > int.MaxValue / EventSize) return -Errno.EINVAL;
        if (AccessiblePrefix(k.Memory, events, (ulong)max * EventSize, PagePermissions.Write) < (ulong)max * EventSize) return -Errno.EFAULT;
        if (epoll.HostFd < 0) return -Errno.EINVAL;
        max = Math.Min(max, MaxEvents);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(max * EventSize);
        try
        {
            long n;
            bool cooperative = !hasTimeout && k.OtherThreadsMayRun;
            Span<byte> zero = stackalloc byte[16];
            zero.Clear();
            fixed (byte* p = buffer)
            fixed (byte* t = cooperative ? zero : timeout)
            {
                // epoll_pwait2 with a NULL sigmask: the timeout as a timespec (NULL waits forever).
                do n = Host.Call(441, epoll.HostFd, (long)p, max, hasTimeout || cooperative ? (long)t : 0, 0, 8);
                while (n == -Errno.EINTR);
            }
            if (n == 0 && cooperative && k.RetrySyscallLater(cpu)) return 0;
            if (n <= 0) return n;
            return k.Memory.TryWrite(events, buffer.AsSpan(0, (int)n * EventSize)) ? n : -Errno.EFAULT;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // ---------------------------------------------------------------- waiting

    private static long Poll(LinuxKernel k, Vcpu cpu)
    {
        int timeout = Int(Arg2(cpu));
        Span<byte> ts = stackalloc byte[16];
        if (timeout >= 0)
        {
            BinaryPrimitives.WriteInt64LittleEndian(ts, timeout / 1000);
            BinaryPrimitives.WriteInt64LittleEndian(ts[8..], timeout % 1000 * 1_000_000L);
        }
        return PollCore(k, Arg0(cpu), Arg1(cpu), timeout >= 0 ? ts : default, timeout >= 0);
    }

    private static long Ppoll(LinuxKernel k, Vcpu cpu)
    {
        ulong timeoutAddress = Arg2(cpu);
        Span<byte> ts = stackalloc byte[16];
        if (timeoutAddress != 0)
        {
            if (!k.Memory.TryRead(timeoutAddress, ts)) return -Errno.EFAULT;
            if (!ValidTimespec(ts)) return -Errno.EINVAL;
        }
        return PollCore(k, Arg0(cpu), Arg1(cpu), ts, timeoutAddress != 0);
    }

    private static bool ValidTimespec(ReadOnlySpan<byte> ts)
    {
        long sec = BinaryPrimitives.ReadInt64LittleEndian(ts), nsec = BinaryPrimitives.ReadInt64LittleEndian(ts[8..]);
        return sec >= 0 && nsec is >= 0 and < 1_000_000_000;
    }

    /// <summary>
    /// Host ppoll over <paramref name="count"/> host pollfds (restarted on EINTR): no wait when
    /// <paramref name="immediate"/>, else up to <paramref name="timeout"/> or forever. Waiting forever while other
    /// guest threads could make an fd ready would hang them: look once, and if nothing is ready let them run and
    /// retry the syscall later — then this returns false and the caller returns 0 (the syscall is not finished).
    /// </summary>
    private static bool HostPoll(LinuxKernel k, Span<byte> pollfds, int count, bool immediate, ReadOnlySpan<byte> timeout,
        bool hasTimeout, out long result)
    {
        Span<byte> zero = stackalloc byte[16];
        zero.Clear();
        bool cooperative = !immediate && !hasTimeout && k.OtherThreadsMayRun;
        fixed (byte* p = pollfds)
        fixed (byte* t = immediate || cooperative ? zero : timeout)
        {
            do result = Host.Call(Host.Ppoll, (long)p, count, immediate || hasTimeout || cooperative ? (long)t : 0, 0, 8);
            while (result == -Errno.EINTR);
        }
        return !(result == 0 && cooperative && k.RetrySyscallLater(k.Machine.Cpu));
    }

    /// <summary>
    /// poll over guest fds: each is translated to its host fd and the host waits. Closed fds report POLLNVAL and
    /// memfds are always ready, both without waiting.
    /// </summary>
    private static long PollCore(LinuxKernel k, ulong fdsAddress, ulong count, ReadOnlySpan<byte> timeout, bool hasTimeout)
    {
        if (count > FileTable.MaxFds) return -Errno.EINVAL;
        int n = (int)count;
        byte[] guest = ArrayPool<byte>.Shared.Rent(Math.Max(1, n * 8));
        byte[] host = ArrayPool<byte>.Shared.Rent(Math.Max(1, n * 8));
        try
        {
            Span<byte> g = guest.AsSpan(0, n * 8), h = host.AsSpan(0, n * 8);
            if (!k.Memory.TryRead(fdsAddress, g)) return -Errno.EFAULT;
            bool immediate = false;
            for (int i = 0; i < n; i++)
            {
                int fd = BinaryPrimitives.ReadInt32LittleEndian(g[(i * 8)..]);
                short events = BinaryPrimitives.ReadInt16LittleEndian(g[(i * 8 + 4)..]);
                int hostFd = -1;
                short ready = 0;
                if (fd >= 0)
                {
                    FileDescription? f = k.Files.Get(fd);
                    if (f is null) ready = POLLNVAL;
                    else if (f.HostFd < 0) ready = (short)(events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM));
                    else hostFd = f.HostFd;
                }
                immediate |= ready != 0;
                BinaryPrimitives.WriteInt32LittleEndian(h[(i * 8)..], hostFd);
                BinaryPrimitives.WriteInt16LittleEndian(h[(i * 8 + 4)..], events);
                BinaryPrimitives.WriteInt16LittleEndian(h[(i * 8 + 6)..], ready);
                BinaryPrimitives.WriteInt16LittleEndian(g[(i * 8 + 6)..], ready);
            }
            if (!HostPoll(k, h, n, immediate, timeout, hasTimeout, out long r)) return 0;
            if (r < 0) return r;
            int readyCount = 0;
            for (int i = 0; i < n; i++)
            {
                short revents = BinaryPrimitives.ReadInt16LittleEndian(g[(i * 8 + 6)..]);
                if (BinaryPrimitives.ReadInt32LittleEndian(h[(i * 8)..]) >= 0)
                    revents = BinaryPrimitives.ReadInt16LittleEndian(h[(i * 8 + 6)..]);
                BinaryPrimitives.WriteInt16LittleEndian(g[(i * 8 + 6)..], revents);
                if (revents != 0) readyCount++;
            }
            return k.Memory.TryWrite(fdsAddress, g) ? readyCount : -Errno.EFAULT;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(guest);
            ArrayPool<byte>.Shared.Return(host);
        }
    }

    private static long Select(LinuxKernel k, Vcpu cpu)
    {
        ulong tv = Arg4(cpu);
        Span<byte> ts = stackalloc byte[16];
        if (tv != 0)
        {
            if (!k.Memory.TryRead(tv, ts)) return -Errno.EFAULT;
            long sec = BinaryPrimitives.ReadInt64LittleEndian(ts), usec = BinaryPrimitives.ReadInt64LittleEndian(ts[8..]);
            if (sec < 0 || usec < 0) return -Errno.EINVAL;
            sec += usec / 1_000_000;
            BinaryPrimitives.WriteInt64LittleEndian(ts, sec);
            BinaryPrimitives.WriteInt64LittleEndian(ts[8..], usec % 1_000_000 * 1000);
        }
        return SelectCore(k, Int(Arg0(cpu)), Arg1(cpu), Arg2(cpu), Arg3(cpu), ts, tv != 0);
    }

    private static long Pselect6(LinuxKernel k, Vcpu cpu)
    {
        ulong tsAddress = Arg4(cpu);
        Span<byte> ts = stackalloc byte[16];
        if (tsAddress != 0)
        {
            if (!k.Memory.TryRead(tsAddress, ts)) return -Errno.EFAULT;
            if (!ValidTimespec(ts)) return -Errno.EINVAL;
        }
        return SelectCore(k, Int(Arg0(cpu)), Arg1(cpu), Arg2(cpu), Arg3(cpu), ts, tsAddress != 0);
    }

    /// <summary>select over guest fd sets, done as a poll of the set fds.</summary>
    private static long SelectCore(LinuxKernel k, int nfds, ulong readSet, ulong writeSet, ulong exceptSet,
        ReadOnlySpan<byte> timeout, bool hasTimeout)
    {
        if (nfds < 0) return -Errno.EINVAL;
        nfds = Math.Min(nfds, FileTable.MaxFds);
        int bytes = (nfds + 63) / 64 * 8;
        Span<byte> sets = stackalloc byte[3 * 128];
        sets.Clear();
        Span<byte> r = sets[..bytes], w = sets.Slice(128, bytes), e = sets.Slice(256, bytes);
        if (readSet != 0 && !k.Memory.TryRead(readSet, r)) return -Errno.EFAULT;
        if (writeSet != 0 && !k.Memory.TryRead(writeSet, w)) return -Errno.EFAULT;
        if (exceptSet != 0 && !k.Memory.TryRead(exceptSet, e)) return -Errno.EFAULT;
        int count = 0;
        Span<int> fds = stackalloc int[nfds];
        Span<byte> pollfds = nfds * 8 <= 8192 ? stackalloc byte[nfds * 8] : new byte[nfds * 8];
        for (int fd = 0; fd < nfds; fd++)
        {
            short events = 0;
            if (Bit(r, fd)) events |= POLLIN;
            if (Bit(w, fd)) events |= POLLOUT;
            if (Bit(e, fd)) events |= POLLPRI;
            if (events == 0) continue;
            FileDescription? f = k.Files.Get(fd);
            if (f is null) return -Errno.EBADF;
            fds[count] = fd;
            BinaryPrimitives.WriteInt32LittleEndian(pollfds[(count * 8)..], f.HostFd);
            BinaryPrimitives.WriteInt16LittleEndian(pollfds[(count * 8 + 4)..], events);
            BinaryPrimitives.WriteInt16LittleEndian(pollfds[(count * 8 + 6)..],
                f.HostFd < 0 ? (short)(events & (POLLIN | POLLOUT)) : (short)0);
            count++;
        }
        bool immediate = false;
        for (int i = 0; i < count; i++) immediate |= BinaryPrimitives.ReadInt32LittleEndian(pollfds[(i * 8)..]) < 0;
        if (!HostPoll(k, pollfds, count, immediate, timeout, hasTimeout, out long result)) return 0;
        if (result < 0) return result;
        sets.Clear();
        int readyBits = 0;
        for (int i = 0; i < count; i++)
        {
            short events = BinaryPrimitives.ReadInt16LittleEndian(pollfds[(i * 8 + 4)..]);
            short revents = BinaryPrimitives.ReadInt16LittleEndian(pollfds[(i * 8 + 6)..]);
            int fd = fds[i];
            if ((events & POLLIN) != 0 && (revents & (POLLIN | POLLHUP | POLLERR)) != 0) { SetBit(r, fd); readyBits++; }
            if ((events & POLLOUT) != 0 && (revents & (POLLOUT | POLLERR)) != 0) { SetBit(w, fd); readyBits++; }
            if ((events & POLLPRI) != 0 && (revents & POLLPRI) != 0) { SetBit(e, fd); readyBits++; }
        }
        if (readSet != 0 && !k.Memory.TryWrite(readSet, r)) return -Errno.EFAULT;
        if (writeSet != 0 && !k.Memory.TryWrite(writeSet, w)) return -Errno.EFAULT;
        if (exceptSet != 0 && !k.Memory.TryWrite(exceptSet, e)) return -Errno.EFAULT;
        return readyBits;
    }

    private static bool Bit(ReadOnlySpan<byte> set, int fd) => (set[fd >> 3] & (1 << (fd & 7))) != 0;
    private static void SetBit(Span<byte> set, int fd) => set[fd >> 3] |= (byte)(1 << (fd & 7));
}
