namespace Conclave.Storage.Bench;

/// <summary>
/// dotnet run -c Release --project bench/Conclave.Storage.Bench -- [wal|mvcc|all] [--dir PATH]
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var what = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "all";
        var rest = args.SkipWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        switch (what)
        {
            case "wal":
                return await WalBench.RunAsync(rest);
            case "mvcc":
                return await MvccBench.RunAsync(rest);
            case "all":
                var rc = await WalBench.RunAsync(rest);
                return rc != 0 ? rc : await MvccBench.RunAsync(rest);
            default:
                Console.Error.WriteLine($"unknown benchmark '{what}': expected wal, mvcc or all");
                return 2;
        }
    }
}
