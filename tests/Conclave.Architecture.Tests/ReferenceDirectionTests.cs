using System.Xml.Linq;

namespace Conclave.Architecture.Tests;

/// <summary>
/// References point one way only: Raft ← Storage ← Server ← Api.* ← the executable, and the
/// client references no server project. This reads every project file under src/ and fails
/// when a reference goes the wrong way, or when the consensus core takes a package.
/// </summary>
public sealed class ReferenceDirectionTests
{
    // Each project may reference only projects listed for it (transitively lower layers).
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Conclave.Raft"] = [],
        ["Conclave.Storage"] = ["Conclave.Raft"],
        ["Conclave.Server"] = ["Conclave.Raft", "Conclave.Storage"],
        ["Conclave.Api.Etcd"] = ["Conclave.Server", "Conclave.Storage", "Conclave.Raft"],
        ["Conclave.Api.ZooKeeper"] = ["Conclave.Server", "Conclave.Storage", "Conclave.Raft"],
        ["Conclave.Api.Consul"] = ["Conclave.Server", "Conclave.Storage", "Conclave.Raft"],
        ["Conclave.Client"] = [],

        // The outside view of a cluster (selftest, robustness): speaks the wire protocol only.
        ["Conclave.Verification"] = [],
        ["Conclave.Client.DistributedLock"] = ["Conclave.Client"],
        ["Conclave"] =
        [
            "Conclave.Api.Etcd", "Conclave.Api.ZooKeeper", "Conclave.Api.Consul", "Conclave.Server",
            "Conclave.Storage", "Conclave.Raft", "Conclave.Client", "Conclave.Verification",
        ],
    };

    // Packages that only tests may take; a src project that ships in the product must not.
    private static readonly string[] TestFrameworks =
    [
        "xunit", "xunit.runner.visualstudio", "Microsoft.NET.Test.Sdk", "CsCheck", "Microsoft.Extensions.TimeProvider.Testing",
    ];

    public static TheoryData<string> Projects()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(RepositoryRoot(), "src"), "*.csproj", SearchOption.AllDirectories))
        {
            data.Add(Path.GetFileNameWithoutExtension(file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Projects))]
    public void Project_references_point_down_only(string project)
    {
        Assert.True(Allowed.TryGetValue(project, out var allowed), $"{project} is not in the layer table of {nameof(ReferenceDirectionTests)}; add it where it belongs");
        var references = ProjectReferences(project);
        var wrong = references.Where(r => !allowed!.Contains(r)).ToList();
        Assert.True(wrong.Count == 0, $"{project} must not reference {string.Join(", ", wrong)} (allowed: {string.Join(", ", allowed!)})");
    }

    [Fact]
    public void Consensus_core_takes_no_packages()
    {
        var doc = XDocument.Load(ProjectFile("Conclave.Raft"));
        var packages = doc.Descendants("PackageReference").Select(e => (string?)e.Attribute("Include")).ToList();
        Assert.True(packages.Count == 0, $"Conclave.Raft must reference nothing but the BCL, found: {string.Join(", ", packages)}");
    }

    [Theory]
    [MemberData(nameof(Projects))]
    public void Source_projects_take_no_test_framework(string project)
    {
        var doc = XDocument.Load(ProjectFile(project));
        var packages = doc.Descendants("PackageReference").Select(e => (string?)e.Attribute("Include")).ToList();
        var wrong = packages.Where(p => TestFrameworks.Contains(p, StringComparer.OrdinalIgnoreCase)).ToList();
        Assert.True(wrong.Count == 0, $"{project} ships in the product and must not reference {string.Join(", ", wrong)}");
    }

    [Fact]
    public void Every_source_project_is_in_the_table()
    {
        Assert.NotEmpty(Projects());
    }

    private static List<string> ProjectReferences(string project)
    {
        var doc = XDocument.Load(ProjectFile(project));
        return doc.Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(((string?)e.Attribute("Include") ?? string.Empty).Replace('\\', '/')))
            .ToList();
    }

    private static string ProjectFile(string project) =>
        Directory.GetFiles(Path.Combine(RepositoryRoot(), "src"), project + ".csproj", SearchOption.AllDirectories).Single();

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "global.json")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("global.json not found above " + AppContext.BaseDirectory);
    }
}
