using Conclave.Server.Leases;
using Conclave.Server.StateMachine;
using Microsoft.Extensions.Time.Testing;

namespace Conclave.Server.Tests.Leases;

public sealed class LessorTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(1);

    [Fact]
    public void Only_the_leader_keeps_deadlines_and_reports_expiry()
    {
        var time = new FakeTimeProvider();
        var lessor = new Lessor(time, Grace, TimeSpan.FromSeconds(5));
        lessor.OnGranted(1, 10);
        Assert.Null(lessor.RemainingSeconds(1));
        Assert.Empty(lessor.TakeExpired(10));

        lessor.Promote(new Dictionary<long, Lease>());
        lessor.OnGranted(1, 10);
        Assert.Equal(10, lessor.RemainingSeconds(1));
        time.Advance(TimeSpan.FromSeconds(9.5));
        Assert.Equal(1, lessor.RemainingSeconds(1));
        Assert.Empty(lessor.TakeExpired(10));
        time.Advance(TimeSpan.FromSeconds(0.5));
        Assert.Equal([1L], lessor.TakeExpired(10));
        // A revoke is in flight: not reported again until the retry time.
        Assert.Empty(lessor.TakeExpired(10));
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal([1L], lessor.TakeExpired(10));
        lessor.OnRevoked(1);
        Assert.Empty(lessor.TakeExpired(10));
    }

    [Fact]
    public void Keep_alive_renews_to_the_full_ttl()
    {
        var time = new FakeTimeProvider();
        var lessor = new Lessor(time, Grace, TimeSpan.FromSeconds(5));
        lessor.Promote(new Dictionary<long, Lease>());
        lessor.OnGranted(7, 10);
        time.Advance(TimeSpan.FromSeconds(8));
        Assert.True(lessor.Renew(7, 10));
        time.Advance(TimeSpan.FromSeconds(8));
        Assert.Empty(lessor.TakeExpired(10));
        Assert.Equal(2, lessor.RemainingSeconds(7));
        lessor.Demote();
        Assert.False(lessor.Renew(7, 10));
    }

    [Fact]
    public void A_new_leader_starts_from_the_checkpoint_plus_grace_not_the_full_ttl()
    {
        var time = new FakeTimeProvider();
        var lessor = new Lessor(time, Grace, TimeSpan.FromSeconds(5));
        var leases = new Dictionary<long, Lease>
        {
            [1] = new Lease(1, 600, 100),
            [2] = new Lease(2, 30, 0),
        };
        lessor.Promote(leases);
        Assert.Equal(101, lessor.RemainingSeconds(1));
        Assert.Equal(31, lessor.RemainingSeconds(2));
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal([2L], lessor.TakeExpired(10));
    }

    [Fact]
    public void Checkpoints_report_remaining_time_and_an_applied_checkpoint_only_shortens()
    {
        var time = new FakeTimeProvider();
        var lessor = new Lessor(time, Grace, TimeSpan.FromSeconds(5));
        lessor.Promote(new Dictionary<long, Lease>());
        lessor.OnGranted(1, 60);
        time.Advance(TimeSpan.FromSeconds(20.5));
        var cp = Assert.Single(lessor.Checkpoints());
        Assert.Equal(new LeaseCheckpoint(1, 40), cp);
        lessor.OnCheckpoint([cp]);
        Assert.Equal(40, lessor.RemainingSeconds(1));
        lessor.OnCheckpoint([new LeaseCheckpoint(1, 5)]);
        Assert.Equal(5, lessor.RemainingSeconds(1));
        lessor.OnCheckpoint([new LeaseCheckpoint(1, 50)]);
        Assert.Equal(5, lessor.RemainingSeconds(1));
    }

    [Fact]
    public void Expired_leases_are_taken_in_bounded_batches()
    {
        var time = new FakeTimeProvider();
        var lessor = new Lessor(time, Grace, TimeSpan.FromSeconds(5));
        lessor.Promote(new Dictionary<long, Lease>());
        for (long id = 1; id <= 25; id++)
        {
            lessor.OnGranted(id, 1);
        }
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(10, lessor.TakeExpired(10).Count);
        Assert.Equal(10, lessor.TakeExpired(10).Count);
        Assert.Equal(5, lessor.TakeExpired(10).Count);
        Assert.Empty(lessor.TakeExpired(10));
    }
}
