using System.IO.Compression;

namespace FunctionsRelay.IntegrationTests;

/// <summary>
/// What a page pays for the player scripts, as served unminified and gzip-compressed (docs/player.md): the tracker under
/// 8 KiB, each adapter under 3 KiB, so that following a player costs a page less than a small image.
/// </summary>
public sealed class PlayerScriptTests
{
    [Theory]
    [InlineData("relay-beacon.js", 8 * 1024)]
    [InlineData("relay-youtube.js", 3 * 1024)]
    [InlineData("relay-vimeo.js", 3 * 1024)]
    [InlineData("relay-videojs.js", 3 * 1024)]
    [InlineData("relay-hls.js", 3 * 1024)]
    [InlineData("relay-shaka.js", 3 * 1024)]
    public void A_player_script_stays_small_compressed(string script, int budget)
    {
        var bytes = File.ReadAllBytes(Path.Combine(RepositoryPaths.Root, "player", script));
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
            gzip.Write(bytes);

        Assert.True(compressed.Length <= budget, $"{script} is {compressed.Length} bytes gzip-compressed ({bytes.Length} as written), over its {budget}");
    }
}
