using FunctionsRelay.Infrastructure;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Local.Demo;

/// <summary>
/// The demo at /demo: a player wired to this relay with player/relay-beacon.js, and per session what the relay sent (or,
/// in dry-run, would send) to HubSpot, with the attention span drawn as a heat strip. The sessions it lists carry contact
/// ids and utks, so they answer only this machine; the page, the script and the tone are public.
/// </summary>
public static class DemoEndpoints
{
    private const string HlsPlaylist = "application/vnd.apple.mpegurl";

    public static IEndpointRouteBuilder MapDemo(this IEndpointRouteBuilder app)
    {
        var demo = app.MapGroup("/demo");
        demo.MapGet("", () => Results.Text(EmbeddedFiles.Read("demo.html"), "text/html; charset=utf-8"));
        foreach (var script in (string[])["relay-beacon.js", "relay-videojs.js", "relay-hls.js", "relay-shaka.js"])
            demo.MapGet(script, () => Results.Text(EmbeddedFiles.Read(script), "text/javascript; charset=utf-8"));
        demo.MapGet("tone.wav", (int? seconds) => Results.File(DemoMedia.Tone(seconds ?? 60), "audio/wav", enableRangeProcessing: true));
        demo.MapGet("hls/vod.m3u8", (int? seconds) => Results.Text(DemoStream.VodPlaylist(seconds ?? 60), HlsPlaylist));
        demo.MapGet("hls/live.m3u8", (TimeProvider time) => Results.Text(DemoStream.LivePlaylist(time.GetUtcNow()), HlsPlaylist));
        demo.MapGet("hls/segment-{sequence:long}.aac", (long sequence) => sequence < 0
            ? Results.NotFound()
            : Results.Bytes(DemoStream.Segment(sequence), "audio/aac"));
        demo.MapGet("lib/{name}", (string name) => PlayerLibraries.Serve(name));
        demo.MapGroup("/api").OnlyFromThisMachine("The demo's sessions (contact ids and utks) answer only on this machine.")
            .MapGet("sessions", (SentEventLog log, IOptions<HubSpotOptions> hubSpot) => Results.Json(new
            {
                mode = hubSpot.Value.DryRun ? "dry-run" : "hubspot",
                sessions = log.Recent(),
            }));
        return app;
    }
}
