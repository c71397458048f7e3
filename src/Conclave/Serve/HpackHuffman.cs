namespace Conclave.Serve;

/// <summary>
/// Decoder of HPACK's Huffman-coded string literals (RFC 7541 section 5.2, code of Appendix B).
/// The code is canonical: codes of one length are consecutive and ordered by symbol, so the bit
/// length of each symbol determines every code.
/// </summary>
internal static class HpackHuffman
{
    /// <summary>Code length in bits of symbols 0..255 and of EOS (256), from RFC 7541 Appendix B.</summary>
    private static readonly byte[] CodeLengths =
    [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
        28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
        5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
        6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
        24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
        21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
        19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
        26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
        30,
    ];

    private const int MaxLength = 30;
    private const int Eos = 256;

    // Canonical decoding tables: for each length, the first code, how many codes, and where its
    // symbols start in Symbols (symbols ordered by (length, symbol)).
    private static readonly int[] FirstCode = new int[MaxLength + 1];
    private static readonly int[] CodeCount = new int[MaxLength + 1];
    private static readonly int[] FirstIndex = new int[MaxLength + 1];
    private static readonly int[] Symbols = BuildTables();

    private static int[] BuildTables()
    {
        var symbols = Enumerable.Range(0, CodeLengths.Length).OrderBy(s => CodeLengths[s]).ThenBy(s => s).ToArray();
        foreach (var length in CodeLengths)
        {
            CodeCount[length]++;
        }
        var code = 0;
        var index = 0;
        for (var length = 1; length <= MaxLength; length++)
        {
            FirstCode[length] = code;
            FirstIndex[length] = index;
            code = (code + CodeCount[length]) << 1;
            index += CodeCount[length];
        }
        return symbols;
    }

    /// <summary>
    /// Decodes <paramref name="encoded"/>; false when it holds EOS, an incomplete symbol longer
    /// than 7 bits, or padding that is not all ones (all errors under RFC 7541 section 5.2).
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> encoded, out byte[] decoded)
    {
        var output = new List<byte>(encoded.Length * 8 / 5);
        var code = 0;
        var length = 0;
        foreach (var b in encoded)
        {
            for (var bit = 7; bit >= 0; bit--)
            {
                code = (code << 1) | ((b >> bit) & 1);
                length++;
                var offset = code - FirstCode[length];
                if (offset >= 0 && offset < CodeCount[length])
                {
                    var symbol = Symbols[FirstIndex[length] + offset];
                    if (symbol == Eos)
                    {
                        decoded = [];
                        return false;
                    }
                    output.Add((byte)symbol);
                    code = 0;
                    length = 0;
                }
                else if (length == MaxLength)
                {
                    decoded = [];
                    return false;
                }
            }
        }
        decoded = [.. output];
        return length < 8 && code == (1 << length) - 1;
    }
}
