using FunctionsRelay.Infrastructure.Telemetry;

namespace FunctionsRelay.Local.OperatorView;

/// <summary>
/// The operator view at /operator: per portal, delivery health from the relay's exported counters and its storage, with
/// plots of volume and latency. It shows every portal's state, so only a browser on this machine gets it; on Azure,
/// <c>relay status</c> prints the same figures with the signed-in user's identity.
/// </summary>
public static class OperatorViewEndpoints
{
    public static IEndpointRouteBuilder MapOperatorView(this IEndpointRouteBuilder app)
    {
        var view = app.MapGroup("/operator").OnlyFromThisMachine("The operator view answers only on this machine; elsewhere use relay status.");
        view.MapGet("", () => Results.Text(EmbeddedFiles.Read("operator.html"), "text/html; charset=utf-8"));
        view.MapGet("api/health", async (long? portal, PortalHealthReport report, CancellationToken cancellationToken) =>
        {
            var (at, portals) = await report.ReadAsync(portal, cancellationToken);
            return Results.Json(new { at, latencyBuckets = RelayMetrics.LatencyBuckets, portals });
        });
        return app;
    }
}
