using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Privacy;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Delivery;

/// <summary>
/// What the gate says of a session's next event: send it (as <see cref="ContactId"/>, when its viewer was named by email),
/// or handle <see cref="Instead"/> (held, asked again later, or dropped for <see cref="Refusal"/>). <see cref="ViewerCounted"/>:
/// the session was counted against its viewer's hour just now.
/// </summary>
public sealed record GateAnswer(DeliveryResult? Instead, long? ContactId = null, SessionRefusal Refusal = SessionRefusal.None, bool ViewerCounted = false)
{
    /// <summary>The rank of the session's HubSpot calls, when not their events' own: <see cref="CallPriority.Surplus"/> for a viewer's later sessions of the hour.</summary>
    public CallPriority? Priority { get; init; }

    public static GateAnswer Send(long? contactId = null, bool viewerCounted = false) => new(null, contactId, ViewerCounted: viewerCounted);

    public static GateAnswer Refuse(SessionRefusal refusal) => new(DeliveryResult.Dropped, Refusal: refusal);
}

/// <summary>
/// Decides whether a session's viewer may have its events sent now, before the first of them goes and on every try:
/// the bounds on what a portal's public key lets a stranger spend, and whether HubSpot knows the viewer as a contact.
/// <list type="bullet">
/// <item>One viewer (utk, contact id or email) begins at most <c>Relay__MaxSessionsPerViewerPerHour</c> sessions an hour
/// in a portal, counted for every instance in table <c>quotas</c> under a keyed hash of the viewer: a known utk replayed
/// for made-up sessions spends the portal's budget no faster than a viewer watching a clip a minute.</item>
/// <item>A session known only by a utk is sent once HubSpot knows the utk as a contact: HubSpot's event endpoints take a
/// utk but link the event to a contact, so a visitor's events would be dropped (our reading, docs/hubspot.md). Until
/// then it is held, and asked about again after <c>Relay__AnonymousCheckInterval</c>, then after as long as it has been
/// held (up to a day); after <c>Relay__HoldAnonymousFor</c> its events are dropped. A new hold beyond the portal's
/// <c>Relay__MaxNewHeldSessionsPerPortalPerHour</c> is refused: the session's events are dropped.</item>
/// <item>A viewer named by email (a secret-keyed source) is sent as the contact HubSpot finds, or creates, for it; an
/// email HubSpot does not know is held as a utk is.</item>
/// <item>A client address that brought a tenth of <c>Relay__MaxUnknownViewersPerSourcePerHour</c> viewers who are no
/// contact this hour has its new viewers' look-ups ranked as plain look-ups, not with their played events.</item>
/// <item>A client address that brought <c>Relay__MaxUnknownViewersPerSourcePerHour</c> viewers who are no contact this
/// hour has its sessions' viewers looked up last (<see cref="CallPriority.SuspectLookUp"/>), and dropped, not held, when
/// they are no contact, its held ones too at their next check: a stranger making up utks cannot crowd out the look-ups
/// of a page's real viewers, nor take the portal's holds, nor leave sessions asking HubSpot for a month.</item>
/// </list>
/// </summary>
public sealed class ViewerGate(
    ContactResolver contacts,
    QuotaStore quotas,
    ViewerKeys keys,
    ViewerEmails emails,
    IOptions<RelayOptions> relayOptions,
    IOptions<HubSpotOptions> hubSpotOptions,
    TimeProvider time,
    ILogger<ViewerGate> logger)
{
    private static readonly TimeSpan MaxHeldCheckDelay = TimeSpan.FromDays(1);

    /// <summary>A count other instances kept too busy to settle: asked again shortly, nothing dropped.</summary>
    private static readonly DeliveryResult Contended = DeliveryResult.Later(TimeSpan.FromSeconds(2), "a count of the portal's bounds was too busy to settle");

    /// <summary>How long a client address found suspect is taken as such, per instance.</summary>
    private static readonly TimeSpan StandingKeptFor = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long an address found not suspect is taken as such, per instance: briefly, as its count goes up with each of
    /// its viewers HubSpot does not know, and another instance may mark it any moment.
    /// </summary>
    private static readonly TimeSpan NotSuspectKeptFor = TimeSpan.FromSeconds(5);

    /// <summary>
    /// What a client address's viewers who are no contact this hour say of its next new viewer: nothing yet (<c>Clear</c>);
    /// a tenth of the bound or more (<c>Busy</c>: its look-up no longer ranks with played events, so that a burst of
    /// made-up viewers does not queue ahead of other addresses' real ones while the bound is still being counted); the
    /// bound (<c>Suspect</c>).
    /// </summary>
    private enum SourceStanding
    {
        Clear,
        Busy,
        Suspect,
    }

    private readonly ExpiringCache<(long PortalId, string Source), SourceStanding> _standings = new(100_000, time);

    /// <summary>Viewers warned of this hour (by pseudonym): one line per viewer and hour, however many sessions it makes up.</summary>
    private readonly ExpiringCache<(long PortalId, string Viewer), bool> _warnedViewers = new(10_000, time);

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    public async Task<GateAnswer> CheckAsync(ViewingSession session, PendingEvent pending, DateTimeOffset answerBy, CancellationToken cancellationToken)
    {
        if (session.Refused != SessionRefusal.None)
            return GateAnswer.Refuse(session.Refused);
        var counted = false;
        if (!session.ViewerCounted && ViewerOf(session) is { } viewer)
        {
            var pseudonym = await keys.OfAsync(viewer, cancellationToken);
            var (take, count) = await quotas.TakeViewerSessionAsync(session.PortalId, pseudonym, relayOptions.Value.MaxSessionsPerViewerPerHour, cancellationToken);
            switch (take)
            {
                case QuotaTake.Contended:
                    return new(Contended);
                case QuotaTake.Full:
                    WarnViewerBound(session, pseudonym);
                    return GateAnswer.Refuse(SessionRefusal.ViewerBound);
            }

            counted = true;
            session.RepeatViewer = count > relayOptions.Value.ViewerSessionsFirstPerHour;
        }

        var answer = await ContactAsync(session, pending, answerBy, cancellationToken);
        return answer with { ViewerCounted = counted, Priority = session.RepeatViewer ? CallPriority.Surplus : null };
    }

    /// <summary>The viewer a session names, as its pseudonym is made: by contact id, else email, else utk.</summary>
    private ViewerName? ViewerOf(ViewingSession session) =>
        session.ContactId is { } contactId ? ViewerName.OfContact(contactId.Value)
        : session.ResolvedContactId is { } resolved ? ViewerName.OfContact(resolved)
        : session.Email is { } email ? ViewerName.OfEmail(emails.Reveal(email.Value))
        : session.Utk is { } utk ? ViewerName.OfUtk(utk.Value)
        : null;

    /// <summary>
    /// HubSpot named the session's viewer: its key is noted for a privacy deletion, and an email, its work done, is dropped
    /// (the session's events go as the contact).
    /// </summary>
    private async Task NoteContactAsync(ViewingSession session, long contactId, bool ofEmail, CancellationToken cancellationToken)
    {
        session.AddViewerKey(await keys.OfAsync(ViewerName.OfContact(contactId), cancellationToken));
        if (!ofEmail)
            return;
        session.ResolvedContactId = contactId;
        session.DropResolvedEmail();
    }

    private async Task<GateAnswer> ContactAsync(ViewingSession session, PendingEvent pending, DateTimeOffset answerBy, CancellationToken cancellationToken)
    {
        if (session.ContactId is not null)
            return GateAnswer.Send();
        if (session.ResolvedContactId is { } resolved)
            return GateAnswer.Send(resolved);
        if (session.Email is null && session.UtkIsKnownContact)
            return GateAnswer.Send();
        // A played event waits for its viewer's look-up: the look-up ranks with it (a look-up ranked below played events
        // would wait for them while the played event waits for it). A held viewer's check is not a live viewer's: its
        // played event waited an interval already, and ranks with the other look-ups.
        var standing = await StandingAsync(session, cancellationToken);
        var priority = standing == SourceStanding.Suspect ? CallPriority.SuspectLookUp
            : pending.Kind == MediaEventKind.Played && session.AnonymousHeldSince == 0 && standing == SourceStanding.Clear ? CallPriority.PlayedLookUp
            : CallPriority.LookUp;
        if (session.Email is { } email)
        {
            var found = await contacts.ResolveEmailAsync(session.PortalId, emails.Reveal(email.Value), cancellationToken, answerBy, priority);
            if (found is { State: UtkState.Contact, ContactId: { } contactId })
                await NoteContactAsync(session, contactId, ofEmail: true, cancellationToken);
            return found.State switch
            {
                UtkState.Contact => GateAnswer.Send(found.ContactId),
                UtkState.AskLater => new(found.Unanswered),
                _ when hubSpotOptions.Value.DryRun => GateAnswer.Send(),
                _ => await HoldAsync(session, pending, "its viewer's email is not a HubSpot contact yet", priority, cancellationToken),
            };
        }

        if (session.Utk is not { } utk || relayOptions.Value.HoldAnonymousFor == TimeSpan.Zero)
            return GateAnswer.Send();
        var resolution = await contacts.ResolveAsync(session.PortalId, utk.Value, cancellationToken, answerBy, priority);
        if (resolution is { State: UtkState.Contact, ContactId: { } utkContact })
        {
            await NoteContactAsync(session, utkContact, ofEmail: false, cancellationToken);
            session.UtkContactStamp = utk.Stamp;
        }

        return resolution.State switch
        {
            UtkState.Contact or UtkState.Unchecked => GateAnswer.Send(),
            UtkState.AskLater => new(resolution.Unanswered),
            _ => await HoldAsync(session, pending, "its viewer's utk is not a HubSpot contact yet", priority, cancellationToken),
        };
    }

    /// <summary>
    /// Holds a session whose viewer is no contact yet, within the portal's hourly bound of new holds and, for a session of
    /// a client address that brought too many such viewers, not at all; dropped once held long enough. A new such viewer
    /// counts against its address's hour.
    /// </summary>
    private async Task<GateAnswer> HoldAsync(ViewingSession session, PendingEvent pending, string reason, CallPriority priority, CancellationToken cancellationToken)
    {
        var settings = relayOptions.Value;
        var heldFor = TimeSpan.FromMilliseconds(Now - HeldSince(session, pending));
        if (heldFor >= settings.HoldAnonymousFor)
            return new(DeliveryResult.Dropped);
        // A held session of an address found since to make up viewers goes at its next check: never retried for a month.
        if (priority == CallPriority.SuspectLookUp)
            return GateAnswer.Refuse(SessionRefusal.SourceBound);
        if (session.AnonymousHeldSince > 0)
            return new(DeliveryResult.HeldFor(NextCheck(heldFor), reason));

        if (session.Source is { } source and not RelayMessage.TrustedSource
            && await quotas.TakeUnknownViewerAsync(session.PortalId, source, settings.MaxUnknownViewersPerSourcePerHour, cancellationToken) == QuotaTake.Full)
        {
            await quotas.MarkSuspectSourceAsync(session.PortalId, source, cancellationToken);
            if (!_standings.TryGet((session.PortalId, source), out var known) || known != SourceStanding.Suspect)
            {
                logger.LogWarning(
                    "Portal {PortalId}: a client address has brought {Limit} viewers who are no HubSpot contact this hour (Relay__MaxUnknownViewersPerSourcePerHour): its sessions' viewers are looked up last, and not held",
                    session.PortalId,
                    settings.MaxUnknownViewersPerSourcePerHour);
            }

            _standings.Set((session.PortalId, source), SourceStanding.Suspect, StandingKeptFor);
            return GateAnswer.Refuse(SessionRefusal.SourceBound);
        }

        // A new hold counts against the portal's hourly bound: a page's key is public, and each hold asks HubSpot for a month.
        return await quotas.TakeHeldAsync(session.PortalId, settings.MaxNewHeldSessionsPerPortalPerHour, cancellationToken) switch
        {
            QuotaTake.Full => GateAnswer.Refuse(SessionRefusal.HoldBound),
            QuotaTake.Contended => new(Contended),
            _ => new(DeliveryResult.HeldFor(NextCheck(heldFor), reason)),
        };
    }

    /// <summary>
    /// What the session's client address brought this hour, in viewers who are no contact (<see cref="SourceStanding"/>;
    /// suspect for two days once it brought the bound): read once a minute per address and instance once suspect, every
    /// 5 s before.
    /// </summary>
    private async Task<SourceStanding> StandingAsync(ViewingSession session, CancellationToken cancellationToken)
    {
        if (session.Source is not { } source || source == RelayMessage.TrustedSource)
            return SourceStanding.Clear;
        if (_standings.TryGet((session.PortalId, source), out var standing))
            return standing;
        standing = await quotas.IsSuspectSourceAsync(session.PortalId, source, cancellationToken) ? SourceStanding.Suspect
            : await quotas.UnknownViewersAsync(session.PortalId, source, cancellationToken) >= BusyAfter ? SourceStanding.Busy
            : SourceStanding.Clear;
        _standings.Set((session.PortalId, source), standing, standing == SourceStanding.Suspect ? StandingKeptFor : NotSuspectKeptFor);
        return standing;
    }

    /// <summary>Viewers who are no contact an address brings in an hour before it is <see cref="SourceStanding.Busy"/>: a tenth of the bound, at least one.</summary>
    private int BusyAfter => Math.Max(1, relayOptions.Value.MaxUnknownViewersPerSourcePerHour / 10);

    /// <summary>How long a held session waits before it asks again: as long as it has been held (1, 2, 4 ... hours), between the check interval and a day.</summary>
    private TimeSpan NextCheck(TimeSpan heldFor)
    {
        var settings = relayOptions.Value;
        var wait = heldFor < settings.AnonymousCheckInterval ? settings.AnonymousCheckInterval : heldFor > MaxHeldCheckDelay ? MaxHeldCheckDelay : heldFor;
        var untilDropped = settings.HoldAnonymousFor - heldFor;
        return untilDropped > TimeSpan.Zero && untilDropped < wait ? untilDropped : wait;
    }

    /// <summary>Since when a session has been held: its first hold, else (not held yet) when the event became due.</summary>
    private long HeldSince(ViewingSession session, PendingEvent pending) =>
        session.AnonymousHeldSince > 0 ? session.AnonymousHeldSince : pending.DueSince > 0 ? pending.DueSince : Now;

    private void WarnViewerBound(ViewingSession session, string pseudonym)
    {
        if (_warnedViewers.TryGet((session.PortalId, pseudonym), out _))
            return;
        _warnedViewers.Set((session.PortalId, pseudonym), true, TimeSpan.FromHours(1));
        logger.LogWarning(
            "Portal {PortalId}: viewer {Viewer} has begun {Limit} sessions this hour (Relay__MaxSessionsPerViewerPerHour): its further sessions are dropped, such as {SessionId}",
            session.PortalId,
            pseudonym[..8],
            relayOptions.Value.MaxSessionsPerViewerPerHour,
            session.SessionId);
    }
}
