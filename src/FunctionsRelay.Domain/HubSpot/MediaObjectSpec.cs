using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Domain.HubSpot;

/// <summary>
/// The HubSpot media object a session's events attach to, with HubSpot's JSON names (<c>POST /media-bridge/2026-09/objects</c>):
/// found by the provider's id (<see cref="ExternalId"/>) within its media type, created with the latest values a session
/// knows, and updated when they change (<see cref="Fingerprint"/>).
/// </summary>
public sealed record MediaObjectSpec
{
    [JsonPropertyName("mediaType")]
    public required string MediaType { get; init; }

    [JsonPropertyName("title")]
    public required string Title { get; init; }

    [JsonPropertyName("externalId")]
    public required string ExternalId { get; init; }

    /// <summary>Milliseconds, as HubSpot's <c>hs_duration</c>.</summary>
    [JsonPropertyName("duration")]
    public long? Duration { get; init; }

    [JsonPropertyName("oembedUrl")]
    public string? OembedUrl { get; init; }

    [JsonPropertyName("thumbnailUrl")]
    public string? ThumbnailUrl { get; init; }

    [JsonPropertyName("detailsPageLink")]
    public string? DetailsPageLink { get; init; }

    /// <summary>
    /// The object a session's events need, or null when they need none made: the beacons named HubSpot's own
    /// <c>mediaBridgeId</c>, or no media at all. <paramref name="fallbackOembedUrl"/> gives an oEmbed URL for media
    /// whose beacons bring none (the relay's own oEmbed endpoint), or null where there is none to give.
    /// </summary>
    public static MediaObjectSpec? For(ViewingSession session, SessionOptions options, Func<MediaInfo, string?> fallbackOembedUrl)
    {
        if (session.Media?.Value is not { ExternalId: { } externalId, MediaBridgeId: null } media)
            return null;
        return new MediaObjectSpec
        {
            MediaType = EventPlanner.MediaTypeName(media.Type ?? options.DefaultMediaType),
            Title = media.Name ?? externalId,
            ExternalId = externalId,
            Duration = session.Duration?.Value is { } seconds ? (long)Math.Round(seconds * 1000) : null,
            OembedUrl = media.OembedUrl ?? fallbackOembedUrl(media),
            ThumbnailUrl = media.ThumbnailUrl,
            DetailsPageLink = media.DetailsUrl,
        };
    }

    public string ToJson() => JsonSerializer.Serialize(this, MediaObjectJsonContext.Default.MediaObjectSpec);

    /// <summary>A short digest of every field: a media object whose stored fingerprint differs is updated.</summary>
    public string Fingerprint() => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(ToJson())).AsSpan(0, 12));

    /// <summary>An event's payload pointing at the media object by HubSpot's id instead of the provider's.</summary>
    public static string WithMediaBridgeId(string payload, long mediaBridgeId)
    {
        var json = JsonNode.Parse(payload)!.AsObject();
        json.Remove("externalId");
        json["mediaBridgeId"] = mediaBridgeId;
        return json.ToJsonString();
    }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(MediaObjectSpec))]
public sealed partial class MediaObjectJsonContext : JsonSerializerContext;
