namespace FunctionsRelay.Domain.Beacons;

/// <summary>
/// The links a media carries to HubSpot (its media URL, oEmbed URL, thumbnail, details page) and a page's URL: absolute
/// https URLs, or http where <see cref="BeaconLimits.AllowHttpLinks"/> says so. Never <c>javascript:</c>, <c>data:</c> or
/// anything else a contact card or the relay's oEmbed page would render.
/// </summary>
public static class MediaLinks
{
    /// <summary>Why <paramref name="value"/> is no acceptable link, or null when it is one.</summary>
    public static string? Problem(string value, bool allowHttp)
    {
        // On Unix a bare path ("/films/7") parses as a file URL: only a value that starts with its scheme is absolute.
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || !value.StartsWith(uri.Scheme + ":", StringComparison.OrdinalIgnoreCase))
            return allowHttp ? "must be an absolute http or https URL" : "must be an absolute https URL";
        var web = uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp;
        if (web && string.IsNullOrEmpty(uri.Host))
            return "must name a host";
        if (uri.Scheme == Uri.UriSchemeHttps || (allowHttp && uri.Scheme == Uri.UriSchemeHttp))
            return null;
        return allowHttp
            ? $"must be an http or https URL (got a {uri.Scheme}: URL)"
            : $"must be an https URL (got a {uri.Scheme}: URL{(uri.Scheme == Uri.UriSchemeHttp ? "; Beacons__AllowHttpLinks allows http" : "")})";
    }
}
