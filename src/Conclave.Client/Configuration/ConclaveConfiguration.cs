using Microsoft.Extensions.Configuration;

namespace Conclave.Client.Configuration;

/// <summary>
/// Configuration from a key prefix: "app/config/Db/Url" becomes "Db:Url" (the prefix is cut,
/// '/' becomes the section separator ':'). The whole prefix is loaded at build time; then a
/// watch keeps the data current and raises the reload token after each change (a resync after
/// compaction replaces the data). Values are UTF-8 text.
/// </summary>
public sealed class ConclaveConfigurationSource : IConfigurationSource
{
    public required IReadOnlyList<string> Endpoints { get; init; }

    public required string Prefix { get; init; }

    public ConclaveClientOptions? ClientOptions { get; init; }

    /// <summary>When false, the data is loaded once and never reloaded.</summary>
    public bool ReloadOnChange { get; init; } = true;

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new ConclaveConfigurationProvider(this);
}

public sealed class ConclaveConfigurationProvider(ConclaveConfigurationSource source) : ConfigurationProvider, IAsyncDisposable, IDisposable
{
    private readonly ConclaveClient _client = new(source.Endpoints, source.ClientOptions);
    private readonly CancellationTokenSource _stop = new();
    private Task? _watch;

    /// <summary>The store revision the current data reflects.</summary>
    public long Revision { get; private set; }

    public override void Load()
    {
        var snapshot = _client.GetPrefixAsync(source.Prefix).GetAwaiter().GetResult();
        Data = ToData(snapshot.Kvs);
        Revision = snapshot.Revision;
        if (source.ReloadOnChange && _watch is null)
        {
            _watch = Task.Run(() => WatchAsync(snapshot.Revision + 1));
        }
    }

    private async Task WatchAsync(long fromRevision)
    {
        try
        {
            await foreach (var e in _client.WatchPrefixAsync(source.Prefix, new WatchOptions { StartRevision = fromRevision }, _stop.Token))
            {
                var data = new Dictionary<string, string?>(Data, StringComparer.OrdinalIgnoreCase);
                switch (e.Type)
                {
                    case WatchEventType.Resync:
                        data = ToData(e.Snapshot);
                        break;
                    case WatchEventType.Put:
                        data[ToConfigKey(e.Kv!.Key)] = e.Kv.ValueText;
                        break;
                    case WatchEventType.Delete:
                        data.Remove(ToConfigKey(e.Kv!.Key));
                        break;
                }
                Data = data;
                Revision = e.Revision;
                OnReload();
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private Dictionary<string, string?> ToData(IEnumerable<KeyValue> kvs) =>
        kvs.ToDictionary(kv => ToConfigKey(kv.Key), kv => (string?)kv.ValueText, StringComparer.OrdinalIgnoreCase);

    private string ToConfigKey(string key) =>
        key[source.Prefix.Length..].Replace('/', ConfigurationPath.KeyDelimiter[0]);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_watch is not null)
        {
            await _watch;
        }
        await _client.DisposeAsync();
        _stop.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}

public static class ConclaveConfigurationExtensions
{
    /// <summary>Adds the keys under <paramref name="prefix"/> (e.g. "app/config/") as configuration, reloaded on change.</summary>
    public static IConfigurationBuilder AddConclave(
        this IConfigurationBuilder builder, IEnumerable<string> endpoints, string prefix, bool reloadOnChange = true, ConclaveClientOptions? clientOptions = null) =>
        builder.Add(new ConclaveConfigurationSource
        {
            Endpoints = endpoints.ToList(),
            Prefix = prefix,
            ReloadOnChange = reloadOnChange,
            ClientOptions = clientOptions,
        });
}
