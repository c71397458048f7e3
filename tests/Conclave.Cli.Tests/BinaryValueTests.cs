using System.Diagnostics;
using System.Text.Json;

namespace Conclave.Cli.Tests;

/// <summary>
/// Values that are not UTF-8 survive the CLI: put from a file or from stdin stores the exact
/// bytes, and every json output carries them in value_base64 (value is null for them).
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class BinaryValueTests(ServerFixture server)
{
    /// <summary>Not UTF-8 (0xff, a lone continuation byte, a truncated sequence), with a NUL, a newline and a trailing CR.</summary>
    private static readonly byte[] Binary = [0xff, 0xfe, 0x00, 0x80, (byte)'a', (byte)'\n', 0xc3, (byte)'\r'];

    private string[] With(params string[] args) => [.. args, "--endpoints", server.Endpoint, "--timeout", Cli.TestTimeout];

    private async Task<JsonElement> Json(params string[] args)
    {
        var result = await Cli.RunInProcessAsync(With([.. args, "-w", "json"]));
        Assert.True(result.ExitCode == 0, $"conclave {string.Join(' ', args)}: {result}");
        using var doc = JsonDocument.Parse(result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[0]);
        return doc.RootElement.Clone();
    }

    private static void AssertValue(byte[] expected, JsonElement kv)
    {
        Assert.Equal(Convert.ToBase64String(expected), kv.GetProperty("value_base64").GetString());
        Assert.Equal(expected, Convert.FromBase64String(kv.GetProperty("value_base64").GetString()!));
        Assert.Equal(JsonValueKind.Null, kv.GetProperty("value").ValueKind);
    }

    [Fact]
    public async Task A_binary_value_put_from_a_file_round_trips_through_get_json()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(file, Binary);
            var put = await Cli.RunAsync(With("put", "bin/file", "--file", file));
            Assert.True(put.ExitCode == 0, put.ToString());

            var get = await Json("get", "bin/file");
            AssertValue(Binary, Assert.Single(get.GetProperty("kvs").EnumerateArray().ToList()));

            // The same pair wherever a key-value is printed: put --prev-kv, txn, watch, del --prev-kv.
            var prev = await Json("put", "bin/file", "text", "--prev-kv");
            AssertValue(Binary, prev.GetProperty("prev_kv"));
            var revision = prev.GetProperty("header").GetProperty("revision").GetInt64();
            var watched = await Json("watch", "bin/file", "--rev", (revision - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), "--max-events", "1");
            AssertValue(Binary, watched.GetProperty("kv"));
            var text = await Json("get", "bin/file");
            var kv = Assert.Single(text.GetProperty("kvs").EnumerateArray().ToList());
            Assert.Equal("text", kv.GetProperty("value").GetString());
            Assert.Equal(Convert.ToBase64String("text"u8.ToArray()), kv.GetProperty("value_base64").GetString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task A_binary_value_put_from_stdin_round_trips_and_shows_in_txn_and_del_output()
    {
        var put = await RunBytesAsync(With("put", "bin/stdin"), Binary);
        Assert.True(put.ExitCode == 0, $"put from stdin: exit {put.ExitCode}: {put.Stderr}");

        var get = await Json("get", "bin/stdin");
        AssertValue(Binary, Assert.Single(get.GetProperty("kvs").EnumerateArray().ToList()));

        var txn = await Cli.RunAsync(With("txn", "-w", "json"), "version(\"bin/stdin\") > 0\n\nget bin/stdin\n\n");
        Assert.True(txn.ExitCode == 0, txn.ToString());
        using (var doc = JsonDocument.Parse(txn.Stdout))
        {
            var range = Assert.Single(doc.RootElement.GetProperty("responses").EnumerateArray().ToList()).GetProperty("response_range");
            AssertValue(Binary, Assert.Single(range.GetProperty("kvs").EnumerateArray().ToList()));
        }

        // Plain output writes the raw bytes to stdout, as etcdctl does.
        var plain = await RunBytesAsync(With("get", "bin/stdin", "-w", "plain"), null);
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.Equal((byte[])[.. "bin/stdin\n"u8, .. Binary, (byte)'\n'], plain.Stdout);

        var del = await Json("del", "bin/stdin", "--prev-kv");
        Assert.Equal(1, del.GetProperty("deleted").GetInt64());
        AssertValue(Binary, Assert.Single(del.GetProperty("prev_kvs").EnumerateArray().ToList()));
    }

    /// <summary>Runs the real executable with raw bytes on stdin (if any) and returns stdout as bytes.</summary>
    private static async Task<(int ExitCode, byte[] Stdout, string Stderr)> RunBytesAsync(string[] args, byte[]? stdin)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[Cli.ConclaveDll, .. args])
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        using var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin);
        }
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(Cli.RunTimeout);
        await process.WaitForExitAsync(timeout.Token);
        await copy;
        return (process.ExitCode, stdout.ToArray(), await stderr);
    }

    [Fact]
    public async Task Put_refuses_both_a_value_and_a_file_and_names_a_missing_file()
    {
        var both = await Cli.RunInProcessAsync(With("put", "bin/x", "v", "--file", "/nonexistent"));
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("either VALUE or --file", both.Stderr);
        var missing = await Cli.RunInProcessAsync(With("put", "bin/x", "--file", "/nonexistent/value.bin"));
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("Error: cannot read --file /nonexistent/value.bin", missing.Stderr);
    }
}
