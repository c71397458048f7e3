using System.Globalization;
using Conclave.Robustness;

// dotnet run -c Release --project tests/Conclave.Robustness -- --target etcd|conclave --members 3 --duration 60s --seed N
//     [--clients 4] [--keys 4] [--conclave-dll PATH] [--faults all|default|Kind,Kind...]
// Bounded: stops after --duration of faults plus the final checks. Exit code 1 on a violation, 2 on bad arguments, 3 on Ctrl+C.
var options = new RunOptions();
try
{
    for (var i = 0; i < args.Length; i++)
    {
        var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
        options = args[i] switch
        {
            "--target" => options with { Target = Enum.Parse<TargetKind>(value, ignoreCase: true) },
            "--members" => options with { Members = int.Parse(value, CultureInfo.InvariantCulture) },
            "--duration" => options with { Duration = ParseDuration(value) },
            "--seed" => options with { Seed = int.Parse(value, CultureInfo.InvariantCulture) },
            "--clients" => options with { Clients = int.Parse(value, CultureInfo.InvariantCulture) },
            "--keys" => options with { Keys = int.Parse(value, CultureInfo.InvariantCulture) },
            "--conclave-dll" => options with { ConclaveDll = value },
            "--faults" => options with { Faults = Conclave.Robustness.Faults.FaultKinds.Parse(value) },
            _ => throw new ArgumentException($"unknown option {args[i]}"),
        };
        i++;
    }

    if (options.Target != TargetKind.Conclave && options.Faults?.FirstOrDefault(Conclave.Robustness.Faults.FaultKinds.NeedsConclave) is { } conclaveOnly
        && Conclave.Robustness.Faults.FaultKinds.NeedsConclave(conclaveOnly))
    {
        throw new ArgumentException($"--faults {conclaveOnly} needs --target conclave (it uses Conclave's server failpoints)");
    }
}
catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine($"robustness: {e.Message}");
    Console.Error.WriteLine("usage: --target etcd|conclave --members 3 --duration 60s --seed N [--clients 4] [--keys 4] [--conclave-dll PATH] [--faults all|default|Kind,Kind...]");
    return 2;
}

if (options.Target == TargetKind.Conclave && !File.Exists(options.ConclaveDll ?? Conclave.Robustness.Cluster.ConclaveCluster.DllPath))
{
    Console.Error.WriteLine($"robustness: {options.ConclaveDll ?? Conclave.Robustness.Cluster.ConclaveCluster.DllPath} does not exist (build src/Conclave -c Release or set CONCLAVE_DLL)");
    return 2;
}

Console.WriteLine($"robustness: {options.ReproduceCommand}");

// Ctrl+C stops the run; every member process and data directory is still removed.
using var interrupted = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    interrupted.Cancel();
};
RunReport report;
try
{
    report = await RobustnessRun.RunAsync(options, line => Console.WriteLine(line), interrupted.Token);
}
catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
{
    Console.Error.WriteLine("robustness: interrupted; members stopped and data directories removed");
    return 3;
}

Console.WriteLine(report.Summary());
foreach (var violation in report.Violations)
{
    Console.WriteLine($"VIOLATION: {violation}");
}

if (!report.Passed)
{
    Console.WriteLine($"history and report: {report.FailureFolder}");
    Console.WriteLine($"reproduce: {options.ReproduceCommand}");
    return 1;
}

return 0;

static TimeSpan ParseDuration(string text) => text[^1] switch
{
    's' => TimeSpan.FromSeconds(double.Parse(text[..^1], CultureInfo.InvariantCulture)),
    'm' => TimeSpan.FromMinutes(double.Parse(text[..^1], CultureInfo.InvariantCulture)),
    _ => TimeSpan.FromSeconds(double.Parse(text, CultureInfo.InvariantCulture)),
};
