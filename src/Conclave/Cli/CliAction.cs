using System.CommandLine;

namespace Conclave.Cli;

/// <summary>
/// Runs a client command's body with the global settings and turns every failure into one line
/// on stderr and an exit code (<see cref="ExitCodes"/>); no stack traces reach the user.
/// </summary>
public static class CliAction
{
    public static void Set(Command command, GlobalOptions global, Func<CliContext, Task<int>> body)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            CliSettings settings;
            try
            {
                settings = global.Read(parse);
            }
            catch (CliUsageException e)
            {
                await error.WriteLineAsync($"Error: {e.Message}");
                return ExitCodes.Usage;
            }
            await using var context = new CliContext(settings, parse, cancellationToken);
            try
            {
                return await body(context);
            }
            catch (Exception e)
            {
                var (message, exitCode) = await CliErrors.DescribeAsync(e, settings, cancellationToken);
                await error.WriteLineAsync($"Error: {message}");
                return exitCode;
            }
        });
    }
}
