using Conclave.Raft;
using Conclave.Storage.Wal;
using static Conclave.Storage.Tests.Wal.WalTestKit;

namespace Conclave.Storage.Tests.Wal;

/// <summary>
/// Damage on disk: a torn last record is cut off and the log opens; anything else stops the open
/// with an error naming the file and the offset of the first bad byte's record.
/// </summary>
public sealed class WalCorruptionTests : IDisposable
{
    private const int Saves = 60;
    private readonly TempDir _dir = new();
    private readonly string _clean;

    public WalCorruptionTests()
    {
        // One entry per save, one save per record: record k of the log holds entry k + 1.
        _clean = _dir.Sub("clean");
        using var log = Open(_clean).Log;
        for (ulong i = 1; i <= Saves; i++)
        {
            log.SaveAsync(new HardState(1, 1, i), Entries(1, i, 1, dataSize: 150 + (int)(i % 5) * 37)).AsTask().GetAwaiter().GetResult();
        }
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_fixture_spans_several_segments()
    {
        Assert.True(SegmentFiles(_clean).Length >= 4);
        Assert.Equal(Entries(1, 1, 1, dataSize: 150 + 37), Reopen(_clean).Entries[..1]);
    }

    [Fact]
    public void Bit_flips_before_the_last_record_are_reported_with_file_and_offset()
    {
        var rng = new Random(20261126);
        var segments = SegmentFiles(_clean);
        for (var trial = 0; trial < 150; trial++)
        {
            var s = rng.Next(segments.Length);
            var (starts, end) = RecordOffsets(segments[s]);
            var isLast = s == segments.Length - 1;
            var limit = isLast ? starts[^1] : end;
            var offset = rng.NextInt64(0, limit);
            var expectedOffset = offset < WalFormat.HeaderSize ? 0 : starts.Last(st => st <= offset);

            var copy = _dir.Sub("trial");
            CopyDir(_clean, copy);
            var path = Path.Combine(copy, Path.GetFileName(segments[s]));
            FlipBit(path, offset, rng.Next(8));

            var ex = Assert.Throws<WalCorruptionException>(() => Reopen(copy));
            Assert.Equal(path, ex.FilePath);
            Assert.Equal(expectedOffset, ex.Offset);
            Assert.Contains(path, ex.Message);
            Assert.Contains($"offset {expectedOffset}", ex.Message);
        }
    }

    [Fact]
    public void Bit_flips_in_the_tail_of_the_last_segment_are_cut_off()
    {
        var rng = new Random(7);
        var last = SegmentFiles(_clean)[^1];
        var (starts, end) = RecordOffsets(last);
        var length = new FileInfo(last).Length;
        Assert.True(length > end, "the last segment should be preallocated past its records");
        for (var trial = 0; trial < 60; trial++)
        {
            var inLastRecord = trial % 3 == 0;
            var offset = inLastRecord ? rng.NextInt64(starts[^1], end) : rng.NextInt64(end, length);
            var copy = _dir.Sub("trial");
            CopyDir(_clean, copy);
            var path = Path.Combine(copy, Path.GetFileName(last));
            FlipBit(path, offset, rng.Next(8));

            var r = Reopen(copy);
            Assert.NotNull(r.Torn);
            Assert.Equal(path, r.Torn.FilePath);
            Assert.Equal(inLastRecord ? starts[^1] : end, r.Torn.Offset);

            // Only the last record, never acknowledged as far as recovery can tell, may go.
            Assert.Equal(Entries(1, 1, inLastRecord ? Saves - 1 : Saves).Length, r.Entries.Length);
            Assert.Equal(inLastRecord ? Saves - 1 : Saves, (int)r.HardState.Commit);

            // The damage is zeroed: a second open finds nothing to cut.
            Assert.Null(Reopen(copy).Torn);
        }
    }

    [Fact]
    public void Truncating_the_last_segment_anywhere_keeps_every_whole_record_before_the_cut()
    {
        var last = SegmentFiles(_clean)[^1];
        WalFormat.TryParseSegmentName(Path.GetFileName(last), out _, out var firstIndex);
        var (starts, end) = RecordOffsets(last);
        var boundaries = starts.Append(end).ToList();
        for (var k = 0; k < boundaries.Count; k++)
        {
            var cuts = new List<(long Cut, bool Torn)> { (boundaries[k], false) };
            if (k < boundaries.Count - 1)
            {
                cuts.Add((boundaries[k] + 3, true));
                cuts.Add((boundaries[k] + 8, true));
                cuts.Add(((boundaries[k] + boundaries[k + 1]) / 2, true));
                cuts.Add((boundaries[k + 1] - 1, true));
            }

            foreach (var (cut, torn) in cuts)
            {
                var copy = _dir.Sub("trial");
                CopyDir(_clean, copy);
                var path = Path.Combine(copy, Path.GetFileName(last));
                using (var f = new FileStream(path, FileMode.Open, FileAccess.Write))
                {
                    f.SetLength(cut);
                }

                var r = Reopen(copy);
                var expected = (int)firstIndex - 1 + k;
                Assert.Equal(expected, r.Entries.Length);
                Assert.Equal((ulong)expected, r.HardState.Commit);
                Assert.Equal(torn, r.Torn is not null);
            }
        }
    }

    [Fact]
    public void A_large_random_tail_is_scanned_and_cut_off()
    {
        // A torn multi-megabyte batch: random bytes after the last record, then end of file.
        var last = SegmentFiles(_clean)[^1];
        var (_, end) = RecordOffsets(last);
        var copy = _dir.Sub("trial");
        CopyDir(_clean, copy);
        var path = Path.Combine(copy, Path.GetFileName(last));
        var garbage = new byte[8 << 20];
        new Random(99).NextBytes(garbage);
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            f.Position = end;
            f.Write(garbage);
        }

        var r = Reopen(copy);
        Assert.Equal(Saves, r.Entries.Length);
        Assert.Equal(new WalTornTail(path, end, garbage.Length), r.Torn);
    }

    [Fact]
    public void Truncating_the_header_of_the_last_segment_is_an_error()
    {
        var last = Path.GetFileName(SegmentFiles(_clean)[^1]);
        var copy = _dir.Sub("trial");
        CopyDir(_clean, copy);
        using (var f = new FileStream(Path.Combine(copy, last), FileMode.Open, FileAccess.Write))
        {
            f.SetLength(20);
        }

        var ex = Assert.Throws<WalCorruptionException>(() => Reopen(copy));
        Assert.Equal(0, ex.Offset);
        Assert.Contains("header", ex.Reason);
    }

    [Fact]
    public void Truncating_a_segment_that_is_not_the_last_is_an_error()
    {
        var segments = SegmentFiles(_clean);
        var victim = segments[1];
        var (starts, _) = RecordOffsets(victim);
        var copy = _dir.Sub("trial");
        CopyDir(_clean, copy);
        var path = Path.Combine(copy, Path.GetFileName(victim));

        // Cut exactly at the last record boundary: every remaining record is valid.
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            f.SetLength(starts[^1]);
        }

        var ex = Assert.Throws<WalCorruptionException>(() => Reopen(copy));
        Assert.Equal(path, ex.FilePath);
        Assert.Equal(starts[^1], ex.Offset);
        Assert.Contains("ends early", ex.Reason);
    }

    [Fact]
    public void A_missing_segment_is_an_error()
    {
        var segments = SegmentFiles(_clean);
        var copy = _dir.Sub("trial");
        CopyDir(_clean, copy);
        File.Delete(Path.Combine(copy, Path.GetFileName(segments[2])));
        var ex = Assert.Throws<WalCorruptionException>(() => Reopen(copy));
        Assert.Equal(Path.Combine(copy, Path.GetFileName(segments[3])), ex.FilePath);
        Assert.Contains("missing", ex.Reason);
    }

    [Fact]
    public void A_record_copied_to_another_offset_does_not_validate()
    {
        // A stale or embedded copy of a valid record must not pass as a record at another position.
        var last = SegmentFiles(_clean)[^1];
        var (starts, end) = RecordOffsets(last);
        var copy = _dir.Sub("trial");
        CopyDir(_clean, copy);
        var path = Path.Combine(copy, Path.GetFileName(last));
        var bytes = File.ReadAllBytes(path);
        var record = bytes[(int)starts[0]..(int)starts[1]];
        record.CopyTo(bytes, end);
        File.WriteAllBytes(path, bytes);

        var r = Reopen(copy);
        Assert.Equal(Saves, r.Entries.Length);
        Assert.Equal(end, r.Torn?.Offset);
    }

    private static void FlipBit(string path, long offset, int bit)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = offset;
        var b = f.ReadByte();
        f.Position = offset;
        f.WriteByte((byte)(b ^ (1 << bit)));
    }
}
