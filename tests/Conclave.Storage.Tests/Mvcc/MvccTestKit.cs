using System.Text;
using Conclave.Storage.Mvcc;

namespace Conclave.Storage.Tests.Mvcc;

internal static class MvccTestKit
{
    public static byte[] B(string s) => Encoding.Latin1.GetBytes(s);

    public static string S(ReadOnlyMemory<byte> b) => Encoding.Latin1.GetString(b.Span);

    public static long Put(this MvccStore store, string key, string value, long lease = 0)
    {
        var (status, rev, _) = store.Put(new PutRequest { Key = B(key), Value = B(value), Lease = lease });
        Assert.Equal(MvccStatus.Ok, status);
        return rev;
    }

    public static (long Revision, long Deleted) Delete(this MvccStore store, string key, string end = "")
    {
        var (status, rev, deleted, _) = store.DeleteRange(new DeleteRangeRequest { Key = B(key), RangeEnd = B(end) });
        Assert.Equal(MvccStatus.Ok, status);
        return (rev, deleted);
    }

    public static KeyValue? Get(this MvccStore store, string key, long revision = 0)
    {
        var r = store.Range(RangeRequest.Single(B(key), revision));
        Assert.Equal(MvccStatus.Ok, r.Status);
        return r.Kvs.Count == 0 ? null : r.Kvs[0];
    }

    public static string[] Keys(this RangeResult r) => r.Kvs.Select(kv => S(kv.Key)).ToArray();
}
