using System.Text;
using Conclave.Storage.Mvcc;
using CsCheck;
using Xunit.Abstractions;

namespace Conclave.Storage.Tests.Mvcc;

/// <summary>
/// The store against <see cref="MvccModel"/> over random operation sequences. CsCheck shrinks a failure
/// and reports its seed; rerun one with the environment variable CsCheck_Seed=&lt;seed&gt;.
/// </summary>
public sealed class MvccPropertyTests(ITestOutputHelper output)
{
    // Few short keys over a tiny alphabet (with 0x00 and 0xff) so ranges, prefixes and collisions are frequent.
    private static readonly Gen<string> GenKey = Gen.OneOf("a", "b", "c", "ab", "a\xff", "b\0", "\xff", "\xff\xff", "ba");
    private static readonly Gen<string> GenEnd = Gen.OneOf("", "", "\0", "b", "c", "ab\0", "\xff");
    private static readonly Gen<string> GenValue = Gen.OneOf("", "x", "y", "zz");

    private abstract record Op;

    private sealed record PutOp(string Key, string Value, long Lease) : Op;

    private sealed record DelOp(string Key, string End) : Op;

    private sealed record TxnOp(string CmpKey, long Version, (string Key, string Value)[] Puts, string DelKey, string DelEnd) : Op;

    private sealed record RangeOp(int RevBack, string Key, string End, int Limit, SortOrder Order, SortTarget Target) : Op;

    private sealed record CompactOp(int RevBack) : Op;

    private sealed record StepOp(int Keys) : Op;

    private sealed record SnapshotOp : Op;

    private sealed record EventsOp(int RevBack, string Key, string End, int Limit) : Op;

    private sealed record AbortedTxnOp((string Key, string Value, long Lease)[] Puts, string DelKey, string DelEnd) : Op;

    private sealed record IgnoreValuePutOp(string Key, long Lease) : Op;

    private static readonly Gen<Op> GenOp = Gen.Frequency(
        (6, Gen.Select(GenKey, GenValue, Gen.Int[0, 2], (k, v, l) => (Op)new PutOp(k, v, l))),
        (2, Gen.Select(GenKey, GenEnd, (k, e) => (Op)new DelOp(k, e))),
        (2, Gen.Select(GenKey, Gen.Int[0, 3], Gen.Select(GenKey, GenValue).Array[0, 3], GenKey, GenEnd,
            (ck, v, puts, dk, de) => (Op)new TxnOp(ck, v, puts, dk, de))),
        (4, Gen.Select(Gen.Int[-1, 8], GenKey, GenEnd, Gen.Int[0, 3], Gen.Select(Gen.OneOf(SortOrder.None, SortOrder.Ascend, SortOrder.Descend), Gen.OneOf(SortTarget.Key, SortTarget.Mod, SortTarget.Version, SortTarget.Value, SortTarget.Create)),
            (rb, k, e, l, s) => (Op)new RangeOp(rb, k, e, l, s.Item1, s.Item1 == SortOrder.None ? SortTarget.Key : s.Item2))),
        (1, Gen.Int[-1, 6].Select(rb => (Op)new CompactOp(rb))),
        (1, Gen.Int[1, 3].Select(n => (Op)new StepOp(n))),
        (1, Gen.Const((Op)new SnapshotOp())),
        (2, Gen.Select(Gen.Int[-1, 8], GenKey, GenEnd, Gen.Int[0, 3], (rb, k, e, l) => (Op)new EventsOp(rb, k, e, l))),
        (1, Gen.Select(Gen.Select(GenKey, GenValue, Gen.Int[0, 2].Select(l => (long)l)).Array[0, 4], GenKey, GenEnd, (p, k, e) => (Op)new AbortedTxnOp(p, k, e))),
        (1, Gen.Select(GenKey, Gen.Int[0, 2], (k, l) => (Op)new IgnoreValuePutOp(k, l))));

    [Fact]
    public void Store_matches_the_model_of_every_revision()
    {
        GenOp.Array[1, 60].Sample(ops => Run(ops), writeLine: output.WriteLine, iter: 400, threads: 1,
            print: ops => string.Join("\n", ops.Select(o => o.ToString())));
    }

    private static void Run(Op[] ops)
    {
        var store = new MvccStore(new MvccStoreOptions { CompactionStepKeys = 2, ReadChunkKeys = 2 });
        var model = new MvccModel();
        foreach (var op in ops)
        {
            switch (op)
            {
                case PutOp p:
                    {
                        var (status, rev, _) = store.Put(new PutRequest { Key = MvccModel.B(p.Key), Value = MvccModel.B(p.Value), Lease = p.Lease });
                        Check(status == MvccStatus.Ok, $"put {status}");
                        model.Apply([(p.Key, p.Value, "", p.Lease)]);
                        Check(rev == model.Current, $"put revision {rev} != {model.Current}");
                        break;
                    }
                case DelOp d:
                    {
                        var (status, rev, deleted, _) = store.DeleteRange(new DeleteRangeRequest { Key = MvccModel.B(d.Key), RangeEnd = MvccModel.B(d.End) });
                        var expected = model.Latest.Keys.Count(k => MvccModel.InRange(d.Key, d.End, k));
                        model.Apply([(d.Key, null, d.End, 0)]);
                        Check(status == MvccStatus.Ok && deleted == expected && rev == model.Current, $"delete {status} {deleted}/{expected} rev {rev}/{model.Current}");
                        break;
                    }
                case TxnOp t:
                    RunTxn(store, model, t);
                    break;
                case RangeOp r:
                    CheckRange(store, model, r);
                    break;
                case CompactOp c:
                    {
                        var rev = model.Current - c.RevBack;
                        var expected = rev <= model.Compact ? MvccStatus.Compacted : rev > model.Current ? MvccStatus.FutureRevision : MvccStatus.Ok;
                        var status = store.Compact(rev);
                        Check(status == expected, $"compact({rev}) {status}, expected {expected}");
                        if (status == MvccStatus.Ok)
                        {
                            model.Compact = rev;
                        }
                        break;
                    }
                case StepOp s:
                    store.StepCompaction(s.Keys);
                    break;
                case SnapshotOp:
                    {
                        var before = store.HashKV(0);
                        var buffer = new MemoryStream();
                        store.WriteSnapshot(buffer);
                        var restored = new MvccStore(store.Options);
                        buffer.Position = 0;
                        restored.Restore(buffer);
                        var after = restored.HashKV(0);
                        Check(before == after, $"hash before snapshot {before} != after restore {after}");
                        store = restored;
                        break;
                    }
                case EventsOp e:
                    CheckEvents(store, model, e);
                    break;
                case AbortedTxnOp a:
                    {
                        // Writes (in any mix, the same key several times) then no commit: nothing happened.
                        var hashBefore = store.HashKV(0);
                        using (var txn = store.BeginWrite())
                        {
                            foreach (var (k, v, l) in a.Puts)
                            {
                                Check(txn.Put(MvccModel.B(k), MvccModel.B(v), l).Status == MvccStatus.Ok, "put in aborted txn");
                            }
                            txn.DeleteRange(MvccModel.B(a.DelKey), MvccModel.B(a.DelEnd));
                            if (a.Puts.Length > 0)
                            {
                                txn.Put(MvccModel.B(a.Puts[0].Key), MvccModel.B("again"));
                            }
                        }
                        Check(store.HashKV(0) == hashBefore, "an aborted txn changed the hash");
                        break;
                    }
                case IgnoreValuePutOp iv:
                    {
                        var (status, _, _) = store.Put(new PutRequest { Key = MvccModel.B(iv.Key), Lease = iv.Lease, IgnoreValue = true });
                        if (model.Latest.TryGetValue(iv.Key, out var old))
                        {
                            Check(status == MvccStatus.Ok, $"ignore_value put {status}");
                            model.Apply([(iv.Key, old.Value, "", iv.Lease)]);
                        }
                        else
                        {
                            Check(status == MvccStatus.KeyNotFound, $"ignore_value put on a missing key: {status}");
                        }
                        break;
                    }
            }
            Check(store.CurrentRevision == model.Current, $"current revision {store.CurrentRevision} != model {model.Current}");
            Check(store.CompactRevision == model.Compact, $"compact revision {store.CompactRevision} != model {model.Compact}");
            for (var lease = 1; lease <= 2; lease++)
            {
                var expected = model.Latest.Values.Where(kv => kv.Lease == lease).Select(kv => kv.Key);
                Check(store.KeysWithLease(lease).Select(k => MvccModel.S(k.Span)).SequenceEqual(expected), $"keys with lease {lease}");
            }
        }

        // Physical pruning never changes an answer.
        var hash = store.HashKV(0);
        store.FinishCompaction();
        Check(store.HashKV(0) == hash, "hash changed by physical compaction");
        for (var rev = Math.Max(1, model.Compact); rev <= model.Current; rev++)
        {
            CheckRange(store, model, new RangeOp((int)(model.Current - rev), "\0", "\0", 0, SortOrder.None, SortTarget.Key));
        }
        CheckEvents(store, model, new EventsOp((int)(model.Current - Math.Max(1, model.Compact)), "\0", "\0", 0));
    }

    private static void RunTxn(MvccStore store, MvccModel model, TxnOp t)
    {
        var puts = t.Puts.DistinctBy(p => p.Key).ToArray();
        var request = new TxnRequest
        {
            Compare = [new Compare { Key = MvccModel.B(t.CmpKey), Target = CompareTarget.Version, Result = CompareResult.Equal, Number = t.Version }],
            Success = [.. puts.Select(p => RequestOp.Put(new PutRequest { Key = MvccModel.B(p.Key), Value = MvccModel.B(p.Value) })),
                RequestOp.Range(new RangeRequest { Key = MvccModel.B("\0"), RangeEnd = KeyRange.NoEnd })],
            Failure = [RequestOp.DeleteRange(new DeleteRangeRequest { Key = MvccModel.B(t.DelKey), RangeEnd = MvccModel.B(t.DelEnd) })],
        };
        var r = store.Txn(request);
        var version = model.Latest.TryGetValue(t.CmpKey, out var kv) ? kv.Version : 0;
        var succeeded = version == t.Version;
        Check(r.Status == MvccStatus.Ok && r.Succeeded == succeeded, $"txn {r.Status} succeeded={r.Succeeded}, expected {succeeded}");
        if (succeeded)
        {
            model.Apply(puts.Select(p => (p.Key, (string?)p.Value, "", 0L)));
            // The range after the puts sees them, at the txn's revision.
            var seen = ((RangeResponseOp)r.Responses[^1]).Response.Kvs.Select(k => MvccModel.S(k.Key.Span)).ToArray();
            Check(seen.SequenceEqual(model.Latest.Keys), "range inside txn does not see the txn's puts");
        }
        else
        {
            model.Apply([(t.DelKey, null, t.DelEnd, 0)]);
        }
        Check(r.Revision == model.Current, $"txn revision {r.Revision} != {model.Current}");
        Check(r.Events.All(e => e.Kv.ModRevision == r.Revision), "txn events at different revisions");
    }

    private static void CheckRange(MvccStore store, MvccModel model, RangeOp r)
    {
        var rev = model.Current - r.RevBack;
        var result = store.Range(new RangeRequest
        {
            Key = MvccModel.B(r.Key),
            RangeEnd = MvccModel.B(r.End),
            Revision = rev,
            Limit = r.Limit,
            SortOrder = r.Order,
            SortTarget = r.Target,
        });
        var expectedStatus = rev > model.Current ? MvccStatus.FutureRevision
            : rev > 0 && rev < model.Compact ? MvccStatus.Compacted : MvccStatus.Ok;
        Check(result.Status == expectedStatus, $"range at {rev}: {result.Status}, expected {expectedStatus}");
        if (expectedStatus != MvccStatus.Ok)
        {
            Check(result.Status.Message() == (expectedStatus == MvccStatus.Compacted
                ? "mvcc: required revision has been compacted" : "mvcc: required revision is a future revision"), "message");
            return;
        }
        var map = model.Maps[(int)(rev <= 0 ? model.Current : rev)];
        var all = map.Values.Where(v => MvccModel.InRange(r.Key, r.End, v.Key)).ToList();
        var sorted = r.Order == SortOrder.None ? all : Sort(all, r.Order, r.Target);
        var expected = r.Limit > 0 ? sorted.Take(r.Limit).ToList() : sorted;
        var actual = result.Kvs.Select(ToModel).ToList();
        Check(actual.SequenceEqual(expected), $"range at {rev}: got [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]");
        Check(result.Count == all.Count, $"count {result.Count} != {all.Count}");
        Check(result.More == (r.Limit > 0 && all.Count > r.Limit), "more");
        Check(result.Revision == model.Current, "header revision");
    }

    private static List<ModelKv> Sort(List<ModelKv> kvs, SortOrder order, SortTarget target)
    {
        var sign = order == SortOrder.Descend ? -1 : 1;
        var list = kvs.ToList();
        list.Sort((a, b) =>
        {
            var c = target switch
            {
                SortTarget.Key => string.CompareOrdinal(a.Key, b.Key),
                SortTarget.Mod => a.Mod.CompareTo(b.Mod),
                SortTarget.Version => a.Version.CompareTo(b.Version),
                SortTarget.Create => a.Create.CompareTo(b.Create),
                _ => string.CompareOrdinal(a.Value, b.Value),
            } * sign;
            return c != 0 ? c : string.CompareOrdinal(a.Key, b.Key);
        });
        return list;
    }

    private static void CheckEvents(MvccStore store, MvccModel model, EventsOp e)
    {
        var start = model.Current - e.RevBack;
        var result = store.EventsSince(start, MvccModel.B(e.Key), MvccModel.B(e.End), e.Limit);
        if (start <= 0)
        {
            Check(result.Status == MvccStatus.Ok && result.Events.Count == 0 && result.NextRevision == model.Current + 1, "events from now");
            return;
        }
        if (start < model.Compact)
        {
            Check(result.Status == MvccStatus.Compacted && result.CompactRevision == model.Compact, $"events from {start}: {result.Status}, expected Compacted");
            return;
        }
        var expected = new List<ModelEvent>();
        var next = Math.Max(start, model.Current + 1);
        for (var rev = start; rev <= model.Current; rev++)
        {
            foreach (var ev in model.Events[(int)rev].Where(ev => MvccModel.InRange(e.Key, e.End, ev.Key)))
            {
                if (rev == model.Compact)
                {
                    // Compaction at C keeps only each key's final put of revision C, without its previous kv.
                    if (ev.Type == EventType.Put && model.Maps[(int)rev].TryGetValue(ev.Key, out var kept) && kept == ev.Kv)
                    {
                        expected.Add(ev with { Prev = null });
                    }
                }
                else
                {
                    expected.Add(ev);
                }
            }
            next = rev + 1;
            if (e.Limit > 0 && expected.Count >= e.Limit)
            {
                break;
            }
        }
        var actual = result.Events.Select(ev => new ModelEvent(ev.Type, MvccModel.S(ev.Kv.Key.Span), ev.Kv.ModRevision,
            ev.Type == EventType.Put ? ToModel(ev.Kv) : null, ev.PrevKv is null ? null : ToModel(ev.PrevKv))).ToList();
        Check(result.Status == MvccStatus.Ok, $"events from {start}: {result.Status}");
        Check(actual.SequenceEqual(expected), $"events from {start}: got [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]");
        Check(result.NextRevision == next, $"events next revision {result.NextRevision} != {next}");
    }

    private static ModelKv ToModel(KeyValue kv) =>
        new(MvccModel.S(kv.Key.Span), kv.CreateRevision, kv.ModRevision, kv.Version, MvccModel.S(kv.Value.Span), kv.Lease);

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException(message);
        }
    }
}
