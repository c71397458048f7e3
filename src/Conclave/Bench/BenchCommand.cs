using System.CommandLine;

namespace Conclave.Bench;

/// <summary>`conclave bench &lt;workload&gt;`: an etcd v3 load generator.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Load-test an etcd v3 endpoint (Conclave or etcd) and report throughput and latency.");
        command.SetAction(_ =>
        {
            Console.Error.WriteLine("bench: not implemented yet");
            return 1;
        });
        return command;
    }
}
