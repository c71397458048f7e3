using System.Runtime.InteropServices;

namespace Conclave.Cli.Tests;

/// <summary>
/// Awaits the exit of a process that is not our child (e.g. a dev-cluster member whose parent was
/// killed), without polling: Linux's pidfd_open gives a descriptor that becomes readable when the
/// process terminates (a zombie counts as terminated, so it does not matter who reaps it).
/// </summary>
public static class ProcessExit
{
    private const long SysPidfdOpen = 434; // the same number on every Linux architecture
    private const short PollIn = 0x1;
    private const int Esrch = 3;

    /// <summary>True once the process <paramref name="pid"/> has terminated (or does not exist); false if it is still running after <paramref name="timeout"/>.</summary>
    public static Task<bool> WaitAsync(int pid, TimeSpan timeout) => Task.Factory.StartNew(() =>
    {
        var fd = (int)PidfdOpen(SysPidfdOpen, pid, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == Esrch ? true : throw new InvalidOperationException($"pidfd_open({pid}) failed with errno {errno}");
        }
        try
        {
            var fds = new[] { new PollFd { Fd = fd, Events = PollIn } };
            var ready = Poll(fds, 1, (int)timeout.TotalMilliseconds);
            return ready < 0 ? throw new InvalidOperationException($"poll on the pidfd of {pid} failed with errno {Marshal.GetLastPInvokeError()}") : ready > 0;
        }
        finally
        {
            _ = Close(fd);
        }
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static extern long PidfdOpen(long number, int pid, uint flags);

    [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static extern int Poll([In, Out] PollFd[] fds, nuint count, int timeoutMs);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);
}
