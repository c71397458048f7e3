using System.Text.Json;

namespace Conclave.Cli.Tests;

/// <summary>
/// What `lock NAME -- COMMAND` and `service register` do when another client revokes their lease
/// (as `conclave lease revoke` / `etcdctl lease revoke` would): the command is stopped with
/// SIGTERM and `lock` exits 1 saying so; `service register` says the registration was lost and
/// exits 1 (docs/cli.md).
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class LostLeaseTests(ServerFixture server)
{
    private string[] With(params string[] args) => [.. args, "--endpoints", server.Endpoint, "--timeout", Cli.TestTimeout];

    private async Task Revoke(string hex)
    {
        var revoke = await Cli.RunInProcessAsync(With("lease", "revoke", hex));
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
    }

    [Fact]
    public async Task Lock_stops_its_command_with_SIGTERM_and_exits_1_when_its_lease_is_revoked()
    {
        // The command reports the lock key, then runs until SIGTERM, which it acknowledges.
        const string script = "trap 'echo got SIGTERM; exit 143' TERM; echo \"holding $CONCLAVE_LOCK_KEY\"; while :; do sleep 0.2; done";
        await using var holder = new RunningCli([.. With("lock", "lost-lock", "--ttl", "30"), "--", "sh", "-c", script]);
        var line = await holder.WaitForLineAsync(l => l.StartsWith("holding lost-lock/", StringComparison.Ordinal), "the command's 'holding lost-lock/<lease>' line");
        var lease = line.Trim()[(line.LastIndexOf('/') + 1)..];

        await Revoke(lease);

        var exitCode = await holder.WaitForExitAsync("lock exits after its lease was revoked");
        Assert.True(exitCode == 1, $"exit {exitCode}\n{holder.Stdout}\n{holder.Stderr}");
        Assert.Contains("got SIGTERM", holder.Stdout);
        Assert.Contains($"Error: lock lost-lock/{lease} lost while 'sh' ran; it exited with code 143 after SIGTERM", holder.Stderr);
        Assert.DoesNotContain("   at ", holder.Stderr);
        // The lock is free again: another holder gets it at once.
        var next = await Cli.RunInProcessAsync([.. With("lock", "lost-lock"), "--", "true"]);
        Assert.True(next.ExitCode == 0, next.ToString());
    }

    [Fact]
    public async Task Service_register_says_the_registration_was_lost_and_exits_1_when_its_lease_is_revoked()
    {
        await using var registrant = new RunningCli(With("service", "register", "lost-svc", "--address", "10.0.0.7", "--port", "8080", "--ttl", "3", "-w", "json"));
        var line = await registrant.WaitForLineAsync(l => l.StartsWith('{'), "the registration as json");
        long lease;
        using (var doc = JsonDocument.Parse(line))
        {
            Assert.Equal("services/lost-svc/10.0.0.7:8080", doc.RootElement.GetProperty("key").GetString());
            lease = doc.RootElement.GetProperty("lease").GetInt64();
        }
        var hex = lease.ToString("x", System.Globalization.CultureInfo.InvariantCulture);

        await Revoke(hex);

        var exitCode = await registrant.WaitForExitAsync("service register exits after its lease was revoked");
        Assert.True(exitCode == 1, $"exit {exitCode}\n{registrant.Stdout}\n{registrant.Stderr}");
        Assert.Contains($"Error: registration services/lost-svc/10.0.0.7:8080 lost: its lease {hex} was revoked or expired; the instance is no longer registered", registrant.Stderr);
        var list = await Cli.RunInProcessAsync(With("service", "list", "lost-svc", "-w", "json"));
        Assert.True(list.ExitCode == 0, list.ToString());
        using var instances = JsonDocument.Parse(list.Stdout);
        Assert.Empty(instances.RootElement.GetProperty("instances").EnumerateArray());
    }
}
