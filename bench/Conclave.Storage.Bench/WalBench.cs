namespace Conclave.Storage.Bench;

internal static class WalBench
{
    public static Task<int> RunAsync(string[] args)
    {
        Console.Error.WriteLine("wal benchmark: not written yet");
        return Task.FromResult(1);
    }
}
