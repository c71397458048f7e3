using System.Diagnostics;

namespace Conclave.Bench.Tests;

public sealed class PacerTests
{
    [Fact]
    public void Operation_n_is_due_n_over_rate_seconds_after_the_start()
    {
        var pacer = new Pacer(rate: 4, start: 1000);

        Assert.Equal(1000, pacer.DueTimestamp(0));
        Assert.Equal(1000 + (Stopwatch.Frequency / 4), pacer.DueTimestamp(1));
        Assert.Equal(1000 + (Stopwatch.Frequency * 10), pacer.DueTimestamp(40));
    }

    [Fact]
    public void The_delay_is_the_time_to_the_due_time_and_zero_when_late()
    {
        var pacer = new Pacer(rate: 2, start: 0);
        var halfSecond = Stopwatch.Frequency / 2;

        Assert.Equal(TimeSpan.FromSeconds(0.5), pacer.Delay(1, now: 0));
        Assert.Equal(TimeSpan.FromSeconds(0.25), pacer.Delay(1, now: halfSecond / 2));
        Assert.Equal(TimeSpan.Zero, pacer.Delay(1, now: halfSecond));
        Assert.Equal(TimeSpan.Zero, pacer.Delay(1, now: halfSecond * 10));
    }

    [Fact]
    public void A_rate_that_is_not_positive_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Pacer(0, 0));
    }
}
