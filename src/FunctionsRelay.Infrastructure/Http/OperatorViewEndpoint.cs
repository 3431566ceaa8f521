using System.Reflection;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Http;

/// <summary>
/// The operator view: per portal, delivery health from the relay's exported counters (the metrics table) and its
/// storage, with plots of volume and latency. One page and one JSON answer, served by both hosts: the local host answers
/// only this machine, the Functions app only a request with the host's master key (<c>AuthorizationLevel.Admin</c>).
/// The page reads its figures at <see cref="HealthRoute"/> relative to itself, so it works under either host's prefix
/// (<c>/operator</c> locally, <c>/api/operator</c> on Azure) and carries its query (the key) along.
/// </summary>
public sealed class OperatorViewEndpoint(PortalHealthReport report, MissingStorage missing, IOptions<HubSpotOptions> hubSpot, ILogger<OperatorViewEndpoint> logger)
{
    public const string Route = "operator";

    public const string HealthRoute = "operator/api/health";

    private static readonly string[] PortalError = ["portal: must be a HubSpot account id (digits), or left out for every portal"];

    private readonly Lazy<string> _pageHtml = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("operator.html")
            ?? throw new InvalidOperationException("operator.html is not embedded in the relay");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public IResult Page() => Results.Text(_pageHtml.Value, "text/html; charset=utf-8");

    /// <summary>The figures of every portal, or of the one <c>?portal=</c> names, with the latency buckets the page plots.</summary>
    public async Task<IResult> HealthAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        long? portal = null;
        if (request.Query["portal"].ToString() is { Length: > 0 } named)
        {
            if (!long.TryParse(named, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) || id <= 0)
                return Results.Json(new { errors = PortalError }, statusCode: StatusCodes.Status400BadRequest);
            portal = id;
        }

        try
        {
            var (at, portals) = await report.ReadAsync(portal, cancellationToken);
            return Results.Json(new { at, dryRun = hubSpot.Value.DryRun, latencyBuckets = RelayMetrics.LatencyBuckets, portals });
        }
        catch (Exception ex) when (MissingStorage.IsMissing(ex) && !cancellationToken.IsCancellationRequested)
        {
            return Unavailable($"storage: {await missing.DescribeAsync(cancellationToken)} in the relay's storage");
        }
        catch (Exception ex) when (StorageClients.IsUnavailable(ex) && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(ex, "The operator view could not read the relay's storage");
            return Unavailable("storage: the relay's storage is unavailable; try again shortly");
        }
    }

    private static IResult Unavailable(string error) =>
        Results.Json(new { errors = new[] { error } }, statusCode: StatusCodes.Status503ServiceUnavailable);
}
