using System.Text.Json;
using FunctionsRelay.Domain.HubSpot;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>HubSpot's answer to one check event.</summary>
public sealed record CheckAnswer(string Event, bool Accepted, int Status, string Answer);

/// <summary>
/// Sends one event of each kind for a test contact of a portal, as the relay builds them, to HubSpot's v1 event endpoints,
/// which answer errors at once (the asynchronous ones the relay uses in production keep them to themselves), on a media
/// object made for the check. What it prints is what HubSpot thinks of the relay's events on that account.
/// </summary>
public sealed class MediaBridgeCheck(HubSpotClient hubSpot, MediaObjectService mediaObjects, OEmbedLinks oembed, TimeProvider time)
{
    public const string CheckMediaId = "functions-relay-setup-check";

    public async Task<IReadOnlyList<CheckAnswer>> RunAsync(long portalId, long? contactId, string? utk, CancellationToken cancellationToken)
    {
        var media = new MediaObjectSpec
        {
            MediaType = "VIDEO",
            Title = "FunctionsRelay setup check",
            ExternalId = CheckMediaId,
            Duration = 10_000,
            OembedUrl = oembed.EndpointUrl() is { } endpoint ? oembed.UrlFor(endpoint[..endpoint.IndexOf("/api/", StringComparison.Ordinal)] + "/demo") : null,
        };
        var resolved = await mediaObjects.ResolveAsync(portalId, media, cancellationToken);
        if (resolved.ObjectId is not { } objectId)
            return [new CheckAnswer("media object", false, resolved.Result.Status, $"{resolved.Result.Outcome}: {resolved.Result.Answer}")];

        var common = new MediaEventPayload
        {
            MediaType = media.MediaType,
            OccurredTimestamp = time.GetUtcNow().ToUnixTimeMilliseconds(),
            SessionId = $"setup-check-{Guid.NewGuid():N}",
            ContactId = contactId,
            ContactUtk = contactId is null ? utk : null,
            MediaBridgeId = objectId,
            MediaName = media.Title,
        };
        var spans = Enumerable.Range(0, 10).ToDictionary(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture), i => i < 5 ? 1 : 0);
        (MediaEventKind Kind, MediaEventPayload Payload)[] events =
        [
            (MediaEventKind.Played, common with { State = PlayedStates.Started }),
            (MediaEventKind.PlayedPercent, common with { PlayedPercent = 0 }),
            (MediaEventKind.AttentionSpan, common with
            {
                RawDataMap = spans,
                RawDataString = string.Concat(spans.Select(span => $"{span.Key}={span.Value};")),
                DerivedValues = new AttentionSpanDerivedValues(0.5, 5),
            }),
        ];

        var answers = new List<CheckAnswer>();
        foreach (var (kind, payload) in events)
        {
            var path = MediaEventRoutes.SynchronousPathOf(kind);
            var answer = await hubSpot.SendAsync(portalId, HttpMethod.Post, path, JsonSerializer.Serialize(payload, MediaEventJsonContext.Default.MediaEventPayload), cancellationToken);
            answers.Add(new CheckAnswer(path, answer.Succeeded, answer.Result.Status, answer.Body ?? $"{answer.Result.Outcome}: {answer.Result.Answer}"));
        }

        return answers;
    }
}
