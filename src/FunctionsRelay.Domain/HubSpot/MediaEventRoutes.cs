using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Domain.HubSpot;

/// <summary>HubSpot's date-versioned Media Bridge event endpoints (docs/hubspot.md says where each comes from).</summary>
public static class MediaEventRoutes
{
    public const string ApiVersion = HubSpotApiVersions.MediaBridge;

    public static string PathOf(MediaEventKind kind) => kind switch
    {
        MediaEventKind.Played => $"/media-bridge/{ApiVersion}/events/media-played",
        MediaEventKind.PlayedPercent => $"/media-bridge/{ApiVersion}/events/media-played-percent",
        MediaEventKind.AttentionSpan => $"/media-bridge/{ApiVersion}/events/attention-span",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a media event kind"),
    };

    /// <summary>The v1 endpoints, which answer an erroneous event at once (the media bridge guide): for checks, not production.</summary>
    public static string SynchronousPathOf(MediaEventKind kind) => PathOf(kind).Replace($"/{ApiVersion}/", "/v1/", StringComparison.Ordinal);
}

/// <summary>HubSpot's date-versioned Media Bridge media object endpoints.</summary>
public static class MediaObjectRoutes
{
    public const string Objects = $"/media-bridge/{MediaEventRoutes.ApiVersion}/objects";
}
