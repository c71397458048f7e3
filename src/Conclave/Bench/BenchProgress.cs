using Spectre.Console;

namespace Conclave.Bench;

/// <summary>Runs a bench with a progress bar on stderr when stderr is a terminal and progress is wanted.</summary>
internal static class BenchProgress
{
    private static readonly TimeSpan RefreshInterval = TimeSpan.FromMilliseconds(200);

    public static async Task<BenchReport> RunAsync(BenchRunner runner, BenchSettings settings, string name, CancellationToken cancellationToken)
    {
        if (!settings.Progress || Console.IsErrorRedirected)
        {
            return await runner.RunAsync(cancellationToken);
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return await console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var byCount = settings.Total is not null;
                var task = context.AddTask(name, maxValue: byCount ? settings.Total!.Value : settings.Duration!.Value.TotalSeconds);
                var run = runner.RunAsync(cancellationToken);
                while (!run.IsCompleted)
                {
                    await Task.WhenAny(run, Task.Delay(RefreshInterval, CancellationToken.None));
                    task.Value = byCount ? runner.Completed : Math.Min(runner.Elapsed.TotalSeconds, task.MaxValue);
                    task.Description = $"{name} {runner.Completed} ops";
                }
                return await run;
            });
    }
}
