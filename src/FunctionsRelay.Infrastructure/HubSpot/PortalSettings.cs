namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>
/// What each portal chose of the relay's behaviour (its <see cref="PortalAccess"/> row: whether unknown emails become
/// contacts, whether only its catalog makes media objects), as the row said a minute ago at most: read once a minute per
/// portal and instance, not per event. A change with <c>relay portal</c> takes effect within that minute.
/// </summary>
public sealed class PortalSettings(PortalTokenStore portals, TimeProvider time)
{
    private static readonly TimeSpan KeptFor = TimeSpan.FromMinutes(1);

    private readonly ExpiringCache<long, PortalAccess?> _portals = new(10_000, time);

    /// <summary>The portal's row; null for a portal that never installed the app.</summary>
    public async Task<PortalAccess?> GetAsync(long portalId, CancellationToken cancellationToken)
    {
        if (_portals.TryGet(portalId, out var kept))
            return kept;
        var access = await portals.GetAccessAsync(portalId, cancellationToken);
        _portals.Set(portalId, access, KeptFor);
        return access;
    }
}
