using System.Text;
using Conclave.Server.Watch;
using Conclave.Storage.Mvcc;
using Microsoft.Extensions.Time.Testing;

namespace Conclave.Server.Tests.Watch;

/// <summary>A store, a started hub on it with fake time, and helpers to write and to read responses with a timeout.</summary>
internal sealed class WatchFixture : IAsyncDisposable
{
    public static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(20);

    public WatchFixture(WatchHubOptions? options = null)
    {
        Hub = new WatchHub(Store, options, Time);
        Hub.Start();
    }

    public MvccStore Store { get; } = new();

    public FakeTimeProvider Time { get; } = new();

    public WatchHub Hub { get; }

    public async ValueTask DisposeAsync()
    {
        await Hub.DisposeAsync();
        Store.Dispose();
    }

    public long Put(string key, string value) => Write(t => t.Put(B(key), B(value)));

    public long Delete(string key, string end = "") => Write(t => t.DeleteRange(B(key), B(end)));

    /// <summary>Runs <paramref name="body"/> as one write txn (one revision) and commits it.</summary>
    public long Write(Action<MvccWriteTxn> body)
    {
        using var txn = Store.BeginWrite();
        body(txn);
        return txn.Commit().Revision;
    }

    public static byte[] B(string s) => Encoding.Latin1.GetBytes(s);

    public static string S(ReadOnlyMemory<byte> b) => Encoding.Latin1.GetString(b.Span);

    /// <summary>"PUT k@rev", "DELETE k@rev", with " prev@rev" when the event carries a previous kv.</summary>
    public static string Describe(Event e) =>
        $"{(e.Type == EventType.Put ? "PUT" : "DELETE")} {S(e.Kv.Key)}@{e.Kv.ModRevision}" +
        (e.PrevKv is null ? "" : $" prev@{e.PrevKv.ModRevision}");

    public static WatchCreateRequest Req(string key, string end = "", long start = 0) =>
        new() { Key = B(key), RangeEnd = B(end), StartRevision = start };

    public static async Task<WatchResponse> ReadAsync(WatchStream stream, string expected)
    {
        using var cts = new CancellationTokenSource(ReadTimeout);
        try
        {
            return await stream.Responses.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no watch response within {ReadTimeout}; expected {expected}");
        }
    }

    /// <summary>
    /// Waits until a response can be read (true) or <paramref name="other"/> has completed (false), whichever is
    /// first; throws <see cref="TimeoutException"/> after <see cref="ReadTimeout"/>. Reads nothing.
    /// </summary>
    public static async Task<bool> WaitForResponseOrAsync(WatchStream stream, Task other, string expected)
    {
        // No token: once other has won, this wait ends quietly when a response comes or the stream completes.
        var ready = stream.Responses.WaitToReadAsync().AsTask();
        if (!ready.IsCompleted)
        {
            try
            {
                await Task.WhenAny(ready, other).WaitAsync(ReadTimeout);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"no watch response within {ReadTimeout}; expected {expected}");
            }
        }
        return ready.IsCompleted;
    }

    /// <summary>Reads the created response of <paramref name="watchId"/>.</summary>
    public static async Task ExpectCreatedAsync(WatchStream stream, long watchId)
    {
        var r = await ReadAsync(stream, $"created response of watcher {watchId}");
        Assert.True(r.Created, $"expected created, got {r}");
        Assert.False(r.Canceled, $"expected created, got {r}");
        Assert.Equal(watchId, r.WatchId);
    }

    /// <summary>
    /// Reads event responses of <paramref name="watchId"/> until one holds an event at <paramref name="lastRevision"/>;
    /// fails on any other response. Returns the events described.
    /// </summary>
    public static async Task<List<string>> ReadEventsUntilAsync(WatchStream stream, long watchId, long lastRevision)
    {
        var seen = new List<string>();
        while (true)
        {
            var r = await ReadAsync(stream, $"events of watcher {watchId} up to revision {lastRevision}; so far {seen.Count}");
            Assert.Equal(watchId, r.WatchId);
            Assert.False(r.Created || r.Canceled || r.Events.Count == 0, $"expected events, got {r}");
            seen.AddRange(r.Events.Select(Describe));
            if (r.Events[^1].Kv.ModRevision >= lastRevision)
            {
                return seen;
            }
        }
    }

    /// <summary>What a watcher of (key, end) from <paramref name="start"/> must receive, computed from the store's history.</summary>
    public List<string> Expected(string key, string end, long start, bool prevKv = false, WatchFilters filters = WatchFilters.None)
    {
        var r = Store.EventsSince(start, B(key), B(end));
        Assert.Equal(MvccStatus.Ok, r.Status);
        return r.Events
            .Where(e => e.Type == EventType.Put ? (filters & WatchFilters.NoPut) == 0 : (filters & WatchFilters.NoDelete) == 0)
            .Select(e => Describe(prevKv ? e : e with { PrevKv = null }))
            .ToList();
    }
}
