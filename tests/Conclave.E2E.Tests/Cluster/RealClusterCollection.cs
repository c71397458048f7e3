namespace Conclave.E2E.Tests.Cluster;

/// <summary>
/// The tests that start 3- and 4-member clusters of real processes run one after the other (not
/// in parallel with each other), so that at most one such cluster loads the machine at a time.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RealClusterCollection
{
    public const string Name = "real-process clusters";
}
