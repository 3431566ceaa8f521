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
}
