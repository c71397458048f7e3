using Grpc.Core;
using Wire = Conclave.Api.Etcd.Protocol;

namespace Conclave.Client;

/// <summary>
/// A client of an etcd v3 compatible cluster (Conclave or etcd). Thread-safe; one per process
/// is enough. Requests are spread round-robin over the endpoints; a member that cannot be
/// reached is skipped.
///
/// Retry policy (docs/client.md): every request moves to the next member when the connection to
/// the chosen one cannot be established (nothing was sent). After a request was sent, only reads
/// (Get, lease time-to-live, lease listing) are retried on another member when the member is
/// unavailable or has no leader. Writes — Put, Delete, Txn (even with compares), Compact, lease
/// grant/revoke — are never resent: a broken connection then surfaces as
/// <see cref="ClusterUnavailableException"/>, meaning the outcome is unknown.
/// </summary>
public sealed partial class ConclaveClient : IAsyncDisposable
{
    private readonly Member[] _members;
    private int _cursor;

    /// <param name="endpoints">"host:port" or "http://host:port", one per member.</param>
    public ConclaveClient(IEnumerable<string> endpoints, ConclaveClientOptions? options = null)
    {
        Options = options ?? new ConclaveClientOptions();
        _members = endpoints.Select(e => new Member(ToUri(e))).ToArray();
        if (_members.Length == 0)
        {
            throw new ArgumentException("at least one endpoint is required", nameof(endpoints));
        }
    }

    public ConclaveClient(params string[] endpoints)
        : this((IEnumerable<string>)endpoints)
    {
    }

    public ConclaveClientOptions Options { get; }

    public IReadOnlyList<Uri> Endpoints => _members.Select(m => m.Address).ToList();

    private static Uri ToUri(string endpoint) =>
        new(endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint);

    public Task<GetResult> GetAsync(string key, GetOptions? options = null, CancellationToken cancellationToken = default) =>
        RangeAsync(KvRequests.Range(key, Google.Protobuf.ByteString.Empty, options), cancellationToken);

    /// <summary>Keys in [key, rangeEnd). A rangeEnd of "\0" means every key ≥ key.</summary>
    public Task<GetResult> GetRangeAsync(string key, string rangeEnd, GetOptions? options = null, CancellationToken cancellationToken = default) =>
        RangeAsync(KvRequests.Range(key, Keys.Bytes(rangeEnd), options), cancellationToken);

    public Task<GetResult> GetPrefixAsync(string prefix, GetOptions? options = null, CancellationToken cancellationToken = default) =>
        RangeAsync(KvRequests.Range(prefix, Keys.PrefixEnd(prefix), options), cancellationToken);

    private async Task<GetResult> RangeAsync(Wire.RangeRequest request, CancellationToken cancellationToken) =>
        KvRequests.ToResult(await UnaryAsync((m, o) => m.Kv.RangeAsync(request, o), retryAfterSend: true, cancellationToken));

    public Task<PutResult> PutAsync(string key, string value, long leaseId = 0, bool prevKv = false, CancellationToken cancellationToken = default) =>
        PutAsync(key, System.Text.Encoding.UTF8.GetBytes(value), leaseId, prevKv, cancellationToken);

    public async Task<PutResult> PutAsync(string key, byte[] value, long leaseId = 0, bool prevKv = false, CancellationToken cancellationToken = default)
    {
        var request = KvRequests.Put(key, value, leaseId, prevKv);
        return KvRequests.ToResult(await UnaryAsync((m, o) => m.Kv.PutAsync(request, o), retryAfterSend: false, cancellationToken));
    }

    public async Task<DeleteResult> DeleteAsync(string key, bool prevKv = false, CancellationToken cancellationToken = default)
    {
        var request = new Wire.DeleteRangeRequest { Key = Keys.Bytes(key), PrevKv = prevKv };
        return KvRequests.ToResult(await UnaryAsync((m, o) => m.Kv.DeleteRangeAsync(request, o), retryAfterSend: false, cancellationToken));
    }

    public async Task<DeleteResult> DeletePrefixAsync(string prefix, bool prevKv = false, CancellationToken cancellationToken = default)
    {
        var request = new Wire.DeleteRangeRequest { Key = Keys.Bytes(prefix), RangeEnd = Keys.PrefixEnd(prefix), PrevKv = prevKv };
        return KvRequests.ToResult(await UnaryAsync((m, o) => m.Kv.DeleteRangeAsync(request, o), retryAfterSend: false, cancellationToken));
    }

    /// <summary>Discards history before <paramref name="revision"/>; reads and watches below it then fail with <see cref="CompactedException"/>.</summary>
    public async Task CompactAsync(long revision, bool physical = false, CancellationToken cancellationToken = default)
    {
        var request = new Wire.CompactionRequest { Revision = revision, Physical = physical };
        await UnaryAsync((m, o) => m.Kv.CompactAsync(request, o), retryAfterSend: false, cancellationToken);
    }

    public TxnBuilder Txn() => new(this);

    internal async Task<TxnResult> CommitAsync(Wire.TxnRequest request, CancellationToken cancellationToken) =>
        KvRequests.ToResult(await UnaryAsync((m, o) => m.Kv.TxnAsync(request, o), retryAfterSend: false, cancellationToken));

    /// <summary>
    /// Runs one unary request. Members are tried in round-robin order (members whose last
    /// connection attempt failed last), in rounds until <see cref="ConclaveClientOptions.RequestTimeout"/>
    /// has passed; a member that cannot be connected to within
    /// <see cref="ConclaveClientOptions.DialTimeout"/> is skipped (nothing was sent). Only with
    /// <paramref name="retryAfterSend"/> (reads) is a request that reached a member that turned
    /// out unavailable or leaderless sent to the next member as well.
    /// </summary>
    internal async Task<TResponse> UnaryAsync<TResponse>(
        Func<Member, CallOptions, AsyncUnaryCall<TResponse>> call, bool retryAfterSend, CancellationToken cancellationToken)
    {
        // Rounds over all members until RequestTimeout has passed: a cluster electing a new
        // leader, or a member restarting, is waited out instead of failing the first round.
        var time = Options.TimeProvider;
        var giveUp = time.GetUtcNow() + Options.RequestTimeout;
        Exception? last = null;
        while (true)
        {
            foreach (var member in Candidates())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!await member.TryConnectAsync(Options.DialTimeout, cancellationToken))
                {
                    last = new ClusterUnavailableException($"could not connect to {member.Address} within {Options.DialTimeout.TotalSeconds:0.#} s");
                    continue;
                }
                var callOptions = new CallOptions(deadline: DateTime.UtcNow + Options.RequestTimeout, cancellationToken: cancellationToken);
                try
                {
                    return await call(member, callOptions);
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException("the request was cancelled", e, cancellationToken);
                }
                catch (RpcException e) when (retryAfterSend && ErrorMapping.IsMemberUnavailable(e))
                {
                    last = ErrorMapping.Map(e);
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && ErrorMapping.Map(e).GetType() == typeof(ConclaveException))
                {
                    throw new ClusterUnavailableException(
                        $"{member.Address} became unavailable after the request was sent; it may or may not have been applied ({e.Status.Detail})", e);
                }
                catch (RpcException e)
                {
                    throw ErrorMapping.Map(e);
                }
            }
            if (time.GetUtcNow() + Options.ReconnectDelay >= giveUp)
            {
                break;
            }
            await Task.Delay(Options.ReconnectDelay, time, cancellationToken);
        }
        throw new ClusterUnavailableException(
            $"no member of [{string.Join(", ", _members.Select(m => m.Address))}] could serve the request within {Options.RequestTimeout.TotalSeconds:0.#} s: {last?.Message}", last);
    }

    /// <summary>Every member once, starting at the round-robin cursor; failing members last.</summary>
    internal IEnumerable<Member> Candidates()
    {
        var start = (int)((uint)Interlocked.Increment(ref _cursor) % (uint)_members.Length);
        var order = Enumerable.Range(0, _members.Length).Select(i => _members[(start + i) % _members.Length]).ToList();
        return order.Where(m => !m.IsFailing).Concat(order.Where(m => m.IsFailing));
    }

    /// <summary>A member with an established connection, for a stream (watch, keep-alive).</summary>
    internal async Task<Member> ConnectedMemberAsync(CancellationToken cancellationToken)
    {
        foreach (var member in Candidates())
        {
            if (await member.TryConnectAsync(Options.DialTimeout, cancellationToken))
            {
                return member;
            }
        }
        throw new ClusterUnavailableException($"no member of [{string.Join(", ", _members.Select(m => m.Address))}] could be reached");
    }

    public ValueTask DisposeAsync()
    {
        foreach (var member in _members)
        {
            member.Dispose();
        }
        return ValueTask.CompletedTask;
    }
}
