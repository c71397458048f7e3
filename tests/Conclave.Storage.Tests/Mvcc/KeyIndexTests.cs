using Conclave.Storage.Mvcc;
using static Conclave.Storage.Tests.Mvcc.MvccTestKit;

namespace Conclave.Storage.Tests.Mvcc;

/// <summary>The ordered key index against SortedSet over enough keys to split and empty many leaves.</summary>
public sealed class KeyIndexTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Matches_a_sorted_set_through_inserts_removes_and_seeks(int seed)
    {
        var rng = new Random(seed);
        var index = new KeyIndex();
        var model = new SortedSet<string>(StringComparer.Ordinal);
        string RandomKey() => rng.Next(3) == 0 ? $"k{rng.Next(5000)}" : $"{(char)rng.Next(0, 256)}{rng.Next(2000)}";
        for (var step = 0; step < 25_000; step++)
        {
            var key = RandomKey();
            switch (rng.Next(10))
            {
                case < 6:
                    index.GetOrAdd(B(key), out var added);
                    Assert.Equal(model.Add(key), added);
                    break;
                case < 9:
                    var h = index.Get(B(key));
                    Assert.Equal(model.Contains(key), h is not null);
                    if (h is not null)
                    {
                        index.Remove(h);
                        model.Remove(key);
                    }
                    break;
                default:
                    var exclusive = rng.Next(2) == 0;
                    var c = index.Seek(B(key), exclusive);
                    var expected = model.GetViewBetween(key, "\uffff").Where(k => !exclusive || k != key).Take(5).ToArray();
                    var actual = new List<string>();
                    while (c.Valid && actual.Count < 5)
                    {
                        actual.Add(S(c.Current.Key));
                        c.MoveNext();
                    }
                    Assert.Equal(expected, actual);
                    break;
            }
            Assert.Equal(model.Count, index.Count);
        }
        var all = new List<string>();
        for (var c = index.First(); c.Valid; c.MoveNext())
        {
            all.Add(S(c.Current.Key));
        }
        Assert.Equal(model.ToArray(), all);
        Assert.True(all.Count > 4 * KeyIndex.LeafCapacity, $"expected several leaves, got {all.Count} keys");

        // Drain in random order, emptying every leaf, checking order as it goes.
        foreach (var key in all.OrderBy(_ => rng.Next()).ToList())
        {
            index.Remove(index.Get(B(key))!);
            model.Remove(key);
            if (model.Count % 997 == 0)
            {
                var rest = new List<string>();
                for (var c = index.First(); c.Valid; c.MoveNext())
                {
                    rest.Add(S(c.Current.Key));
                }
                Assert.Equal(model.ToArray(), rest);
            }
        }
        Assert.Equal(0, index.Count);
        Assert.False(index.First().Valid);
        index.GetOrAdd(B("again"), out var readded);
        Assert.True(readded);
    }
}
