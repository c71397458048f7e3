using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

// Usage: Conclave.AllocProfile TRACE.nettrace [top types, default 25] [frames per call site, default 6]
// Prints the allocated types (bytes sampled by AllocationTick, about one event per 100 KB) and,
// per type, the call sites (the first frames of the allocating stack that are not runtime or BCL
// plumbing) that account for most of them. Figures are estimates from sampling, as percentages.
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: Conclave.AllocProfile TRACE.nettrace [topTypes] [frames]");
    return 2;
}

var topTypes = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 25;
var frames = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 6;
var etlx = TraceLog.CreateFromEventPipeDataFile(args[0]);
using var log = new TraceLog(etlx);

var byType = new Dictionary<string, long>(StringComparer.Ordinal);
var bySite = new Dictionary<(string Type, string Site), long>();
var siteSize = new Dictionary<(string Type, string Site), (long Sum, long Count)>();
var inclusive = new Dictionary<string, long>(StringComparer.Ordinal);
long total = 0;
foreach (var e in log.Events)
{
    if (e is not GCAllocationTickTraceData tick)
    {
        continue;
    }
    var type = tick.TypeName ?? "?";
    var amount = tick.AllocationAmount64;
    total += amount;
    byType[type] = byType.GetValueOrDefault(type) + amount;
    var site = new List<string>();
    var seen = new HashSet<string>(StringComparer.Ordinal);
    for (var s = e.CallStack(); s is not null; s = s.Caller)
    {
        var full = s.CodeAddress.FullMethodName;
        if (!string.IsNullOrEmpty(full) && seen.Add(Shorten(full)))
        {
            inclusive[Shorten(full)] = inclusive.GetValueOrDefault(Shorten(full)) + amount;
        }
    }
    for (var s = e.CallStack(); s is not null && site.Count < frames; s = s.Caller)
    {
        var name = s.CodeAddress.FullMethodName;
        if (string.IsNullOrEmpty(name))
        {
            continue;
        }
        site.Add(Shorten(name));
    }
    var key = (type, string.Join(" < ", site));
    bySite[key] = bySite.GetValueOrDefault(key) + amount;
    var size = siteSize.GetValueOrDefault(key);
    siteSize[key] = (size.Sum + tick.ObjectSize, size.Count + 1);
}

Console.WriteLine($"{args[0]}: {total / 1e6:F1} MB sampled");
foreach (var (type, bytes) in byType.OrderByDescending(kv => kv.Value).Take(topTypes))
{
    Console.WriteLine($"{100.0 * bytes / total,5:F1}%  {type}");
    foreach (var ((_, site), siteBytes) in bySite.Where(kv => kv.Key.Type == type).OrderByDescending(kv => kv.Value).Take(type == "System.Byte[]" ? 10 : 3))
    {
        var (sum, count) = siteSize[(type, site)];
        Console.WriteLine($"        {100.0 * siteBytes / total,5:F1}%  ~{sum / Math.Max(1, count)} B/object  {site}");
    }
}
Console.WriteLine("inclusive, by method on the allocating stack:");
foreach (var (method, bytes) in inclusive.OrderByDescending(kv => kv.Value).Take(topTypes * 2))
{
    Console.WriteLine($"{100.0 * bytes / total,5:F1}%  {method}");
}
return 0;

static string Shorten(string method)
{
    var paren = method.IndexOf('(', StringComparison.Ordinal);
    var name = paren > 0 ? method[..paren] : method;
    var parts = name.Split('.');
    return parts.Length > 2 ? string.Join('.', parts[^2..]) : name;
}
