using System.CommandLine;
using Conclave.Bench;
using Conclave.Cli;
using Conclave.SelfTest;
using Conclave.Serve;

namespace Conclave;

/// <summary>
/// The `conclave` executable. This file only builds the root command and registers the
/// subcommands; each subcommand is built by its own class (one folder per command).
/// Exit codes: 0 success, 1 the command failed, 2 bad command line, 3 the cluster is unavailable
/// or did not answer in time (client commands, docs/cli.md), 130 interrupted (Ctrl-C).
/// </summary>
public static class Program
{
    /// <summary>After Ctrl-C a command gets this long to stop cleanly (cancel, release leases, print what it has).</summary>
    private static readonly TimeSpan TerminationTimeout = TimeSpan.FromSeconds(10);

    public static Task<int> Main(string[] args) =>
        InvokeAsync(args, new InvocationConfiguration { ProcessTerminationTimeout = TerminationTimeout });

    /// <summary>Parses and runs; a command line that does not parse prints the error and returns 2.</summary>
    public static async Task<int> InvokeAsync(string[] args, InvocationConfiguration configuration, CancellationToken cancellationToken = default)
    {
        var parseResult = BuildRootCommand().Parse(args);
        var exitCode = await parseResult.InvokeAsync(configuration, cancellationToken);
        return parseResult.Errors.Count > 0 ? 2 : exitCode;
    }

    /// <summary>The root command with every subcommand registered; tests parse against it.</summary>
    public static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("Conclave: a coordination service speaking etcd v3, ZooKeeper and Consul.");
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(SelfTestCommand.Create());
        CliCommands.AddTo(root);
        return root;
    }
}
