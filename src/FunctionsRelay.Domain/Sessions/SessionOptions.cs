using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.Domain.Sessions;

/// <summary>How sessions close and how attention spans are cut. Bound from the <c>Sessions</c> section (<c>Sessions__IdleTimeout</c>, ...).</summary>
public sealed class SessionOptions
{
    public const string SectionName = "Sessions";

    /// <summary>A session with no beacon for this long is closed and its attention span sent.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// After an <c>end</c> beacon, how long to wait for beacons still missing from the seq numbering before closing anyway:
    /// longer than the 10 minutes the queue listener keeps a message hidden when the instance handling it dies, so that
    /// such beacons still make the attention span. Only sessions with a gap before their end wait that long.
    /// </summary>
    public TimeSpan EndGracePeriod { get; set; } = TimeSpan.FromMinutes(11);

    /// <summary>The grace as it applies: never longer than the idle timeout, which closes a session in any case.</summary>
    public TimeSpan EffectiveEndGrace => EndGracePeriod < IdleTimeout ? EndGracePeriod : IdleTimeout;

    /// <summary>
    /// How long live events (played, quartiles) wait for a missing seq number before they are decided from what arrived: a
    /// player that numbers from 1, or whose first request was lost, gets its played event after this, not at the close.
    /// A beacon that comes later still counts in the attention span.
    /// </summary>
    public TimeSpan ReorderWindow { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most spans an attention-span map is cut into (one per second up to this many).</summary>
    public int MaxSpans { get; set; } = 1000;

    /// <summary>A session keeps at most this many beacons; later ones are dropped and counted.</summary>
    public int MaxLogEntries { get; set; } = 20_000;

    /// <summary>
    /// How quartile events are decided: by the share of the media consumed (the default; HubSpot defines playedPercent as
    /// "how much of the media has been consumed so far"), or by the playhead.
    /// </summary>
    public QuartileRule QuartileRule { get; set; } = QuartileRule.Consumed;

    /// <summary>The media type sent to HubSpot when a session never said which (HubSpot requires one).</summary>
    public MediaType DefaultMediaType { get; set; } = MediaType.Video;
}
