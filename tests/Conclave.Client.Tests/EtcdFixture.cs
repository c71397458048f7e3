using Conclave.Testing.Etcd;

namespace Conclave.Client.Tests;

/// <summary>
/// One real single-member etcd shared by every class in the "etcd" collection (they run one
/// after another), with a client for it.
/// </summary>
public sealed class EtcdFixture : RealEtcdFixture
{
    public ConclaveClient NewClient() => new([Etcd.Endpoint], TestOptions.Client);
}

[CollectionDefinition("etcd")]
public sealed class EtcdCollection : ICollectionFixture<EtcdFixture>;

public static class TestOptions
{
    public static ConclaveClientOptions Client { get; } = new()
    {
        DialTimeout = TimeSpan.FromSeconds(1),
        RequestTimeout = TimeSpan.FromSeconds(10),
        ReconnectDelay = TimeSpan.FromMilliseconds(50),
    };

    /// <summary>Upper bound for awaiting an expected event; a test that hits it failed.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
}

public static class TaskExtensions
{
    /// <summary>Awaits <paramref name="task"/>, failing with <paramref name="expected"/> when it does not finish within the patience bound.</summary>
    public static async Task<T> Within<T>(this Task<T> task, string expected)
    {
        var finished = await Task.WhenAny(task, Task.Delay(TestOptions.Patience));
        return finished == task
            ? await task
            : throw new TimeoutException($"expected within {TestOptions.Patience.TotalSeconds} s: {expected}");
    }

    public static async Task Within(this Task task, string expected)
    {
        var finished = await Task.WhenAny(task, Task.Delay(TestOptions.Patience));
        if (finished != task)
        {
            throw new TimeoutException($"expected within {TestOptions.Patience.TotalSeconds} s: {expected}");
        }
        await task;
    }

    /// <summary>Completes when <paramref name="token"/> fires.</summary>
    public static Task WhenCancelled(this CancellationToken token)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => fired.TrySetResult());
        return fired.Task;
    }
}
