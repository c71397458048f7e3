using Conclave.Testing.Processes;

namespace Conclave.Testing.Tests.Processes;

public sealed class OutputLinesTests
{
    [Fact]
    public async Task FirstAsync_returns_a_kept_line_from_the_start_line_on_or_the_next_matching_line()
    {
        var lines = new OutputLines();
        lines.Add("ready a");
        lines.Add(null);
        lines.Add("other");
        Assert.Equal(2, lines.Count);
        Assert.Equal("ready a", await lines.FirstAsync(l => l.StartsWith("ready", StringComparison.Ordinal), 0, CancellationToken.None));

        var later = lines.FirstAsync(l => l.StartsWith("ready", StringComparison.Ordinal), 1, CancellationToken.None);
        Assert.False(later.IsCompleted, "line 0 is before the start line");
        lines.Add("not it");
        Assert.False(later.IsCompleted);
        lines.Add("ready b");
        Assert.Equal("ready b", await later.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task NextAsync_ignores_lines_already_added()
    {
        var lines = new OutputLines();
        lines.Add("x 1");
        var next = lines.NextAsync(l => l.StartsWith('x'), CancellationToken.None);
        Assert.False(next.IsCompleted);
        lines.Add("x 2");
        Assert.Equal("x 2", await next.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Keeps_the_last_lines_but_numbers_every_line()
    {
        var lines = new OutputLines(keep: 2);
        for (var i = 0; i < 5; i++)
        {
            lines.Add($"line {i}");
        }

        Assert.Equal("line 3\nline 4", lines.ToString());
        Assert.Equal(5, lines.Count);
        Assert.Equal("line 3", await lines.FirstAsync(_ => true, 0, CancellationToken.None));
        Assert.Equal("line 4", await lines.FirstAsync(_ => true, 4, CancellationToken.None));
    }

    [Fact]
    public async Task A_cancelled_wait_ends_cancelled_and_is_not_completed_by_a_later_line()
    {
        var lines = new OutputLines();
        using var cancel = new CancellationTokenSource();
        var wait = lines.NextAsync(_ => true, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(TimeSpan.FromSeconds(10)));
        lines.Add("late");
        Assert.True(wait.IsCanceled);
    }
}
