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

    /// <summary>How long the command has to exit after SIGTERM before it (and its children) are killed.</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Runs the command with stdio inherited and returns its exit code. If the lock is lost or
    /// we are interrupted first, the command gets SIGTERM, then SIGKILL (with its process tree)
    /// if it has not exited after <see cref="StopGrace"/>; a lost lock then exits 1 with a
    /// message naming the lock, an interruption 130.
    /// </summary>
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
                var lost = mutex.Lost.IsCancellationRequested && !c.CancellationToken.IsCancellationRequested;
                if (lost)
                {
                    await c.Err.WriteLineAsync($"lock {mutex.Key} lost (its session lease was revoked or expired, or the key was deleted); sending SIGTERM to '{args[0]}'");
                }
                var how = await StopAsync(process);
                if (lost)
                {
                    throw new CliFailureException($"lock {mutex.Key} lost while '{args[0]}' ran; {how}");
                }
                throw;
            }
        }
    }

    /// <summary>SIGTERM, then SIGKILL to the whole tree after <see cref="StopGrace"/>; says which it took.</summary>
    private static async Task<string> StopAsync(Process process)
    {
        try
        {
            using var term = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false });
            if (term is not null)
            {
                await term.WaitForExitAsync(CancellationToken.None);
            }
            using var grace = new CancellationTokenSource(StopGrace);
            await process.WaitForExitAsync(grace.Token);
            return $"it exited with code {process.ExitCode} after SIGTERM";
        }
        catch (Exception e) when (e is OperationCanceledException or System.ComponentModel.Win32Exception)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            return $"it was killed (SIGKILL) after not exiting within {StopGrace.TotalSeconds:0} s of SIGTERM";
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
                    LeaseCommands.Print(c, LeaderJson(leader.Key, leader.Value, leader.CreateRevision),
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
            LeaseCommands.Print(c, LeaderJson(election.Key!, value, election.LeaderRevision),
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

    /// <summary>A leader in json: the same value / value_base64 pair as a key-value (election values are text in the recipe).</summary>
    private static JsonObject LeaderJson(string key, string value, long createRevision)
    {
        var json = new JsonObject { ["key"] = key };
        Render.AddValue(json, System.Text.Encoding.UTF8.GetBytes(value));
        json["create_revision"] = createRevision;
        return json;
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
