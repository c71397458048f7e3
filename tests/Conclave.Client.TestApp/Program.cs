using System.Globalization;
using Conclave.Client;
using Conclave.Client.Recipes;

// Usage (endpoints comma-separated, host:port or URLs; TTL in seconds):
//   campaign ENDPOINTS TTL NAME VALUE       prints "leader KEY REVISION" once elected, then holds
//   register ENDPOINTS TTL SERVICE ID PORT  prints "registered KEY" once registered, then holds
// Both keep their lease alive until the process dies or stdin is closed; a lost lease prints
// "lost REASON" and exits with 3. Bad arguments exit with 2.
if (args.Length < 4)
{
    Console.Error.WriteLine("usage: campaign ENDPOINTS TTL NAME VALUE | register ENDPOINTS TTL SERVICE ID PORT");
    return 2;
}

var endpoints = args[1].Split(',', StringSplitOptions.RemoveEmptyEntries);
var ttl = long.Parse(args[2], CultureInfo.InvariantCulture);
await using var client = new ConclaveClient(endpoints, new ConclaveClientOptions
{
    DialTimeout = TimeSpan.FromSeconds(1),
    RequestTimeout = TimeSpan.FromSeconds(10),
    ReconnectDelay = TimeSpan.FromMilliseconds(50),
});

CancellationToken lost;
Func<string?> lostReason;
IAsyncDisposable held;
switch (args[0])
{
    case "campaign" when args.Length == 5:
        {
            var session = await client.GrantKeptLeaseAsync(ttl);
            var election = new Election(client, args[3], session);
            await election.CampaignAsync(args[4]);
            Console.WriteLine($"leader {election.Key} {election.LeaderRevision}");
            (lost, lostReason, held) = (session.Lost, () => session.LostReason, session);
            break;
        }
    case "register" when args.Length == 6:
        {
            var registry = new ServiceRegistry(client);
            var registration = await registry.RegisterAsync(
                new ServiceInstance(args[3], args[4], "127.0.0.1", int.Parse(args[5], CultureInfo.InvariantCulture)), ttl);
            Console.WriteLine($"registered {registration.Key}");
            (lost, lostReason, held) = (registration.Lost, () => "lease lost", registration);
            break;
        }
    default:
        Console.Error.WriteLine($"unknown command or wrong argument count: {string.Join(' ', args)}");
        return 2;
}

// Hold until the lease is lost or stdin closes (the parent's orderly stop); kill -9 ends it anywhere.
var stdinClosed = Task.Run(() => Console.In.ReadToEnd());
var lostTask = Task.Delay(Timeout.Infinite, lost);
var finished = await Task.WhenAny(stdinClosed, lostTask);
if (finished == lostTask)
{
    Console.WriteLine($"lost {lostReason()}");
    return 3;
}
await held.DisposeAsync();
return 0;
