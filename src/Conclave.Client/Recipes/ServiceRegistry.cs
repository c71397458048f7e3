using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Conclave.Client.Recipes;

/// <summary>One instance of a service, stored as JSON at "{root}{service}/{id}".</summary>
public sealed record ServiceInstance(
    string Service,
    string Id,
    string Address,
    int Port,
    IReadOnlyList<string>? Tags = null,
    IReadOnlyDictionary<string, string>? Metadata = null);

/// <summary>
/// Service discovery over the store. An instance is registered under a lease that is kept
/// alive by its <see cref="ServiceRegistration"/>; when the process dies (or the lease is
/// revoked) the key goes away with the lease and watchers see the instance disappear.
/// </summary>
/// <example>
/// <code>
/// var registry = new ServiceRegistry(client);
/// await using var registration = await registry.RegisterAsync(new ServiceInstance("api", "api-1", "10.0.0.5", 8080, ["v2"]));
/// IReadOnlyList&lt;ServiceInstance&gt; apis = await registry.DiscoverAsync("api");
/// await foreach (var current in registry.WatchAsync("api")) { /* the full current set, after every change */ break; }
/// </code>
/// </example>
public sealed class ServiceRegistry(ConclaveClient client, string root = "services/")
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private string Prefix(string service) => root + service + "/";

    /// <summary>Registers (or replaces) an instance under a new lease of <paramref name="ttlSeconds"/>, kept alive until disposed.</summary>
    public async Task<ServiceRegistration> RegisterAsync(ServiceInstance instance, long ttlSeconds = 10, CancellationToken cancellationToken = default)
    {
        var keeper = await client.GrantKeptLeaseAsync(ttlSeconds, cancellationToken);
        try
        {
            var key = Prefix(instance.Service) + instance.Id;
            await client.PutAsync(key, JsonSerializer.SerializeToUtf8Bytes(instance, Json), keeper.Id, cancellationToken: cancellationToken);
            return new ServiceRegistration(instance, key, keeper);
        }
        catch
        {
            await keeper.DisposeAsync();
            throw;
        }
    }

    public async Task<IReadOnlyList<ServiceInstance>> DiscoverAsync(string service, CancellationToken cancellationToken = default) =>
        Decode((await client.GetPrefixAsync(Prefix(service), cancellationToken: cancellationToken)).Kvs).Values.ToList();

    /// <summary>The current set of instances (ordered by id) now and after every change, until cancelled.</summary>
    public async IAsyncEnumerable<IReadOnlyList<ServiceInstance>> WatchAsync(
        string service, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var prefix = Prefix(service);
        var now = await client.GetPrefixAsync(prefix, cancellationToken: cancellationToken);
        var current = Decode(now.Kvs);
        yield return current.Values.ToList();
        await foreach (var e in client.WatchPrefixAsync(prefix, new WatchOptions { StartRevision = now.Revision + 1 }, cancellationToken))
        {
            switch (e.Type)
            {
                case WatchEventType.Resync:
                    current = Decode(e.Snapshot);
                    break;
                case WatchEventType.Put when TryDecode(e.Kv!) is { } instance:
                    current[e.Kv!.Key] = instance;
                    break;
                case WatchEventType.Delete:
                    current.Remove(e.Kv!.Key);
                    break;
            }
            yield return current.Values.ToList();
        }
    }

    private static SortedDictionary<string, ServiceInstance> Decode(IEnumerable<KeyValue> kvs)
    {
        var instances = new SortedDictionary<string, ServiceInstance>(StringComparer.Ordinal);
        foreach (var kv in kvs)
        {
            if (TryDecode(kv) is { } instance)
            {
                instances[kv.Key] = instance;
            }
        }
        return instances;
    }

    /// <summary>The instance, or null for a value that is not an instance's JSON (skipped, not fatal).</summary>
    private static ServiceInstance? TryDecode(KeyValue kv)
    {
        try
        {
            return JsonSerializer.Deserialize<ServiceInstance>(kv.Value, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A live registration: disposing deregisters (revokes the lease). <see cref="Lost"/> fires when the lease is lost.</summary>
public sealed class ServiceRegistration : IAsyncDisposable
{
    private readonly LeaseKeeper _keeper;

    internal ServiceRegistration(ServiceInstance instance, string key, LeaseKeeper keeper)
    {
        Instance = instance;
        Key = key;
        _keeper = keeper;
    }

    public ServiceInstance Instance { get; }

    public string Key { get; }

    public long LeaseId => _keeper.Id;

    public CancellationToken Lost => _keeper.Lost;

    public ValueTask DisposeAsync() => _keeper.DisposeAsync();
}
