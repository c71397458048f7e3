using System.CommandLine;

namespace Conclave.SelfTest;

/// <summary>
/// `conclave selftest --endpoints A,B,C [--duration 20s] [--clients 4] [--keys 4] [--prefix P] [--seed N] [--output human|json]`:
/// a bounded correctness check of a live etcd v3 cluster (see <see cref="SelfTestRunner"/>).
/// Exit codes: 0 PASS, 1 FAIL (a violation), 2 bad usage or the prefix already holds keys,
/// 3 no endpoint answered, 4 UNDECIDED (the checker's budget ran out), 130 Ctrl-C (after cleanup).
/// The report goes to stdout; progress lines go to stderr.
/// </summary>
public static class SelfTestCommand
{
    public static Command Create()
    {
        var endpoints = new Option<string>("--endpoints") { Description = "Comma-separated host:port of the members.", DefaultValueFactory = _ => "127.0.0.1:2379" };
        var duration = new Option<string>("--duration") { Description = "How long the workload runs, e.g. 20s, 2m (at most 10m).", DefaultValueFactory = _ => "20s" };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients, one operation in flight each.", DefaultValueFactory = _ => 4 };
        var keys = new Option<int>("--keys") { Description = "Keys the clients share (more keys: fewer conflicts, cheaper check).", DefaultValueFactory = _ => 4 };
        var prefix = new Option<string?>("--prefix") { Description = $"Key prefix of the run; must be empty, and is deleted at the end (default: {SelfTestSettings.DefaultPrefixRoot}<random>/)." };
        var seed = new Option<int?>("--seed") { Description = "Seed of the clients' random choices (default: random; printed)." };
        var output = new Option<string>("--output", "-o") { Description = "human, or json for scripts.", DefaultValueFactory = _ => "human" };
        output.AcceptOnlyFromAmong("human", "json");

        var command = new Command("selftest", "Check a live cluster (Conclave or etcd) for linearizability, durability and watch delivery on its own key prefix, then clean up.");
        foreach (var option in new Option[] { endpoints, duration, clients, keys, prefix, seed, output })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var stdout = parseResult.InvocationConfiguration.Output;
            var stderr = parseResult.InvocationConfiguration.Error;
            SelfTestSettings settings;
            try
            {
                settings = SelfTestSettings.Create(
                    parseResult.GetValue(endpoints)!,
                    parseResult.GetValue(duration)!,
                    parseResult.GetValue(clients),
                    parseResult.GetValue(keys),
                    parseResult.GetValue(prefix),
                    parseResult.GetValue(seed),
                    parseResult.GetValue(output)!);
            }
            catch (FormatException e)
            {
                await stderr.WriteLineAsync($"selftest: {e.Message}");
                return 2;
            }

            var report = await new SelfTestRunner(settings, line => stderr.WriteLine(line)).RunAsync(cancellationToken);
            if (report.Verdict == SelfTestVerdict.Unreachable)
            {
                await stderr.WriteLineAsync($"selftest: cluster unreachable: no endpoint of {string.Join(',', report.Endpoints)} answered");
            }

            if (settings.Output == SelfTestOutput.Json)
            {
                report.WriteJson(stdout);
            }
            else
            {
                report.WriteHuman(stdout);
            }

            return report.ExitCode;
        });
        return command;
    }
}
