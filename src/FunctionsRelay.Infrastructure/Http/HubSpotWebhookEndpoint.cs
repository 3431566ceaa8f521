using FunctionsRelay.Domain.HubSpot;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Http;

/// <summary>
/// <c>POST /api/hubspot/webhooks</c>: the app's webhooks (the subscription in <c>hubspot/src/app/webhooks</c>). A request
/// is HubSpot's only if its v3 signature holds (<see cref="WebhookSignature"/>, over <c>HubSpot__WebhookUrl</c>, the URL
/// HubSpot signed): else 401, and nothing changes. Each contact deletion (<c>contact.privacyDeletion</c>, and the
/// <c>contact.deletion</c> HubSpot sends with it) is queued as a privacy deletion of its portal and answered 200 at once;
/// the erasure runs on the queue (<see cref="Privacy.ViewerPrivacy"/>). Other events are answered 200 and ignored.
/// </summary>
public sealed class HubSpotWebhookEndpoint(
    BeaconQueue queue,
    IOptions<HubSpotOptions> hubSpot,
    IOptions<RelayOptions> relay,
    TimeProvider time,
    ILogger<HubSpotWebhookEndpoint> logger)
{
    public const string Route = "hubspot/webhooks";

    /// <summary>HubSpot sends at most 100 events a request; a kilobyte each is far more than one takes.</summary>
    private const int MaxBodyBytes = 256 * 1024;

    public async Task<IResult> PostAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var settings = hubSpot.Value;
        if (string.IsNullOrEmpty(settings.ClientSecret) || SignedUrl(request) is not { } url)
        {
            logger.LogError("A HubSpot webhook came, but HubSpot__ClientSecret or the relay's public address (HubSpot__WebhookUrl, Relay__PublicBaseUrl) is not set: it cannot be verified");
            return Error(StatusCodes.Status503ServiceUnavailable, "the relay cannot verify HubSpot's signature: its client secret or public address is not set");
        }

        var body = await BeaconEndpoint.ReadUpToAsync(request.Body, MaxBodyBytes + 1, cancellationToken);
        if (body.Length > MaxBodyBytes)
            return Error(StatusCodes.Status413PayloadTooLarge, $"body: more than {MaxBodyBytes} bytes");
        var problem = WebhookSignature.Problem(
            request.Method, url, body.Span, request.Headers["X-HubSpot-Request-Timestamp"], request.Headers["X-HubSpot-Signature-v3"], settings.ClientSecret, time.GetUtcNow());
        if (problem is not null)
        {
            logger.LogWarning("A request to the HubSpot webhook is refused: {Problem}", problem);
            return Error(StatusCodes.Status401Unauthorized, problem);
        }

        var (events, invalid) = WebhookEvents.Parse(body.Span);
        if (invalid is not null)
        {
            logger.LogWarning("A signed HubSpot webhook is refused: {Problem}", invalid);
            return Error(StatusCodes.Status400BadRequest, invalid);
        }

        var deletions = events
            .Where(e => WebhookEvents.ContactDeletions.Contains(e.SubscriptionType) && (settings.AppId is not { } appId || e.AppId is null || e.AppId == appId))
            .GroupBy(e => e.PortalId)
            .ToList();
        try
        {
            foreach (var portal in deletions)
                await queue.EnqueueForgetAsync(RelayMessage.Forget(portal.Key, [.. portal.Select(e => e.ObjectId).Distinct()]), TimeSpan.Zero, cancellationToken);
        }
        catch (Exception ex) when ((MissingStorage.IsMissing(ex) || StorageClients.IsUnavailable(ex)) && !cancellationToken.IsCancellationRequested)
        {
            // HubSpot sends a webhook again after an error (with growing pauses, for up to three days).
            logger.LogError(
                "A HubSpot webhook with {Deletions} contact deletions could not be queued: storage answered {Status}; HubSpot sends it again",
                deletions.Sum(p => p.Count()),
                (ex as Azure.RequestFailedException)?.Status.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "nothing");
            return Error(StatusCodes.Status503ServiceUnavailable, "storage: the relay's storage is unavailable; HubSpot sends the webhook again");
        }

        logger.LogInformation(
            "HubSpot webhook: {Events} events, {Deletions} contact deletions in {Portals} portals queued to be erased",
            events.Count,
            deletions.Sum(p => p.Count()),
            deletions.Count);
        return Results.Json(new { events = events.Count, deletions = deletions.Sum(p => p.Count()) });
    }

    /// <summary>The URL HubSpot signed: the configured one, with the request's own query, if any.</summary>
    private string? SignedUrl(HttpRequest request) =>
        (string.IsNullOrWhiteSpace(hubSpot.Value.WebhookUrl) ? PublicAddress.ApiUrl(relay.Value, hubSpot.Value, Route) : hubSpot.Value.WebhookUrl) is { } url
            ? url + request.QueryString.Value
            : null;

    private static IResult Error(int status, string problem) => Results.Json(new { error = problem }, statusCode: status);
}
