using System.Globalization;
using System.Text.Json;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.HubSpot;

namespace FunctionsRelay.Domain.Sessions;

/// <summary>What the log of a session says, in full: for audits, the demo page and tests.</summary>
public sealed record SessionReport(
    IReadOnlyList<WatchedInterval> Intervals,
    IReadOnlyList<Pass> Passes,
    IReadOnlyList<QuartileReach> Quartiles,
    AttentionSpan? AttentionSpan);

/// <summary>
/// Decides which HubSpot events a session is due, each at most once, and puts them in the session's outbox.
/// Live events (played, quartiles) come from the settled head of the log; the attention span from the whole log at close.
/// </summary>
public static class EventPlanner
{
    public static SessionReport Report(ReadOnlySpan<LogEntry> log, double? duration, SessionOptions options)
    {
        var intervals = Playback.Intervals(log);
        var passes = Playback.Passes(intervals);
        return duration is > 0
            ? new SessionReport(
                intervals,
                passes,
                Playback.Quartiles(log, duration.Value, options.QuartileRule, options.MaxSpans),
                Playback.AttentionSpan(passes, duration.Value, options.MaxSpans))
            : new SessionReport(intervals, passes, [], null);
    }

    /// <summary>
    /// The events a session's beacons give when they arrive in order, one at a time, and the session then closes (by its
    /// <c>end</c>, else by the idle timeout): what the relay must have sent, for audits and tests.
    /// </summary>
    public static List<PendingEvent> Replay(long portalId, string sessionId, IEnumerable<Beacon> beacons, SessionOptions options)
    {
        var session = new ViewingSession(portalId, sessionId);
        var events = new List<PendingEvent>();
        long now = 0;
        foreach (var beacon in beacons)
        {
            session.Merge(beacon, ++now, options.MaxLogEntries);
            CloseIfDue(session, now, options);
            events.AddRange(Decide(session, options));
        }

        CloseIfDue(session, now + (long)options.IdleTimeout.TotalMilliseconds, options);
        events.AddRange(Decide(session, options));
        return events;
    }

    /// <summary>
    /// The events a closed session is due under today's rules, decided afresh from its stored log and latest values, as if
    /// every beacon had arrived before it closed. <paramref name="stored"/> is left as it is.
    /// </summary>
    public static List<PendingEvent> Rederive(ViewingSession stored, SessionOptions options)
    {
        var session = new ViewingSession(stored.PortalId, stored.SessionId)
        {
            Media = stored.Media,
            ContactId = stored.ContactId,
            Utk = stored.Utk,
            Email = stored.Email,
            Page = stored.Page,
            Context = stored.Context,
            Duration = stored.Duration,
        };
        foreach (var entry in stored.LogEntries)
            session.Restore(entry);
        if (stored.CloseReason is { } reason && stored.ClosedAt is { } closedAt)
            session.Close(reason, closedAt);
        return [.. Decide(session, options)];
    }

    /// <summary>The flag that records an event of this key as decided.</summary>
    public static DecidedEvents FlagOf(string key) => key switch
    {
        "played" => DecidedEvents.Played,
        "attention-span" => DecidedEvents.AttentionSpan,
        _ when key.StartsWith("quartile-", StringComparison.Ordinal) => QuartileFlag(int.Parse(key["quartile-".Length..], CultureInfo.InvariantCulture)),
        _ => DecidedEvents.None,
    };

    /// <summary>Closes the session if its <c>end</c> has settled or it has been idle long enough.</summary>
    public static bool CloseIfDue(ViewingSession session, long now, SessionOptions options)
    {
        if (CloseDue(session, now, options) is { } reason)
            session.Close(reason, now);
        return session.IsClosed;
    }

    /// <summary>Why the session should close now, if it should: its <c>end</c> (settled, or after the grace) or idleness.</summary>
    public static CloseReason? CloseDue(ViewingSession session, long now, SessionOptions options)
    {
        if (session.IsClosed)
            return null;
        var (endSeen, endSettled) = session.EndBeacon();
        var idleFor = now - session.LastActivityAt;
        if (endSeen && (endSettled || idleFor >= (long)options.EffectiveEndGrace.TotalMilliseconds))
            return CloseReason.End;
        return idleFor >= (long)options.IdleTimeout.TotalMilliseconds ? CloseReason.Idle : null;
    }

    /// <summary>When an open session should next be checked: for closing, or for the end of a wait for a missing seq number (relay clock, ms).</summary>
    public static long NextCloseCheckAt(ViewingSession session, SessionOptions options)
    {
        var close = session.LastActivityAt + (long)(session.EndBeacon().Seen ? options.EffectiveEndGrace : options.IdleTimeout).TotalMilliseconds;
        return session.GapWaitSince == 0 ? close : Math.Min(close, session.GapWaitSince + (long)options.ReorderWindow.TotalMilliseconds);
    }

    /// <summary>
    /// Live decisions wait for a missing seq number at most <see cref="SessionOptions.ReorderWindow"/>: the wait starts when
    /// one is first missing, and once it has lasted that long, what arrived counts as settled. Closing is not hastened by
    /// it: an <c>end</c> still waits <see cref="SessionOptions.EndGracePeriod"/> for what is missing before it. True if it
    /// changed the session.
    /// </summary>
    public static bool SettleGaps(ViewingSession session, long now, SessionOptions options)
    {
        if (session.IsClosed)
            return false;
        if (session.DecidableCount() == session.Log.Count)
        {
            var waited = session.GapWaitSince != 0;
            session.GapWaitSince = 0;
            return waited;
        }

        if (session.GapWaitSince == 0)
        {
            session.GapWaitSince = now;
            if (options.ReorderWindow > TimeSpan.Zero)
                return true;
        }

        if (now - session.GapWaitSince < (long)options.ReorderWindow.TotalMilliseconds)
            return false;
        session.SettleWhatArrived();
        return true;
    }

    public static IReadOnlyList<PendingEvent> Decide(ViewingSession session, SessionOptions options)
    {
        if (session.Decided.HasFlag(DecidedEvents.AttentionSpan) || session.SkipReason is not null)
            return [];

        if (MissingIdentity(session) is { } missing)
        {
            if (session.IsClosed)
                session.SkipReason = missing;
            return [];
        }

        var log = session.LogEntries;
        var settled = session.IsClosed ? log : log[..session.DecidableCount()];
        var decided = new List<PendingEvent>(0);
        if (session.IsLive)
            return DecideLive(session, settled, decided, options);

        var duration = session.Duration!.Value.Value;

        if (!session.Decided.HasFlag(DecidedEvents.Played) && Playback.FirstPlay(settled) is { } playedAt)
        {
            // Quartile 0 goes with the played event, whatever later beacons say: both mark the start of playback.
            AddPlayed(session, decided, playedAt, options);
            AddQuartile(session, decided, new QuartileReach(0, playedAt), options);
        }

        if (session.Decided.HasFlag(DecidedEvents.Played))
        {
            if (QuartileMayBeDue(session, duration, options))
            {
                foreach (var reach in Playback.Quartiles(settled, duration, options.QuartileRule, options.MaxSpans))
                {
                    if (reach.Percent > HighestQuartileDecided(session))
                        AddQuartile(session, decided, reach, options);
                }
            }

            if (session.IsClosed)
            {
                var span = Playback.AttentionSpan(Playback.Passes(Playback.Intervals(log)), duration, options.MaxSpans);
                var payload = Build(session, session.Log[^1].Ts, options) with
                {
                    RawDataMap = RawDataMap(span.Counts),
                    RawDataString = span.RawDataString,
                    DerivedValues = new AttentionSpanDerivedValues(span.TotalPercentPlayed, span.TotalSecondsPlayed),
                };
                Add(session, decided, DecidedEvents.AttentionSpan, new PendingEvent("attention-span", MediaEventKind.AttentionSpan, Serialize(payload)));
            }
        }
        else if (session.IsClosed)
        {
            session.SkipReason = SkipReason.NeverPlayed;
        }

        return decided;
    }

    /// <summary>A live stream has no duration to take shares of: its session gets the played event and nothing else.</summary>
    private static List<PendingEvent> DecideLive(ViewingSession session, ReadOnlySpan<LogEntry> settled, List<PendingEvent> decided, SessionOptions options)
    {
        if (!session.Decided.HasFlag(DecidedEvents.Played) && Playback.FirstPlay(settled) is { } playedAt)
            AddPlayed(session, decided, playedAt, options);
        else if (session.IsClosed && !session.Decided.HasFlag(DecidedEvents.Played))
        {
            session.SkipReason = SkipReason.NeverPlayed;
        }

        return decided;
    }

    private static SkipReason? MissingIdentity(ViewingSession session) =>
        !session.HasContact ? SkipReason.NoContact
        : session.Media?.Value.HasIdentity != true ? SkipReason.NoMedia
        : session.Duration is null && !session.IsLive ? SkipReason.NoDuration
        : null;

    private static void AddPlayed(ViewingSession session, List<PendingEvent> decided, long playedAt, SessionOptions options) =>
        Add(session, decided, DecidedEvents.Played, new PendingEvent(
            "played", MediaEventKind.Played, Serialize(Build(session, playedAt, options) with { State = PlayedStates.Started })));

    private static void AddQuartile(ViewingSession session, List<PendingEvent> decided, QuartileReach reach, SessionOptions options)
    {
        var payload = Build(session, reach.Ts, options) with { PlayedPercent = reach.Percent };
        Add(session, decided, QuartileFlag(reach.Percent), new PendingEvent(
            "quartile-" + reach.Percent.ToString(CultureInfo.InvariantCulture), MediaEventKind.PlayedPercent, Serialize(payload)));
    }

    private static void Add(ViewingSession session, List<PendingEvent> decided, DecidedEvents flag, PendingEvent pending)
    {
        session.Decided |= flag;
        session.Enqueue(pending);
        decided.Add(pending);
    }

    private static DecidedEvents QuartileFlag(int percent) => percent switch
    {
        0 => DecidedEvents.Quartile0,
        25 => DecidedEvents.Quartile25,
        50 => DecidedEvents.Quartile50,
        75 => DecidedEvents.Quartile75,
        _ => DecidedEvents.Quartile100,
    };

    /// <summary>
    /// Whether the quartile scan can find anything: not once 100 % is decided, and not while no beacon has reported a
    /// position near enough to the next quartile (and, for the playhead rule, none says the media ended). Reaching
    /// q % of the media by either rule needs a watched interval ending within a span (at most 1 s) of q % of the
    /// duration, so most beacons of a long session skip the scan.
    /// </summary>
    private static bool QuartileMayBeDue(ViewingSession session, double duration, SessionOptions options)
    {
        var highest = HighestQuartileDecided(session);
        if (highest >= 100)
            return false;
        if (options.QuartileRule == QuartileRule.Playhead && session.HasEnded)
            return true;
        return session.FurthestPosition >= duration * (highest + 25) / 100 - Math.Max(1, Playback.SpanWidth(duration, options.MaxSpans));
    }

    private static int HighestQuartileDecided(ViewingSession session)
    {
        var highest = -1;
        foreach (var percent in (ReadOnlySpan<int>)[0, 25, 50, 75, 100])
        {
            if (session.Decided.HasFlag(QuartileFlag(percent)))
                highest = percent;
        }

        return highest;
    }

    private static Dictionary<string, int> RawDataMap(int[] counts)
    {
        var map = new Dictionary<string, int>(counts.Length);
        for (var i = 0; i < counts.Length; i++)
            map[i.ToString(CultureInfo.InvariantCulture)] = counts[i];
        return map;
    }

    /// <summary>The fields every event shares, from the latest known values of the session.</summary>
    private static MediaEventPayload Build(ViewingSession session, long occurredAt, SessionOptions options)
    {
        var media = session.Media!.Value.Value;
        var page = session.Page?.Value;
        return new MediaEventPayload
        {
            MediaType = MediaTypeName(media.Type ?? options.DefaultMediaType),
            OccurredTimestamp = occurredAt,
            SessionId = session.SessionId,
            ContactId = session.ContactId?.Value,
            ContactUtk = session.ContactId is null ? session.Utk?.Value : null,
            MediaBridgeId = media.MediaBridgeId,
            ExternalId = media.MediaBridgeId is null ? media.ExternalId : null,
            MediaName = media.Name,
            MediaUrl = media.Url,
            PageId = page?.Id,
            PageName = page?.Id is null ? page?.Name : null,
            PageUrl = page?.Id is null ? page?.Url : null,
            ExternalPlayContext = session.Context?.Value switch
            {
                PlayContext.Email => "EMAIL",
                PlayContext.ExternalPage => "EXTERNAL_PAGE",
                _ => null,
            },
        };
    }

    public static string MediaTypeName(MediaType type) => type.ToString().ToUpperInvariant();

    private static readonly System.Text.Json.Serialization.Metadata.JsonTypeInfo<MediaEventPayload> PayloadJson =
        CompactJson.TypeInfo(MediaEventJsonContext.Default.MediaEventPayload);

    private static string Serialize(MediaEventPayload payload) => JsonSerializer.Serialize(payload, PayloadJson);
}
