using System.Text;
using Conclave.Serve;

namespace Conclave.Cli.Tests;

/// <summary>
/// The HPACK rewriting behind `conclave serve`'s h2c client listeners (a URL :authority, as
/// etcdctl 3.4 sends it, becomes host:port); the real-process check is EndpointClusterTests.
/// </summary>
public sealed class HpackAuthorityRewriterTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    private static byte[] Raw(string s) => [(byte)s.Length, .. Encoding.ASCII.GetBytes(s)];

    [Theory]
    [InlineData("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com")]
    [InlineData("a8eb 1064 9cbf", "no-cache")]
    [InlineData("25a8 49e9 5ba9 7d7f", "custom-key")]
    [InlineData("25a8 49e9 5bb8 e8b4 bf", "custom-value")]
    public void Huffman_decodes_the_examples_of_RFC_7541(string encoded, string expected)
    {
        Assert.True(HpackHuffman.TryDecode(Hex(encoded), out var decoded));
        Assert.Equal(expected, Encoding.ASCII.GetString(decoded));
    }

    [Fact]
    public void Huffman_rejects_padding_that_is_not_all_ones()
    {
        // "no-cache" with its last (padding) bit cleared.
        Assert.False(HpackHuffman.TryDecode(Hex("a8eb 1064 9cbe"), out _));
    }

    [Fact]
    public void A_url_authority_becomes_host_port_and_later_indexed_references_still_match()
    {
        var rewriter = new HpackAuthorityRewriter();
        // :method POST (static 3), then :authority (static name 1) literal with incremental indexing.
        byte[] first = [0x83, 0x41, .. Raw("http://127.0.0.1:2379")];
        Assert.Equal([0x83, 0x41, .. Raw("127.0.0.1:2379")], rewriter.Rewrite(first));

        // The next request names the dynamic entry (index 62): the server's entry is already rewritten.
        byte[] second = [0x83, 0xBE];
        Assert.Equal(second, rewriter.Rewrite(second));

        // A literal whose name is the dynamic entry's (:authority), with a path, without indexing.
        byte[] third = [0x0F, 0x2F, .. Raw("https://h:1/x/y")];
        Assert.Equal([0x0F, 0x2F, .. Raw("h:1")], rewriter.Rewrite(third));
    }

    [Theory]
    [InlineData("127.0.0.1:2379")]
    [InlineData("localhost")]
    [InlineData("://nohost")]
    public void Other_authorities_and_other_fields_are_copied_byte_for_byte(string authority)
    {
        var rewriter = new HpackAuthorityRewriter();
        byte[] block = [0x82, 0x41, .. Raw(authority), 0x40, .. Raw("x-url"), .. Raw("http://a:1"), 0x87];
        Assert.Equal(block, rewriter.Rewrite(block));
    }

    [Fact]
    public void A_reference_to_a_missing_dynamic_entry_is_not_valid_hpack()
    {
        Assert.Null(new HpackAuthorityRewriter().Rewrite([0x7F, 0x00, .. Raw("v")]));
    }

    [Fact]
    public void A_padded_prioritised_headers_frame_keeps_its_flags_priority_and_padding()
    {
        byte[] block = [0x41, .. Raw("http://127.0.0.1:2379")];
        byte[] priority = [0x00, 0x00, 0x00, 0x03, 0x10];
        byte[] padding = [0, 0, 0];
        var payloadLength = 1 + priority.Length + block.Length + padding.Length;
        byte[] frame = [0, 0, (byte)payloadLength, 0x1, 0x4 | 0x8 | 0x20, 0, 0, 0, 1, (byte)padding.Length, .. priority, .. block, .. padding];

        var rewritten = H2cAuthorityFix.RewriteHeaders(frame, new HpackAuthorityRewriter());

        byte[] newBlock = [0x41, .. Raw("127.0.0.1:2379")];
        var newLength = 1 + priority.Length + newBlock.Length + padding.Length;
        Assert.Equal([0, 0, (byte)newLength, 0x1, 0x4 | 0x8 | 0x20, 0, 0, 0, 1, (byte)padding.Length, .. priority, .. newBlock, .. padding], rewritten);
    }
}
