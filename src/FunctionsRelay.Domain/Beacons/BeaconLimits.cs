namespace FunctionsRelay.Domain.Beacons;

/// <summary>What a request may hold. Bound from the <c>Beacons</c> configuration section (<c>Beacons__MaxBodyBytes</c>, ...).</summary>
public sealed class BeaconLimits
{
    public const string SectionName = "Beacons";

    public int MaxBodyBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// The largest body a backend may post with a secret source key (mParticle's Webhook output sends many viewers'
    /// batches at once, and does not send a refused request again): it is not held to a page's counts of beacons and
    /// sessions, only to this and its portal's HubSpot budget.
    /// </summary>
    public int MaxSourceBodyBytes { get; set; } = 4 * 1024 * 1024;

    public int MaxBodyBytesFor(bool trusted) => trusted ? Math.Max(MaxSourceBodyBytes, MaxBodyBytes) : MaxBodyBytes;

    public int MaxBeaconsPerRequest { get; set; } = 500;

    /// <summary>
    /// Distinct sessions one request may name: a page's players send one each, and every new session can cost the
    /// portal's HubSpot budget (its events, and a look-up of its viewer), so a flood of made-up sessions is refused whole.
    /// </summary>
    public int MaxSessionsPerRequest { get; set; } = 20;

    public int MaxStringLength { get; set; } = 2048;

    public int MaxSessionIdLength { get; set; } = 128;

    /// <summary>The largest position or duration accepted, in seconds (7 days).</summary>
    public double MaxSeconds { get; set; } = 7 * 24 * 3600;

    /// <summary>How far a beacon's <c>ts</c> may lie ahead of the relay's clock.</summary>
    public TimeSpan MaxFutureSkew { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How deep the JSON may nest. Beacons need 4 levels; anything deeper is hostile.</summary>
    public int MaxJsonDepth { get; set; } = 16;

    /// <summary>
    /// Beacon requests one client address may send a minute (a quarter of it at once); more are answered 429. A player
    /// sends one every few heartbeats (up to 12 a minute): 6,000 leaves room for some 500 viewers behind one office NAT.
    /// </summary>
    public int RequestsPerMinutePerAddress { get; set; } = 6_000;

    /// <summary>Beacon requests all players of one portal may send a minute (a quarter of it at once); more are answered 429.</summary>
    public int RequestsPerMinutePerPortal { get; set; } = 300_000;

    /// <summary>Whether media and page links may be plain http (else https only): <see cref="MediaLinks"/>.</summary>
    public bool AllowHttpLinks { get; set; }

    /// <summary>The HubSpot portal for mParticle events that carry no <c>hubspot_portal_id</c> attribute.</summary>
    public long? DefaultPortalId { get; set; }
}
