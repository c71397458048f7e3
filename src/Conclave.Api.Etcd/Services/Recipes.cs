using System.Text;
using Conclave.Server.Api;
using Conclave.Storage.Mvcc;
using ServerWatch = Conclave.Server.Watch;

namespace Conclave.Api.Etcd.Services;

/// <summary>
/// The building blocks of etcd's server-side lock and election (its client concurrency recipes),
/// on the member's KV, lease and watch APIs: a candidate's key is <c>prefix + hex(lease)</c>, its
/// place in line is its create revision, and it waits for the deletion of the key just before it.
/// </summary>
internal sealed class Recipes(IEtcdMember member)
{
    /// <summary>The candidate key of <paramref name="lease"/> under <paramref name="prefix"/> (prefix ends with '/').</summary>
    public static byte[] CandidateKey(ReadOnlySpan<byte> prefix, long lease)
    {
        var suffix = Encoding.ASCII.GetBytes(lease.ToString("x", System.Globalization.CultureInfo.InvariantCulture));
        var key = new byte[prefix.Length + suffix.Length];
        prefix.CopyTo(key);
        suffix.CopyTo(key.AsSpan(prefix.Length));
        return key;
    }

    public static byte[] Prefix(ReadOnlySpan<byte> name)
    {
        var prefix = new byte[name.Length + 1];
        name.CopyTo(prefix);
        prefix[^1] = (byte)'/';
        return prefix;
    }

    /// <summary>The first candidate in line: the prefix range sorted by create revision, limit 1.</summary>
    public static RangeRequest FirstCreated(byte[] prefix) => RangeRequest.Prefix(prefix) with
    {
        SortTarget = SortTarget.Create,
        SortOrder = SortOrder.Ascend,
        Limit = 1,
    };

    /// <summary>
    /// Creates the candidate key unless it exists: the txn "create_revision(key) == 0 ? put(key, value,
    /// lease) : get(key)", both branches also reading the first candidate in line.
    /// Returns the txn outcome and this candidate's create revision.
    /// </summary>
    public async Task<(ServerResult<Conclave.Server.StateMachine.TxnApplied> Result, long MyRevision, KeyValue? Existing, KeyValue? Owner)> EnqueueAsync(
        byte[] prefix, byte[] key, ReadOnlyMemory<byte> value, long lease, CancellationToken ct)
    {
        var txn = new TxnRequest
        {
            Compare = [new Compare { Key = key, Target = CompareTarget.Create, Result = CompareResult.Equal, Number = 0 }],
            Success = [RequestOp.Put(new PutRequest { Key = key, Value = value, Lease = lease }), RequestOp.Range(FirstCreated(prefix))],
            Failure = [RequestOp.Range(RangeRequest.Single(key)), RequestOp.Range(FirstCreated(prefix))],
        };
        var result = await member.KeyValue.TxnAsync(txn, serializable: false, ct).ConfigureAwait(false);
        var applied = result.UnwrapApplied();
        var owners = ((RangeResponseOp)applied.Responses[1]).Response.Kvs;
        var owner = owners.Count > 0 ? owners[0] : null;
        if (applied.Succeeded)
        {
            return (result, applied.Revision, null, owner);
        }
        var existing = ((RangeResponseOp)applied.Responses[0]).Response.Kvs[0];
        return (result, existing.CreateRevision, existing, owner);
    }

    /// <summary>
    /// Waits until no key under <paramref name="prefix"/> has a create revision ≤ <paramref name="maxCreateRevision"/>:
    /// repeatedly finds the newest such key and waits for its deletion. Returns the header of the last read.
    /// </summary>
    public async Task<ResponseHeader> WaitDeletesAsync(byte[] prefix, long maxCreateRevision, CancellationToken ct)
    {
        while (true)
        {
            var request = RangeRequest.Prefix(prefix) with
            {
                SortTarget = SortTarget.Create,
                SortOrder = SortOrder.Descend,
                Limit = 1,
                MaxCreateRevision = maxCreateRevision,
            };
            var result = await member.KeyValue.RangeAsync(request, serializable: false, ct).ConfigureAwait(false);
            var range = result.Unwrap();
            if (range.Kvs.Count == 0)
            {
                return result.Header;
            }
            await WaitDeleteAsync(range.Kvs[0].Key, result.Header.Revision, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits for a delete of <paramref name="key"/> at or after <paramref name="fromRevision"/>. Returns
    /// also when the watch is canceled (e.g. compacted), so the caller looks again.
    /// </summary>
    public async Task WaitDeleteAsync(ReadOnlyMemory<byte> key, long fromRevision, CancellationToken ct)
    {
        using var stream = member.OpenWatchStream();
        stream.Create(new ServerWatch.WatchCreateRequest { Key = key, StartRevision = fromRevision, Filters = ServerWatch.WatchFilters.NoPut });
        await foreach (var response in stream.Responses.ReadAllAsync(ct).ConfigureAwait(false))
        {
            if (response.Canceled || response.Events.Any(e => e.Type == EventType.Delete))
            {
                return;
            }
        }
        ct.ThrowIfCancellationRequested();
        throw EtcdErrors.Stopped.ToRpcException();
    }

    /// <summary>Deletes <paramref name="key"/>; used on unlock, resign and when a wait is abandoned.</summary>
    public async Task<ServerResult<Conclave.Server.StateMachine.DeleteRangeApplied>> DeleteAsync(ReadOnlyMemory<byte> key, CancellationToken ct)
    {
        var result = await member.KeyValue.DeleteRangeAsync(new DeleteRangeRequest { Key = key }, ct).ConfigureAwait(false);
        result.UnwrapApplied();
        return result;
    }

    /// <summary>Best-effort removal of a candidate key after the caller gave up waiting (the call's token is already canceled).</summary>
    public async Task AbandonAsync(byte[] key)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await member.KeyValue.DeleteRangeAsync(new DeleteRangeRequest { Key = key }, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The key goes with its lease anyway.
        }
    }
}
