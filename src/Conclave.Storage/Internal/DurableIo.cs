using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Conclave.Storage.Internal;

/// <summary>
/// The durability primitives the WAL and the snapshot store rely on. <see cref="SyncData"/>
/// returns only once the file's data (and the metadata needed to read it back, such as its
/// size) is on stable storage; <see cref="SyncDirectory"/> does the same for the directory
/// entries, which is what makes a create, rename or delete survive a power loss. Both throw
/// <see cref="IOException"/> on failure; after a failed sync the file's state is unknown and
/// the caller must not retry as if nothing happened.
/// </summary>
internal static partial class DurableIo
{
    private const int ORdOnly = 0;

    public static void SyncData(SafeFileHandle handle)
    {
        if (OperatingSystem.IsLinux())
        {
            var added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                if (FDataSync((int)handle.DangerousGetHandle()) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    throw new IOException($"storage: fdatasync failed (errno {errno})");
                }
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }
        }
        else
        {
            RandomAccess.FlushToDisk(handle);
        }
    }

    /// <summary>Makes creates, renames and deletes in <paramref name="directory"/> durable. A no-op on Windows, which has no directory sync.</summary>
    public static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = Open(directory, ORdOnly);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"storage: cannot open directory '{directory}' to sync it (errno {errno})");
        }

        try
        {
            if (FSync(fd) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new IOException($"storage: fsync of directory '{directory}' failed (errno {errno})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FDataSync(int fd);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
