using System.CommandLine;

namespace Conclave.Cli;

/// <summary>Registers the client commands (everything but serve and bench) on the root command.</summary>
public static class CliCommands
{
    public static void AddTo(RootCommand root)
    {
        var global = new GlobalOptions();
        root.Subcommands.Add(KvCommands.Put(global));
        root.Subcommands.Add(KvCommands.Get(global));
        root.Subcommands.Add(KvCommands.Del(global));
        root.Subcommands.Add(KvCommands.Watch(global));
        root.Subcommands.Add(TxnCommand.Create(global));
        root.Subcommands.Add(KvCommands.Compact(global));
        root.Subcommands.Add(LeaseCommands.Create(global));
        root.Subcommands.Add(LockCommands.Lock(global));
        root.Subcommands.Add(LockCommands.Elect(global));
        root.Subcommands.Add(ClusterCommands.Member(global));
        root.Subcommands.Add(ClusterCommands.Endpoint(global));
        root.Subcommands.Add(ServiceCommands.Create(global));
        root.Subcommands.Add(SnapshotCommands.Create(global));
        root.Subcommands.Add(DevClusterCommand.Create());
        root.Subcommands.Add(CompletionCommand.Create());
    }
}
