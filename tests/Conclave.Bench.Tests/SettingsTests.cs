namespace Conclave.Bench.Tests;

public sealed class SettingsTests
{
    [Theory]
    [InlineData("500ms", 0.5)]
    [InlineData("10s", 10)]
    [InlineData("1.5s", 1.5)]
    [InlineData("2m", 120)]
    [InlineData("1h", 3600)]
    [InlineData("00:00:30", 30)]
    public void Durations_take_a_unit_or_a_time_span(string text, double seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), BenchSettings.ParseDuration(text));
    }

    [Theory]
    [InlineData("10")]
    [InlineData("0s")]
    [InlineData("-1s")]
    [InlineData("soon")]
    public void Durations_without_unit_or_not_positive_are_rejected(string text)
    {
        Assert.Throws<FormatException>(() => BenchSettings.ParseDuration(text));
    }

    [Fact]
    public void Endpoints_are_host_port_with_any_scheme_dropped()
    {
        Assert.Equal(
            ["127.0.0.1:2379", "10.0.0.2:22379", "[::1]:2379"],
            BenchSettings.ParseEndpoints("127.0.0.1:2379, http://10.0.0.2:22379/,[::1]:2379"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("localhost")]
    [InlineData("host:0")]
    [InlineData("host:99999")]
    public void Endpoints_without_a_valid_port_are_rejected(string text)
    {
        Assert.Throws<FormatException>(() => BenchSettings.ParseEndpoints(text));
    }
}
