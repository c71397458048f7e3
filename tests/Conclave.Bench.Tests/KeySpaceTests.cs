using Google.Protobuf;

namespace Conclave.Bench.Tests;

public sealed class KeySpaceTests
{
    [Fact]
    public void Keys_are_the_prefix_and_the_zero_padded_index_at_exactly_the_key_size()
    {
        var keys = new KeySpace("p/", 8, 1000, sequential: true);

        Assert.Equal("p/000000", keys.Key(0).ToStringUtf8());
        Assert.Equal("p/000999", keys.Key(999).ToStringUtf8());
    }

    [Theory]
    [InlineData("bench/", 16, 10_000L)]
    [InlineData("", 1, 10L)]
    [InlineData("clé/", 12, 1_000_000L)]
    public void Keys_are_the_utf8_prefix_then_the_decimal_index_padded_with_zeros(string prefix, int keySize, long size)
    {
        var keys = new KeySpace(prefix, keySize, size, sequential: false);
        var random = new Random(3);
        var digits = keySize - System.Text.Encoding.UTF8.GetByteCount(prefix);

        foreach (var index in new[] { 0L, 1, 9, size - 1 }.Concat(Enumerable.Range(0, 200).Select(_ => random.NextInt64(size))))
        {
            var key = keys.Key(index);
            Assert.Equal(keySize, key.Length);
            Assert.Equal(prefix + index.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(digits, '0'), key.ToStringUtf8());
        }
    }

    [Fact]
    public void Sequential_keys_wrap_at_the_key_space_size()
    {
        var keys = new KeySpace("", 4, 3, sequential: true);
        var random = new Random(1);

        Assert.Equal([0L, 1, 2, 0, 1], Enumerable.Range(0, 5).Select(n => keys.IndexFor(n, random)));
    }

    [Fact]
    public void Random_keys_stay_in_the_key_space_and_depend_only_on_the_seed()
    {
        var keys = new KeySpace("", 4, 7, sequential: false);

        var first = Enumerable.Range(0, 200).Select(n => keys.IndexFor(n, new Random(5))).ToList();
        var random = new Random(5);
        var again = Enumerable.Range(0, 200).Select(n => keys.IndexFor(n, random)).ToList();
        var other = new Random(5);
        var replay = Enumerable.Range(0, 200).Select(n => keys.IndexFor(n, other)).ToList();

        Assert.All(again, i => Assert.InRange(i, 0, 6));
        Assert.Equal(again, replay);
        Assert.Equal(7, again.Distinct().Count());
        Assert.Single(first.Distinct());
    }

    [Theory]
    [InlineData("bench/", 7, 100)]
    [InlineData("", 2, 101)]
    public void A_key_size_too_small_for_prefix_and_key_count_is_rejected(string prefix, int keySize, long size)
    {
        var e = Assert.Throws<ArgumentException>(() => new KeySpace(prefix, keySize, size, sequential: false));
        Assert.Contains("too small", e.Message);
    }

    [Theory]
    [InlineData(new byte[] { (byte)'a', (byte)'b' }, new byte[] { (byte)'a', (byte)'c' })]
    [InlineData(new byte[] { (byte)'a', 0xff }, new byte[] { (byte)'b' })]
    [InlineData(new byte[] { 0xff, 0xff }, new byte[] { 0 })]
    [InlineData(new byte[0], new byte[] { 0 })]
    public void Prefix_end_is_the_first_key_after_every_key_with_the_prefix(byte[] prefix, byte[] end)
    {
        Assert.Equal(end, KeySpace.PrefixEnd(ByteString.CopyFrom(prefix)).ToByteArray());
    }
}
