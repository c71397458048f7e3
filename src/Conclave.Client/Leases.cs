using Grpc.Core;
using Wire = Conclave.Api.Etcd.Protocol;

namespace Conclave.Client;

/// <summary>A granted lease: its id and TTL in seconds.</summary>
public sealed record LeaseGrant(long Id, long TtlSeconds);

/// <summary>A lease's remaining TTL in seconds (-1 when it has expired or never existed),
/// the TTL it was granted with, and the keys attached to it when asked for.</summary>
public sealed record LeaseInfo(long Id, long TtlSeconds, long GrantedTtlSeconds, IReadOnlyList<string> Keys);

public sealed partial class ConclaveClient
{
    /// <param name="id">0 lets the server choose the id.</param>
    public async Task<LeaseGrant> GrantLeaseAsync(long ttlSeconds, long id = 0, CancellationToken cancellationToken = default)
    {
        var request = new Wire.LeaseGrantRequest { TTL = ttlSeconds, ID = id };
        var response = await UnaryAsync((m, o) => m.Lease.LeaseGrantAsync(request, o), retryAfterSend: false, cancellationToken);
        if (response.Error.Length > 0)
        {
            throw new ConclaveException(StatusCode.FailedPrecondition, response.Error);
        }
        return new LeaseGrant(response.ID, response.TTL);
    }

    /// <summary>Revokes the lease and deletes its keys. Throws <see cref="LeaseNotFoundException"/> when it is already gone.</summary>
    public async Task RevokeLeaseAsync(long id, CancellationToken cancellationToken = default)
    {
        var request = new Wire.LeaseRevokeRequest { ID = id };
        await UnaryAsync((m, o) => m.Lease.LeaseRevokeAsync(request, o), retryAfterSend: false, cancellationToken);
    }

    public async Task<LeaseInfo> LeaseTimeToLiveAsync(long id, bool keys = false, CancellationToken cancellationToken = default)
    {
        var request = new Wire.LeaseTimeToLiveRequest { ID = id, Keys = keys };
        var r = await UnaryAsync((m, o) => m.Lease.LeaseTimeToLiveAsync(request, o), retryAfterSend: true, cancellationToken);
        return new LeaseInfo(r.ID, r.TTL, r.GrantedTTL, r.Keys.Select(k => k.ToStringUtf8()).ToList());
    }

    /// <summary>Renews the lease once; returns its new TTL in seconds. Throws <see cref="LeaseNotFoundException"/> when it is gone.</summary>
    public async Task<long> KeepAliveOnceAsync(long id, CancellationToken cancellationToken = default)
    {
        var member = await ConnectedMemberAsync(cancellationToken);
        using var call = member.Lease.LeaseKeepAlive(
            deadline: DateTime.UtcNow + Options.RequestTimeout, cancellationToken: cancellationToken);
        try
        {
            await call.RequestStream.WriteAsync(new Wire.LeaseKeepAliveRequest { ID = id }, cancellationToken);
            if (!await call.ResponseStream.MoveNext(cancellationToken))
            {
                throw new ClusterUnavailableException($"{member.Address} closed the keep-alive stream without an answer");
            }
            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException e)
        {
            throw ErrorMapping.Map(e);
        }
        var ttl = call.ResponseStream.Current.TTL;
        return ttl > 0 ? ttl : throw new LeaseNotFoundException(ErrorMapping.LeaseNotFound);
    }

    /// <summary>Keeps an existing lease alive in the background until the keeper is disposed or the lease is lost.</summary>
    public LeaseKeeper KeepAlive(long id, long ttlSeconds) => new(this, id, ttlSeconds);

    /// <summary>Grants a lease and keeps it alive; disposing the keeper revokes it.</summary>
    public async Task<LeaseKeeper> GrantKeptLeaseAsync(long ttlSeconds, CancellationToken cancellationToken = default)
    {
        var grant = await GrantLeaseAsync(ttlSeconds, cancellationToken: cancellationToken);
        return new LeaseKeeper(this, grant.Id, grant.TtlSeconds) { RevokeOnDispose = true };
    }
}

/// <summary>
/// Keeps a lease alive: renews it every third of its TTL, on any reachable member (an attempt
/// that takes longer than a third of the TTL is abandoned for the next member). When the
/// server says the lease is gone, or no renewal succeeded before the TTL of the last successful
/// one ran out, <see cref="Lost"/> fires (once) and <see cref="LostReason"/> says why; the
/// keeper then stops. Disposing stops renewing (and revokes when <see cref="RevokeOnDispose"/>)
/// without firing <see cref="Lost"/>.
/// </summary>
public sealed class LeaseKeeper : IAsyncDisposable
{
    private readonly ConclaveClient _client;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    internal LeaseKeeper(ConclaveClient client, long id, long ttlSeconds)
    {
        _client = client;
        Id = id;
        TtlSeconds = ttlSeconds;
        _loop = Task.Run(RunAsync);
    }

    public long Id { get; }

    public long TtlSeconds { get; }

    /// <summary>The lease id in etcd's key form (lower-case hex, no padding).</summary>
    public string HexId => Id.ToString("x", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Fires when the lease is lost; never fires after a normal dispose.</summary>
    public CancellationToken Lost => _lost.Token;

    public string? LostReason { get; private set; }

    public bool RevokeOnDispose { get; init; }

    private async Task RunAsync()
    {
        var time = _client.Options.TimeProvider;
        var ttl = TimeSpan.FromSeconds(TtlSeconds);
        var expires = time.GetUtcNow() + ttl;
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            var remaining = expires - time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                SetLost($"lease {HexId} could not be renewed within its TTL of {TtlSeconds} s");
                return;
            }
            var sentAt = time.GetUtcNow();
            try
            {
                // One attempt gets a third of the TTL (at least 1 s, never past the expiry): a member
                // that hangs — a follower still forwarding to a leader that just died — then leaves
                // time to renew through another member before the lease runs out.
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(stop);
                attempt.CancelAfter(TimeSpan.FromTicks(Math.Min(remaining.Ticks, Math.Max((ttl / 3).Ticks, TimeSpan.TicksPerSecond))));
                await _client.KeepAliveOnceAsync(Id, attempt.Token);
                expires = sentAt + ttl;
                await Task.Delay(ttl / 3, time, stop);
            }
            catch (LeaseNotFoundException)
            {
                SetLost($"lease {HexId} is gone (revoked or expired)");
                return;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is ConclaveException or OperationCanceledException or RpcException or IOException)
            {
                try
                {
                    await Task.Delay(_client.Options.ReconnectDelay, time, stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void SetLost(string reason)
    {
        LostReason = reason;
        _lost.Cancel();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        if (RevokeOnDispose && !_lost.IsCancellationRequested)
        {
            try
            {
                await _client.RevokeLeaseAsync(Id);
            }
            catch (LeaseNotFoundException)
            {
            }
            catch (ClusterUnavailableException)
            {
                // The lease expires by itself after its TTL.
            }
        }
        _stop.Dispose();
    }
}
