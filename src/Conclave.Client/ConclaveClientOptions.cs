namespace Conclave.Client;

public sealed record ConclaveClientOptions
{
    /// <summary>Deadline of each unary request (one attempt on one member), unless the caller's
    /// token fires first. Default 5 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long to wait for a connection to one member before trying the next. Default 2 s.</summary>
    public TimeSpan DialTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Pause between reconnect attempts of a watch or a keep-alive stream. Default 100 ms.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The clock for lease renewal and reconnect pauses (a fake one in tests).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
