using System.Text.Encodings.Web;
using FunctionsRelay.Domain.Beacons;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Http;

/// <summary>
/// <c>GET /api/oembed?url=...</c>: an oEmbed 1.0 provider for media whose provider has none, so that HubSpot's media
/// objects have the <c>hs_oembed_url</c> it requires for video and audio (a <c>video</c> response with an iframe). It
/// embeds only https pages (http on loopback, for local runs) of the hosts the deployment allows (<c>Relay__OEmbedHosts</c>):
/// never an open embed of anything.
/// </summary>
public sealed class OEmbedEndpoint(IOptions<RelayOptions> relay, IOptions<HubSpotOptions> hubSpot)
{
    public const string Route = "oembed";

    private const int DefaultWidth = 640;
    private const int DefaultHeight = 360;

    public IResult Get(HttpRequest request)
    {
        var format = request.Query["format"].ToString();
        if (format.Length > 0 && format != "json")
            return Results.Json(new { error = $"format: only json is served (got {format})" }, statusCode: StatusCodes.Status501NotImplemented);
        var url = request.Query["url"].ToString();
        if (url.Length == 0)
            return Results.Json(new { error = "url: required, the https address of the media's player page" }, statusCode: StatusCodes.Status400BadRequest);
        if (EmbeddableProblem(url) is { } problem)
            return Results.Json(new { error = problem }, statusCode: StatusCodes.Status404NotFound);

        var width = Bounded(request.Query["maxwidth"], DefaultWidth);
        var height = Bounded(request.Query["maxheight"], DefaultHeight);
        var source = HtmlEncoder.Default.Encode(url);
        return Results.Json(new Dictionary<string, object>
        {
            ["version"] = "1.0",
            ["type"] = "video",
            ["provider_name"] = "FunctionsRelay",
            ["width"] = width,
            ["height"] = height,
            ["html"] = $"<iframe src=\"{source}\" width=\"{width}\" height=\"{height}\" frameborder=\"0\" allow=\"autoplay; fullscreen; picture-in-picture\" allowfullscreen></iframe>",
        });
    }

    /// <summary>The relay's own oEmbed URL for a media's page, where the relay may embed it; else null.</summary>
    public string? FallbackFor(MediaInfo media) =>
        media.Url is { } url && EmbeddableProblem(url) is null ? UrlFor(url) : null;

    /// <summary>The oEmbed URL of a page at this relay's endpoint, or null when the relay's address is not known.</summary>
    public string? UrlFor(string page) => EndpointUrl() is { } endpoint ? $"{endpoint}?url={Uri.EscapeDataString(page)}" : null;

    /// <summary>Where the relay serves oEmbed (<c>https://relay.example.com/api/oembed</c>), or null when its address is not known.</summary>
    public string? EndpointUrl() => PublicBaseUrl() is { } baseUrl ? $"{baseUrl.GetLeftPart(UriPartial.Authority)}/api/{Route}" : null;

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

    private Uri? PublicBaseUrl() =>
        Uri.TryCreate(string.IsNullOrWhiteSpace(relay.Value.PublicBaseUrl) ? hubSpot.Value.RedirectUri : relay.Value.PublicBaseUrl, UriKind.Absolute, out var address)
            ? address
            : null;

    private static bool HostMatches(string host, string allowed) =>
        allowed.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(allowed[1..], StringComparison.OrdinalIgnoreCase)
            : string.Equals(host, allowed, StringComparison.OrdinalIgnoreCase);

    private static int Bounded(string? value, int fallback) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed) && parsed > 0
            ? Math.Min(parsed, fallback)
            : fallback;
}
