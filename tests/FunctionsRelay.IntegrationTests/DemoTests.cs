using System.Net;
using FunctionsRelay.Local;
using FunctionsRelay.Local.Demo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.IntegrationTests;

/// <summary>The demo's routes: its sessions (contact ids, utks) only for this machine; its tone at no cost per request.</summary>
public sealed class DemoTests
{
    private static async Task<WebApplication> StartAsync(string client)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddSingleton(TimeProvider.System).AddSingleton<SentEventLog>();
        builder.Services.AddOptions<FunctionsRelay.Infrastructure.HubSpotOptions>();
        var app = builder.Build();
        app.Use((context, next) =>
        {
            context.Connection.RemoteIpAddress = IPAddress.Parse(client);
            return next(context);
        });
        app.MapDemo();
        await app.StartAsync();
        return app;
    }

    [Theory]
    [InlineData("127.0.0.1", HttpStatusCode.OK)]
    [InlineData("::ffff:127.0.0.1", HttpStatusCode.OK)]
    [InlineData("203.0.113.7", HttpStatusCode.Forbidden)]
    [InlineData("10.0.0.4", HttpStatusCode.Forbidden)]
    public async Task The_demos_sessions_answer_only_a_browser_on_the_same_machine(string client, HttpStatusCode expected)
    {
        await using var app = await StartAsync(client);

        using var sessions = await app.GetTestClient().GetAsync(new Uri("/demo/api/sessions", UriKind.Relative));
        using var page = await app.GetTestClient().GetAsync(new Uri("/demo", UriKind.Relative));

        Assert.Equal(expected, sessions.StatusCode);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        if (expected == HttpStatusCode.Forbidden)
            Assert.Contains("only on this machine", await sessions.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_longest_tone_is_served_whole_and_by_ranges_without_being_built_per_request()
    {
        await using var app = await StartAsync("203.0.113.7");
        var client = app.GetTestClient();

        var whole = await client.GetByteArrayAsync(new Uri("/demo/tone.wav?seconds=600", UriKind.Relative));
        using var ranged = new HttpRequestMessage(HttpMethod.Get, new Uri("/demo/tone.wav?seconds=600", UriKind.Relative));
        ranged.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(4_000_000, 4_000_099);
        using var part = await client.SendAsync(ranged);
        var partBytes = await part.Content.ReadAsByteArrayAsync();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        using var stream = DemoMedia.Tone(600);
        var allocatedForTone = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        Assert.Equal(44 + 600 * 8000, whole.Length);
        Assert.Equal("RIFF", System.Text.Encoding.ASCII.GetString(whole, 0, 4));
        Assert.Equal(600 * 8000, BitConverter.ToInt32(whole, 40));
        Assert.Equal(HttpStatusCode.PartialContent, part.StatusCode);
        Assert.Equal(whole.AsSpan(4_000_000, 100).ToArray(), partBytes);
        // Each second's samples are the same second's: what is built once is served for every length.
        Assert.Equal(whole.AsSpan(44, 8000).ToArray(), whole.AsSpan(44 + 599 * 8000, 8000).ToArray());
        Assert.True(allocatedForTone < 10_000, $"making a 600 s tone allocated {allocatedForTone} bytes");
    }

    [Fact]
    public async Task The_demos_streams_are_playlists_of_timestamped_segments_and_its_players_come_from_npm_or_say_how_to_get_them()
    {
        await using var app = await StartAsync("203.0.113.7");
        var client = app.GetTestClient();

        var vod = await client.GetStringAsync(new Uri("/demo/hls/vod.m3u8?seconds=8", UriKind.Relative));
        var live = await client.GetStringAsync(new Uri("/demo/hls/live.m3u8", UriKind.Relative));
        var segment = await client.GetByteArrayAsync(new Uri("/demo/hls/segment-3.aac", UriKind.Relative));
        using var library = await client.GetAsync(new Uri("/demo/lib/hls.min.js", UriKind.Relative));
        using var unknown = await client.GetAsync(new Uri("/demo/lib/jquery.js", UriKind.Relative));

        Assert.Equal(["segment-0.aac", "segment-1.aac", "segment-2.aac", "segment-3.aac"], vod.Split('\n').Where(line => line.EndsWith(".aac", StringComparison.Ordinal)));
        Assert.EndsWith("#EXT-X-ENDLIST\n", vod, StringComparison.Ordinal);
        // Live: a full window, never ended.
        Assert.Equal(DemoStream.LiveWindowSegments, live.Split('\n').Count(line => line.EndsWith(".aac", StringComparison.Ordinal)));
        Assert.DoesNotContain("ENDLIST", live, StringComparison.Ordinal);
        // Packed audio: the ID3 tag's PRIV frame holds where the segment starts (3 x 2 s at 90 kHz), then ADTS frames.
        Assert.Equal("ID3", System.Text.Encoding.ASCII.GetString(segment, 0, 3));
        Assert.Equal(3 * 2 * 90_000L, System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(segment.AsSpan(20 + 45, 8)));
        Assert.Equal((0xFF, 0xF1), (segment[73], segment[74]));
        Assert.Equal(73 + (125 * 13), segment.Length);
        Assert.Equal(HttpStatusCode.OK, library.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("hls.min.js", await unknown.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
