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
    public static IEndpointRouteBuilder MapDemo(this IEndpointRouteBuilder app)
    {
        var demo = app.MapGroup("/demo");
        demo.MapGet("", () => Results.Text(EmbeddedFiles.Read("demo.html"), "text/html; charset=utf-8"));
        demo.MapGet("relay-beacon.js", () => Results.Text(EmbeddedFiles.Read("relay-beacon.js"), "text/javascript; charset=utf-8"));
        demo.MapGet("tone.wav", (int? seconds) => Results.File(DemoMedia.Tone(seconds ?? 60), "audio/wav", enableRangeProcessing: true));
        demo.MapGroup("/api").OnlyFromThisMachine("The demo's sessions (contact ids and utks) answer only on this machine.")
            .MapGet("sessions", (SentEventLog log, IOptions<HubSpotOptions> hubSpot) => Results.Json(new
            {
                mode = hubSpot.Value.DryRun ? "dry-run" : "hubspot",
                sessions = log.Recent(),
            }));
        return app;
    }
}
