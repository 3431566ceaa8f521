using FunctionsRelay.Domain.Sessions;

namespace FunctionsRelay.Domain.HubSpot;

public static class MediaEventRoutes
{
    public static string PathOf(MediaEventKind kind) => kind switch
    {
        MediaEventKind.Played => "/media-bridge/v2/events/media-played",
        MediaEventKind.PlayedPercent => "/media-bridge/v2/events/media-played-percent",
        MediaEventKind.AttentionSpan => "/media-bridge/v2/events/attention-span",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a media event kind"),
    };
}
