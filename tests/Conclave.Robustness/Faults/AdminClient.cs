using Conclave.Api.Etcd.Protocol;
using Conclave.Robustness.Cluster;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Conclave.Robustness.Faults;

/// <summary>
/// The harness's own etcd v3 calls for faults that need traffic or maintenance (filling the store,
/// compacting, defragmenting, disarming alarms, probing a member). Not recorded in the history:
/// these keys are outside the workload's prefix unless a caller says otherwise.
/// </summary>
public sealed class AdminClient(IClusterUnderTest cluster) : IDisposable
{
    /// <summary>etcd's text for a put refused because the quota is full (NOSPACE).</summary>
    public const string NoSpaceDetail = "etcdserver: mvcc: database space exceeded";

    private readonly Dictionary<int, GrpcChannel> _channels = [];
    private readonly Lock _lock = new();

    public static bool IsNoSpace(RpcException e) => e.StatusCode == StatusCode.ResourceExhausted && e.Status.Detail == NoSpaceDetail;

    /// <summary>A put to <paramref name="member"/>; returns the revision. Throws <see cref="RpcException"/> as the server answered.</summary>
    public async Task<long> PutAsync(int member, string key, ByteString value, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var response = await new KV.KVClient(Channel(member)).PutAsync(
            new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = value },
            deadline: DateTime.UtcNow + timeout,
            cancellationToken: cancellationToken);
        return response.Header.Revision;
    }

    /// <summary>Deletes one key; returns the revision after the delete and how many keys it deleted (0: the revision is not the delete's).</summary>
    public async Task<(long Revision, long Deleted)> DeleteAsync(int member, string key, TimeSpan timeout)
    {
        var response = await new KV.KVClient(Channel(member)).DeleteRangeAsync(
            new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(key) },
            deadline: DateTime.UtcNow + timeout);
        return (response.Header.Revision, response.Deleted);
    }

    public async Task CompactAsync(int member, long revision, TimeSpan timeout) =>
        await new KV.KVClient(Channel(member)).CompactAsync(
            new CompactionRequest { Revision = revision, Physical = true },
            deadline: DateTime.UtcNow + timeout);

    public async Task DefragmentAsync(int member, TimeSpan timeout) =>
        await new Maintenance.MaintenanceClient(Channel(member)).DefragmentAsync(new DefragmentRequest(), deadline: DateTime.UtcNow + timeout);

    /// <summary>Deactivates every raised alarm (etcdctl alarm disarm); returns how many there were.</summary>
    public async Task<int> DisarmAllAsync(int member, TimeSpan timeout)
    {
        var maintenance = new Maintenance.MaintenanceClient(Channel(member));
        var list = await maintenance.AlarmAsync(new AlarmRequest { Action = AlarmRequest.Types.AlarmAction.Get }, deadline: DateTime.UtcNow + timeout);
        foreach (var alarm in list.Alarms)
        {
            await maintenance.AlarmAsync(
                new AlarmRequest { Action = AlarmRequest.Types.AlarmAction.Deactivate, MemberID = alarm.MemberID, Alarm = alarm.Alarm },
                deadline: DateTime.UtcNow + timeout);
        }

        return list.Alarms.Count;
    }

    /// <summary>Raised alarms as "NOSPACE@memberid" strings.</summary>
    public async Task<IReadOnlyList<string>> AlarmsAsync(int member, TimeSpan timeout)
    {
        var list = await new Maintenance.MaintenanceClient(Channel(member))
            .AlarmAsync(new AlarmRequest { Action = AlarmRequest.Types.AlarmAction.Get }, deadline: DateTime.UtcNow + timeout);
        return list.Alarms.Select(a => $"{a.Alarm.ToString().ToUpperInvariant()}@{a.MemberID:x}").ToList();
    }

    /// <summary>
    /// Tries <paramref name="call"/> on every running member in turn until one answers, for at most
    /// <paramref name="timeout"/>; returns its result. Rethrows the last error when none did.
    /// </summary>
    public async Task<T> AnyAsync<T>(Func<int, Task<T>> call, TimeSpan timeout, Func<RpcException, bool>? giveUp = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        RpcException? last = null;
        for (var attempt = 0; DateTime.UtcNow < deadline; attempt++)
        {
            var member = attempt % cluster.Count;
            if (cluster.IsUp(member))
            {
                try
                {
                    return await call(member);
                }
                catch (RpcException e) when (giveUp is null || !giveUp(e))
                {
                    last = e;
                }
            }

            if (member == cluster.Count - 1)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
            }
        }

        throw last ?? new RpcException(new Status(StatusCode.Unavailable, "robustness: no member is up"));
    }

    private GrpcChannel Channel(int member)
    {
        lock (_lock)
        {
            if (!_channels.TryGetValue(member, out var channel))
            {
                channel = _channels[member] = GrpcChannel.ForAddress(cluster.ClientUrls[member]);
            }

            return channel;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var channel in _channels.Values)
            {
                channel.Dispose();
            }

            _channels.Clear();
        }
    }
}
