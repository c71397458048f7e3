using static Conclave.Server.Tests.Member.Kv;

namespace Conclave.Server.Tests.Member;

/// <summary>A restart streams the newest snapshot from its file: what it logs, and a file damaged where only streaming finds it.</summary>
public sealed class RestartSnapshotTests
{
    [Fact]
    public async Task A_restart_logs_its_startup_phases_with_the_snapshot_it_streamed()
    {
        await using var c = await StartedWithSnapshotsAsync();
        await c.StopMemberAsync("m1");

        var again = await c.StartMemberAsync("m1");
        await c.LeaderAsync();

        Assert.Equal("v29", await again.GetAsync("k29"));
        var phases = Assert.Single(c.Log.Lines, l => l.Contains("startup phases", StringComparison.Ordinal) && l.Contains("restore", StringComparison.Ordinal) && !l.Contains("(0 bytes)", StringComparison.Ordinal));
        Assert.Matches(@"WAL open \d+ ms \(\d+ entries\), snapshot restore \d+ ms \([1-9]\d* bytes\)", phases);
    }

    [Fact]
    public async Task A_restart_refuses_a_newest_snapshot_whose_file_checksum_is_damaged()
    {
        await using var c = await StartedWithSnapshotsAsync();
        await c.StopMemberAsync("m1");
        // The newest snapshot the WAL records. A save that finished as the member stopped may have
        // left a newer, complete file the WAL never heard of; a restart would rightly start from it,
        // so it is removed: the case here is a recorded newest snapshot with no valid file after it.
        var recorded = c.Log.Lines
            .Select(l => System.Text.RegularExpressions.Regex.Match(l, @"snapshot saved at index (\d+) "))
            .Where(match => match.Success)
            .Max(match => ulong.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        var files = Directory.GetFiles(Path.Combine(c.Root, "m1", "member", "snap"), "*.snap").Order(StringComparer.Ordinal).ToList();
        var newest = Assert.Single(files, f => Path.GetFileName(f).StartsWith($"{recorded:x16}-", StringComparison.Ordinal));
        foreach (var unrecorded in files.Skip(files.IndexOf(newest) + 1))
        {
            File.Delete(unrecorded);
        }
        var bytes = await File.ReadAllBytesAsync(newest);
        // The file's data checksum (in its trailer): the image inside is intact, so only the file check can tell.
        bytes[^8] ^= 0x40;
        await File.WriteAllBytesAsync(newest, bytes);

        // The WAL records that snapshot, so the member must not start from an older one.
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => c.StartMemberAsync("m1"));

        Assert.Contains("newest valid snapshot file is at", e.Message, StringComparison.Ordinal);
        Assert.Contains(c.Log.Lines, l => l.Contains(Path.GetFileName(newest), StringComparison.Ordinal) && l.Contains("data checksum mismatch", StringComparison.Ordinal));
    }

    private static async Task<TestCluster> StartedWithSnapshotsAsync()
    {
        var c = await TestCluster.StartAsync(1, configure: o => o with { SnapshotCount = 7, SnapshotCatchUpEntries = 2 });
        var m = c.Members["m1"];
        for (var i = 0; i < 30; i++)
        {
            await m.PutAsync($"k{i}", $"v{i}");
        }
        Assert.True(Directory.GetFiles(Path.Combine(c.Root, "m1", "member", "snap"), "*.snap").Length >= 2, "snapshots were taken");
        return c;
    }
}
