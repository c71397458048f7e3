using Conclave.Serve;

namespace Conclave.Cli.Tests;

/// <summary>`conclave serve --snapshot-catchup-entries` (its sources: flag, CONCLAVE_*, config file, default; its validation) and the hidden --wal-segment-bytes.</summary>
public sealed class ServeSnapshotCatchUpTests
{
    private static ServeSettings? Parse(Dictionary<string, string> flags, List<string> errors, Dictionary<string, string>? environment = null, string? configFile = null) =>
        ServeSettingsParser.Parse(flags, configFile, name => environment?.GetValueOrDefault(name), errors);

    [Fact]
    public void The_default_is_etcds_5000_and_the_flag_the_environment_and_the_config_file_set_it_in_that_order()
    {
        var config = Path.GetTempFileName();
        try
        {
            File.WriteAllText(config, """{"snapshot-catchup-entries": 30}""");
            var errors = new List<string>();

            var byDefault = Parse([], errors);
            var byConfig = Parse([], errors, configFile: config);
            var byEnvironment = Parse([], errors, new() { ["CONCLAVE_SNAPSHOT_CATCHUP_ENTRIES"] = "20" }, config);
            var byFlag = Parse(new() { ["snapshot-catchup-entries"] = "10" }, errors, new() { ["CONCLAVE_SNAPSHOT_CATCHUP_ENTRIES"] = "20" }, config);

            Assert.Empty(errors);
            Assert.Equal(5_000UL, byDefault!.SnapshotCatchUpEntries);
            Assert.Equal(30UL, byConfig!.SnapshotCatchUpEntries);
            Assert.Equal(20UL, byEnvironment!.SnapshotCatchUpEntries);
            Assert.Equal(10UL, byFlag!.SnapshotCatchUpEntries);
            Assert.Contains("snapshot-catchup-entries", ServeSettingsParser.Flags);
            Assert.Equal(64L * 1024 * 1024, byDefault.WalSegmentBytes);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public void The_hidden_wal_segment_size_is_read_and_refused_below_4096_bytes()
    {
        var errors = new List<string>();

        var small = Parse(new() { ["wal-segment-bytes"] = "65536" }, errors);
        var tooSmall = Parse(new() { ["wal-segment-bytes"] = "4095" }, errors);

        Assert.Equal(65_536L, small!.WalSegmentBytes);
        Assert.Null(tooSmall);
        Assert.Equal($"--wal-segment-bytes must be a whole number from 4096 to {1L << 30}, not '4095'", Assert.Single(errors));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("many")]
    [InlineData("1.5")]
    public void A_value_that_is_not_a_positive_whole_number_is_refused_with_the_flag_named(string value)
    {
        var errors = new List<string>();

        var settings = Parse(new() { ["snapshot-catchup-entries"] = value }, errors);

        Assert.Null(settings);
        var error = Assert.Single(errors);
        Assert.Equal($"--snapshot-catchup-entries must be a whole number from 1 to {long.MaxValue}, not '{value}'", error);
    }
}
