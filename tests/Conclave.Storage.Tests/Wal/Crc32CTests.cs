using System.Text;
using Conclave.Storage.Internal;

namespace Conclave.Storage.Tests.Wal;

public class Crc32CTests
{
    [Fact]
    public void Matches_the_standard_check_value()
    {
        // The CRC-32C check value from the catalogue of parametrised CRC algorithms.
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, Crc32C.Compute([]));
    }

    [Fact]
    public void Matches_a_bitwise_reference_at_every_length_and_split()
    {
        var rng = new Random(7);
        for (var length = 0; length < 80; length++)
        {
            var data = new byte[length];
            rng.NextBytes(data);
            var expected = Reference(data);
            Assert.Equal(expected, Crc32C.Compute(data));
            for (var split = 0; split <= length; split++)
            {
                Assert.Equal(expected, Crc32C.Append(Crc32C.Compute(data.AsSpan(0, split)), data.AsSpan(split)));
            }
        }
    }

    private static uint Reference(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
            }
        }

        return ~crc;
    }
}
