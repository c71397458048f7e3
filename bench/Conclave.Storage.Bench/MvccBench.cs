namespace Conclave.Storage.Bench;

internal static class MvccBench
{
    public static Task<int> RunAsync(string[] args)
    {
        Console.Error.WriteLine("mvcc benchmark: not written yet");
        return Task.FromResult(1);
    }
}
