using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Conclave.Client.Recipes;
using Spectre.Console;

namespace Conclave.Cli;

/// <summary>
/// `conclave lock NAME [-- COMMAND ARGS]` and `conclave elect NAME [PROPOSAL]`, over the client's
/// DistributedMutex and Election recipes (etcd's key layout, so etcdctl sees the same locks).
/// </summary>
public static class LockCommands
{
    public const string LockKeyVariable = "CONCLAVE_LOCK_KEY";
    public const string LockRevisionVariable = "CONCLAVE_LOCK_REV";

    public static Command Lock(GlobalOptions global)
    {
        var name = new Argument<string>("NAME") { Description = "The lock's name (a key prefix)." };
        var exec = new Argument<string[]>("COMMAND") { Description = "After --: the command to run while holding the lock.", Arity = ArgumentArity.ZeroOrMore };
        var ttl = new Option<long>("--ttl") { Description = "TTL in seconds of the session lease; the lock is lost if this process stops renewing it for that long.", DefaultValueFactory = _ => 60 };
        var command = new Command("lock", "Acquire a lock; run COMMAND while holding it (exit with its code), or print the key and hold until Ctrl-C.") { name, exec, ttl };
        global.AddTo(command);
        CliAction.Set(command, global, async c =>
        {
            var args = c.Parse.GetValue(exec) ?? [];
            await using var mutex = await DistributedMutex.AcquireAsync(c.Client, c.Parse.GetValue(name)!, ttlSeconds: c.Parse.GetValue(ttl), cancellationToken: c.CancellationToken);
            if (args.Length == 0)
            {
                LeaseCommands.Print(c, new JsonObject { ["key"] = mutex.Key, ["revision"] = mutex.FencingToken },
                    mutex.Key, $"holding lock [bold]{Markup.Escape(mutex.Key)}[/] (fencing token {mutex.FencingToken}); Ctrl-C releases it");
                await WaitAsync(c.CancellationToken, mutex.Lost);
                if (mutex.Lost.IsCancellationRequested && !c.CancellationToken.IsCancellationRequested)
                {
                    throw new CliFailureException($"lock {mutex.Key} lost (session lease expired or key deleted)");
                }
                return ExitCodes.Ok;
            }
            return await RunHoldingAsync(c, args, mutex);
        });
        return command;
    }

    /// <summary>Runs the command with stdio inherited; kills it if the lock is lost or we are interrupted.</summary>
    private static async Task<int> RunHoldingAsync(CliContext c, string[] args, DistributedMutex mutex)
    {
        var start = new ProcessStartInfo(args[0]) { UseShellExecute = false };
        foreach (var a in args[1..])
        {
            start.ArgumentList.Add(a);
        }
        start.Environment[LockKeyVariable] = mutex.Key;
        start.Environment[LockRevisionVariable] = mutex.FencingToken.ToString(CultureInfo.InvariantCulture);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CliFailureException($"cannot run '{args[0]}': {e.Message}", 127);
        }
        using (process)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(c.CancellationToken, mutex.Lost);
            try
            {
                await process.WaitForExitAsync(stop.Token);
                return process.ExitCode;
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
                if (mutex.Lost.IsCancellationRequested && !c.CancellationToken.IsCancellationRequested)
                {
                    throw new CliFailureException($"lock {mutex.Key} lost while '{args[0]}' ran; it was killed");
                }
                throw;
            }
        }
    }

    public static Command Elect(GlobalOptions global)
    {
        var name = new Argument<string>("NAME") { Description = "The election's name (a key prefix)." };
        var proposal = new Argument<string?>("PROPOSAL") { Description = "Campaign with this value; without it, observe the leaders.", Arity = ArgumentArity.ZeroOrOne };
        var listen = new Option<bool>("--listen", "-l") { Description = "Observe: print the leader now and after every change." };
        var maxEvents = new Option<long>("--max-events") { Description = "With --listen: exit after this many leaders (0: until Ctrl-C)." };
        var ttl = new Option<long>("--ttl") { Description = "TTL in seconds of the campaign's session lease.", DefaultValueFactory = _ => 60 };
        var command = new Command("elect", "Campaign to lead NAME with PROPOSAL and hold leadership until Ctrl-C; or observe its leaders (--listen).") { name, proposal, listen, maxEvents, ttl };
        global.AddTo(command);
        CliAction.Set(command, global, async c =>
        {
            var n = c.Parse.GetValue(name)!;
            var value = c.Parse.GetValue(proposal);
            if (value is not null && c.Parse.GetValue(listen))
            {
                throw new CliUsageException("give either a PROPOSAL (campaign) or --listen (observe), not both");
            }
            if (value is null)
            {
                var max = c.Parse.GetValue(maxEvents);
                long seen = 0;
                await foreach (var leader in Election.Observe(c.Client, n, c.CancellationToken))
                {
                    LeaseCommands.Print(c, new JsonObject { ["key"] = leader.Key, ["value"] = leader.Value, ["create_revision"] = leader.CreateRevision },
                        $"{leader.Key}\n{leader.Value}", $"leader of [bold]{Markup.Escape(n)}[/]: {Markup.Escape(leader.Value)} [grey]({Markup.Escape(leader.Key)})[/]");
                    if (max > 0 && ++seen >= max)
                    {
                        break;
                    }
                }
                return ExitCodes.Ok;
            }
            await using var session = await c.Client.GrantKeptLeaseAsync(c.Parse.GetValue(ttl), c.CancellationToken);
            var election = new Election(c.Client, n, session);
            await election.CampaignAsync(value, c.CancellationToken);
            LeaseCommands.Print(c, new JsonObject { ["key"] = election.Key, ["value"] = value, ["create_revision"] = election.LeaderRevision },
                $"{election.Key}\n{value}", $"elected leader of [bold]{Markup.Escape(n)}[/] as {Markup.Escape(value)} [grey]({Markup.Escape(election.Key!)})[/]; Ctrl-C resigns");
            await WaitAsync(c.CancellationToken, session.Lost);
            if (session.Lost.IsCancellationRequested && !c.CancellationToken.IsCancellationRequested)
            {
                throw new CliFailureException($"leadership of {n} lost: {session.LostReason}");
            }
            using var resign = new CancellationTokenSource(c.Settings.Timeout);
            await election.ResignAsync(resign.Token);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Returns when any of the tokens fires.</summary>
    private static async Task WaitAsync(CancellationToken a, CancellationToken b)
    {
        using var any = CancellationTokenSource.CreateLinkedTokenSource(a, b);
        try
        {
            await Task.Delay(Timeout.Infinite, any.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
