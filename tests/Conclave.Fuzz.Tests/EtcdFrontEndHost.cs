using System.Net;
using Conclave.Api.Etcd;
using Conclave.Server;
using Conclave.Server.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Conclave.Fuzz.Tests;

/// <summary>
/// One in-process member (a single-member cluster on a fake clock that never advances, so no lease
/// expires behind a test; as the only voter it leads at once) behind Kestrel's etcd gRPC front end
/// on 127.0.0.1 (h2c): gRPC and the HTTP endpoints (/health, /metrics, the JSON gateway). Errors
/// the server logs are collected in <see cref="Errors"/>. Compiled into Conclave.Fuzz.Tests and
/// Conclave.Api.Etcd.Tests (linked source: neither test project references the other).
/// </summary>
internal sealed class EtcdFrontEndHost : IAsyncDisposable
{
    private readonly string _root;
    private readonly WebApplication _app;

    private EtcdFrontEndHost(string root, ConclaveMember member, WebApplication app, ErrorLog errors, string address)
    {
        _root = root;
        Member = member;
        _app = app;
        Errors = errors;
        Address = address;
    }

    public ConclaveMember Member { get; }

    public ErrorLog Errors { get; }

    /// <summary>The front end's address, http://127.0.0.1:PORT.</summary>
    public string Address { get; }

    public static async Task<EtcdFrontEndHost> StartAsync(string name)
    {
        var root = Path.Combine(Path.GetTempPath(), $"conclave-{name}-{Guid.NewGuid():N}");
        var errors = new ErrorLog();
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var initial = new Dictionary<string, IReadOnlyList<string>> { ["m1"] = ["http://10.0.0.1:2380"] };
        var hub = new InMemoryTransportHub(1, time);
        var member = await ConclaveMember.StartAsync(new ConclaveMemberOptions
        {
            Name = "m1",
            DataDir = Path.Combine(root, "m1"),
            InitialCluster = initial,
            InitialClusterToken = name,
            HeartbeatIntervalMs = 10,
            ElectionTimeoutMs = 100,
            RandomSeed = 1,
            Time = time,
            Transport = hub.CreateTransport(MemberIdentity.MemberId(initial["m1"], name)),
            LoggerFactory = errors,
            WalSegmentBytes = 1 << 20,
        });
        using var elected = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        if (!await member.WaitForLeaderAsync(member.MemberId, elected.Token))
        {
            await member.DisposeAsync();
            throw new InvalidOperationException("the single member did not become leader");
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(errors);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddEtcdFrontEnd(new ConclaveMemberFrontEnd(member), new EtcdLimits());
        var app = builder.Build();
        app.MapEtcdGrpc();
        app.MapEtcdHttp();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new EtcdFrontEndHost(root, member, app, errors, address);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Member.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
