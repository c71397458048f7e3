using System.CommandLine;
using Conclave.Bench;
using Conclave.Serve;

namespace Conclave;

/// <summary>
/// The `conclave` executable. This file only builds the root command and registers the
/// subcommands; each subcommand is built by its own class (one folder per command).
/// Exit codes: 0 success, 1 the command failed, 2 bad command line, 130 interrupted (Ctrl-C).
/// </summary>
public static class Program
{
    public static Task<int> Main(string[] args) => BuildRootCommand().Parse(args).InvokeAsync();

    /// <summary>The root command with every subcommand registered; tests parse against it.</summary>
    public static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("Conclave: a coordination service speaking etcd v3, ZooKeeper and Consul.");
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        return root;
    }
}
