using Conclave.Testing.Etcd;
using dotnet_etcd;
using Google.Protobuf;

namespace Conclave.E2E.Tests;

/// <summary>python3-etcd3 and dotnet-etcd against `conclave serve`.</summary>
public sealed class ClientLibraryTests(ConclaveFixture fixture) : IClassFixture<ConclaveFixture>
{
    private readonly ConclaveProcess _server = fixture.Server;

    [EtcdFact]
    public async Task Python_etcd3_put_get_lease_lock_and_status()
    {
        var result = (await _server.Python().RunAsync("""
            client.put("/py/a", "value-a")
            value, meta = client.get("/py/a")
            missing, _ = client.get("/py/none")
            print(value.decode(), meta.key.decode(), meta.version, missing)
            lease = client.lease(60)
            client.put("/py/leased", "v", lease=lease)
            print(lease.granted_ttl, [m.key.decode() for (_, m) in client.get_prefix("/py/leased")])
            lease.refresh()
            lease.revoke()
            print(list(client.get_prefix("/py/leased")))
            with client.lock("py-lock", ttl=10) as lock:
                print("locked", lock.is_acquired())
            status = client.status()
            print(status.leader.name, status.raft_term > 0)
            events, cancel = client.watch_prefix("/py/w/")
            client.put("/py/w/k", "x")
            for ev in events:
                print(type(ev).__name__, ev.key.decode(), ev.value.decode())
                break
            cancel()
            """)).EnsureSuccess();

        Assert.Equal("value-a /py/a 1 None\n60 ['/py/leased']\n[]\nlocked True\ndefault True\nPutEvent /py/w/k x\n", result.StdOut);
    }

    [EtcdFact]
    public async Task Dotnet_etcd_put_get_lease_and_v3lock()
    {
        using var client = new EtcdClient(_server.ClientUrl.ToString().TrimEnd('/'));

        await client.PutAsync("/dn/a", "value-a");
        var value = await client.GetValAsync("/dn/a");
        var lease = await client.LeaseGrantAsync(new Etcdserverpb.LeaseGrantRequest { TTL = 60 });
        await client.PutAsync(new Etcdserverpb.PutRequest
        {
            Key = ByteString.CopyFromUtf8("/dn/leased"),
            Value = ByteString.CopyFromUtf8("v"),
            Lease = lease.ID,
        });
        var ttl = await client.LeaseTimeToLiveAsync(new Etcdserverpb.LeaseTimeToLiveRequest { ID = lease.ID, Keys = true });
        var locked = await client.LockAsync(new V3Lockpb.LockRequest { Name = ByteString.CopyFromUtf8("/dn/lock"), Lease = lease.ID });
        var held = await client.GetValAsync(locked.Key.ToStringUtf8());
        await client.UnlockAsync(new V3Lockpb.UnlockRequest { Key = locked.Key });
        var afterUnlock = await client.GetAsync(locked.Key.ToStringUtf8());

        Assert.Equal("value-a", value);
        Assert.Equal(60, lease.TTL);
        Assert.Equal(60, ttl.GrantedTTL);
        Assert.Equal(["/dn/leased"], ttl.Keys.Select(k => k.ToStringUtf8()));
        Assert.Equal($"/dn/lock/{lease.ID:x}", locked.Key.ToStringUtf8());
        Assert.Equal("", held);
        Assert.Empty(afterUnlock.Kvs);
    }
}
