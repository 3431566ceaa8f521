using FunctionsRelay.Domain.Beacons;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>
/// The relay's own oEmbed URLs, which media objects name when their provider has none (<c>hs_oembed_url</c>), and which
/// pages it embeds: the relay serves them at <see cref="Route"/> (<c>Http/OEmbedEndpoint</c>).
/// </summary>
public sealed class OEmbedLinks(IOptions<RelayOptions> relay, IOptions<HubSpotOptions> hubSpot)
{
    public const string Route = "oembed";

    /// <summary>The longest media id or title a card URL carries.</summary>
    public const int MaxCardText = 512;

    /// <summary>The relay's own oEmbed URL for a media's page, where the relay may embed it; else null.</summary>
    /// <remarks>A media with no page (an app's, a TV's: mParticle's Media SDKs carry no URL) gets the title card.</remarks>
    public string? FallbackFor(MediaInfo media) => media switch
    {
        { Url: { } url } => EmbeddableProblem(url) is null ? UrlFor(url) : null,
        { ExternalId: { Length: <= MaxCardText } id } when EndpointUrl() is { } endpoint =>
            $"{endpoint}?media={Uri.EscapeDataString(id)}{(media.Name is { Length: <= MaxCardText } title ? $"&title={Uri.EscapeDataString(title)}" : "")}",
        _ => null,
    };

    /// <summary>The oEmbed URL of a page at this relay's endpoint, or null when the relay's address is not known.</summary>
    public string? UrlFor(string page) => EndpointUrl() is { } endpoint ? $"{endpoint}?url={Uri.EscapeDataString(page)}" : null;

    /// <summary>Where the relay serves oEmbed (<c>https://relay.example.com/api/oembed</c>), or null when its address is not known.</summary>
    public string? EndpointUrl() => PublicAddress.ApiUrl(relay.Value, hubSpot.Value, Route);

    /// <summary>The URL patterns of the pages it embeds, as HubSpot's oEmbed domain settings take them.</summary>
    public IReadOnlyList<string> Schemes() => relay.Value.OEmbedHosts.Select(host => $"https://{host}/*").ToList();

    /// <summary>Why the relay will not embed this address, or null when it will.</summary>
    public string? EmbeddableProblem(string url)
    {
        // Plain http only on this machine, for local runs of the demo page.
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback)))
            return "url: must be an absolute https address";
        return relay.Value.OEmbedHosts.Any(allowed => HostMatches(uri.Host, allowed))
            ? null
            : $"url: {uri.Host} is not a host this relay embeds (Relay__OEmbedHosts)";
    }

    private static bool HostMatches(string host, string allowed) =>
        allowed.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(allowed[1..], StringComparison.OrdinalIgnoreCase)
            : string.Equals(host, allowed, StringComparison.OrdinalIgnoreCase);
}
