using Conclave.Raft;
using Conclave.Storage.Wal;

namespace Conclave.Storage.Tests.Wal;

/// <summary>A directory under the temp path, deleted with everything in it when disposed.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "conclave-storage-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory does not fail a test.
        }
    }
}

/// <summary>Thrown by <see cref="CrashingFailpoints"/> to stop the WAL as a process crash would.</summary>
public sealed class SimulatedCrashException(string point) : Exception($"simulated crash at {point}");

/// <summary>Counts every failpoint hit and crashes at the chosen hit of the chosen point.</summary>
internal sealed class CrashingFailpoints : IWalFailpoints
{
    private readonly Dictionary<WalFailpoint, int> _hits = [];

    /// <summary>Crash at this point (null: never)...</summary>
    public WalFailpoint? CrashAt { get; set; }

    /// <summary>...on its n-th hit from now on (1 = next).</summary>
    public int CrashOnHit { get; set; } = 1;

    /// <summary>Called on every hit before the crash decision; may block to hold the writer.</summary>
    public Action<WalFailpoint>? OnHit { get; set; }

    public int Hits(WalFailpoint point)
    {
        lock (_hits)
        {
            return _hits.GetValueOrDefault(point);
        }
    }

    public void Arm(WalFailpoint point, int onHit = 1)
    {
        lock (_hits)
        {
            CrashAt = point;
            CrashOnHit = _hits.GetValueOrDefault(point) + onHit;
        }
    }

    public void Hit(WalFailpoint point)
    {
        int n;
        lock (_hits)
        {
            n = _hits[point] = _hits.GetValueOrDefault(point) + 1;
        }

        OnHit?.Invoke(point);
        if (CrashAt == point && n == CrashOnHit)
        {
            throw new SimulatedCrashException(point.ToString());
        }
    }
}

internal static class WalTestKit
{
    public static WalOptions SmallSegments(IWalFailpoints? failpoints = null, long segmentSize = 4096) =>
        new() { SegmentSize = segmentSize, Failpoints = failpoints };

    /// <summary>Entries [from, from + count) of <paramref name="term"/> whose data is derived from term, index and seed.</summary>
    public static Entry[] Entries(ulong term, ulong from, int count, int dataSize = 100, int seed = 0)
    {
        var result = new Entry[count];
        for (var i = 0; i < count; i++)
        {
            var index = from + (ulong)i;
            var rng = new Random(HashCode.Combine(term, index, seed));
            var data = new byte[dataSize];
            rng.NextBytes(data);
            result[i] = new Entry(term, index, index % 7 == 3 ? EntryType.ConfChange : EntryType.Normal, data);
        }

        return result;
    }

    public static WalOpenResult Open(string dir, WalOptions? options = null) => WriteAheadLog.Open(dir, options ?? SmallSegments());

    /// <summary>Opens, reads and closes: what a restart would recover.</summary>
    public static (HardState HardState, WalSnapshotMarker Snapshot, Entry[] Entries, WalTornTail? Torn) Reopen(string dir, WalOptions? options = null)
    {
        var r = Open(dir, options);
        r.Log.Dispose();
        return (r.HardState, r.Snapshot, r.Entries.ToArray(), r.TornTail);
    }

    public static string[] SegmentFiles(string dir) =>
        Directory.GetFiles(dir, "*.wal").OrderBy(p => p, StringComparer.Ordinal).ToArray();

    /// <summary>Copies every file of <paramref name="from"/> into a fresh directory <paramref name="to"/>.</summary>
    public static void CopyDir(string from, string to)
    {
        if (Directory.Exists(to))
        {
            Directory.Delete(to, true);
        }

        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from))
        {
            File.Copy(f, System.IO.Path.Combine(to, System.IO.Path.GetFileName(f)));
        }
    }

    /// <summary>Start offsets of the records of a segment file, and the offset where its records end.</summary>
    public static (List<long> Starts, long End) RecordOffsets(string segmentPath)
    {
        var bytes = File.ReadAllBytes(segmentPath);
        Assert.True(WalFormat.TryReadHeader(bytes, out var seq, out _, out var reason), reason);
        var starts = new List<long>();
        long offset = WalFormat.HeaderSize;
        while (WalFormat.TryReadRecord(bytes, seq, offset, out var length, out _))
        {
            starts.Add(offset);
            offset += WalFormat.RecordHeaderSize + WalFormat.Align8(length);
        }

        return (starts, offset);
    }

    public static async Task WithTimeout(Task task, string expected, int seconds = 30)
    {
        var done = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(seconds)));
        Assert.True(done == task, $"timed out after {seconds}s waiting for: {expected}");
        await task;
    }
}
