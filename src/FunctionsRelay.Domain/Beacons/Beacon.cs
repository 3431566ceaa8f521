namespace FunctionsRelay.Domain.Beacons;

/// <summary>What a player reports. The order of the members is the order used to break ties in a session's log.</summary>
public enum BeaconEvent : byte
{
    Start,
    Play,
    Pause,
    Heartbeat,
    Seek,
    Ended,
    End,

    /// <summary>
    /// A seek began at <see cref="Beacon.Position"/> (mParticle's Seek Start): nothing is watched from here to the seek's
    /// end. Last, so that the values stored before it existed keep their meaning.
    /// </summary>
    SeekStart,
}

public enum MediaType
{
    Video,
    Audio,
    Document,
    Image,
    Other,
}

public enum PlayContext
{
    Email,
    ExternalPage,
}

/// <summary>
/// What a beacon says of its media. A <see cref="Live"/> stream has no duration: it gets a played event only. The URLs
/// after it describe the HubSpot media object the relay creates for the media (an oEmbed URL, a thumbnail, a page
/// about the media in the provider's own system).
/// </summary>
public sealed record MediaInfo(
    string? ExternalId,
    long? MediaBridgeId,
    string? Name,
    string? Url,
    MediaType? Type,
    bool Live = false,
    string? OembedUrl = null,
    string? ThumbnailUrl = null,
    string? DetailsUrl = null)
{
    public bool HasIdentity => ExternalId is not null || MediaBridgeId is not null;
}

/// <summary>
/// A contact by HubSpot id, by the browser's <c>hubspotutk</c>, or by email. A contact id comes with the customer's
/// signature of it, or (like an email) in a request that shows a secret source key, which vouches for its sender.
/// </summary>
public sealed record ContactInfo(long? ContactId, string? Utk, ContactSignature? Signature = null, string? Email = null)
{
    /// <summary>The text form leaves the email out: it is personal data, and records end up in logs.</summary>
    public override string ToString() => $"ContactInfo {{ ContactId = {ContactId}, Utk = {Utk}, Email = {(Email is null ? "" : "(set)")} }}";
}

/// <summary>
/// The customer's backend vouching for a contact id until <see cref="Expires"/> (Unix seconds): <see cref="Value"/> is the hex
/// HMAC-SHA256 of <c>portalId:contactId:expires</c> with the portal's signing secret.
/// </summary>
public sealed record ContactSignature(long Expires, string Value);

public sealed record PageInfo(long? Id, string? Name, string? Url);

/// <summary>One validated playback beacon. Positions and durations are in seconds, <see cref="Ts"/> in ms since the epoch.</summary>
public sealed record Beacon(
    long PortalId,
    string SessionId,
    BeaconEvent Event,
    long Ts,
    long? Seq = null,
    double? Position = null,
    double? From = null,
    double? Duration = null,
    MediaInfo? Media = null,
    ContactInfo? Contact = null,
    PageInfo? Page = null,
    PlayContext? Context = null);

/// <summary>A rejected field: <c>beacons[3].position: must be a finite number &gt;= 0</c>.</summary>
public sealed record BeaconError(string Field, string Message)
{
    public override string ToString() => $"{Field}: {Message}";
}

/// <summary>
/// What a player's own SDK says a session played (mParticle's Media Session Summary): content time spent and whether the
/// content completed. Not playback: the relay logs it beside what its own log of the session shows, as a cross-check.
/// </summary>
public sealed record PlaybackSummary(long PortalId, string SessionId, double ContentSecondsPlayed, bool? Complete);

/// <summary>
/// The result of parsing one request body: either beacons, the players' own summaries and how many foreign events were
/// ignored, or errors.
/// </summary>
public sealed record BeaconBatch(IReadOnlyList<Beacon> Beacons, int Ignored, IReadOnlyList<BeaconError> Errors)
{
    public IReadOnlyList<PlaybackSummary> Summaries { get; init; } = [];

    /// <summary>Of a source's event batches, those that brought no media event (accepted, ignored, counted).</summary>
    public int BatchesWithoutMedia { get; init; }

    public bool IsValid => Errors.Count == 0;

    public static BeaconBatch Rejected(params BeaconError[] errors) => new([], 0, errors);
}
