using System.Text.Json.Serialization;

namespace FunctionsRelay.Domain.HubSpot;

/// <summary>
/// The body of a Media Bridge event, with HubSpot's JSON names; absent values are left out. The played event adds
/// <see cref="State"/> to the common fields, the quartile event <see cref="PlayedPercent"/>, the attention-span event the
/// map and derived values.
/// </summary>
public sealed record MediaEventPayload
{
    /// <summary>An event's payload for the contact HubSpot's id names (the viewer known by email, resolved at delivery) instead of a utk.</summary>
    public static string WithContactId(string payload, long contactId)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(payload)!.AsObject();
        json.Remove("contactUtk");
        json["contactId"] = contactId;
        return json.ToJsonString();
    }

    [JsonPropertyName("mediaType")]
    public required string MediaType { get; init; }

    [JsonPropertyName("occurredTimestamp")]
    public required long OccurredTimestamp { get; init; }

    [JsonPropertyName("sessionId")]
    public required string SessionId { get; init; }

    [JsonPropertyName("contactId")]
    public long? ContactId { get; init; }

    [JsonPropertyName("contactUtk")]
    public string? ContactUtk { get; init; }

    [JsonPropertyName("mediaBridgeId")]
    public long? MediaBridgeId { get; init; }

    [JsonPropertyName("externalId")]
    public string? ExternalId { get; init; }

    [JsonPropertyName("mediaName")]
    public string? MediaName { get; init; }

    [JsonPropertyName("mediaUrl")]
    public string? MediaUrl { get; init; }

    [JsonPropertyName("pageId")]
    public long? PageId { get; init; }

    [JsonPropertyName("pageName")]
    public string? PageName { get; init; }

    [JsonPropertyName("pageUrl")]
    public string? PageUrl { get; init; }

    [JsonPropertyName("externalPlayContext")]
    public string? ExternalPlayContext { get; init; }

    /// <summary>Played events only, where HubSpot requires it: <see cref="PlayedStates.Started"/> when playback began.</summary>
    [JsonPropertyName("state")]
    public string? State { get; init; }

    /// <summary>Quartile events: 0, 25, 50, 75 or 100.</summary>
    [JsonPropertyName("playedPercent")]
    public int? PlayedPercent { get; init; }

    /// <summary>Attention-span events: every span's view count, zeros too.</summary>
    [JsonPropertyName("rawDataMap")]
    public IReadOnlyDictionary<string, int>? RawDataMap { get; init; }

    [JsonPropertyName("rawDataString")]
    public string? RawDataString { get; init; }

    [JsonPropertyName("derivedValues")]
    public AttentionSpanDerivedValues? DerivedValues { get; init; }
}

/// <summary>The played event's <c>state</c> values.</summary>
public static class PlayedStates
{
    public const string Started = "STARTED";
}

/// <summary><see cref="TotalPercentPlayed"/> is a share of the media from 0 to 1, as HubSpot computes it when it is left out.</summary>
public sealed record AttentionSpanDerivedValues(
    [property: JsonPropertyName("totalPercentPlayed")] double TotalPercentPlayed,
    [property: JsonPropertyName("totalSecondsPlayed")] int TotalSecondsPlayed);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(MediaEventPayload))]
public sealed partial class MediaEventJsonContext : JsonSerializerContext;
