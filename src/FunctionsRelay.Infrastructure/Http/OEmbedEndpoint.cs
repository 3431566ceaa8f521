using System.Text.Encodings.Web;
using FunctionsRelay.Infrastructure.HubSpot;
using Microsoft.AspNetCore.Http;

namespace FunctionsRelay.Infrastructure.Http;

/// <summary>
/// <c>GET /api/oembed?url=...</c>: an oEmbed 1.0 provider for media whose provider has none, so that HubSpot's media
/// objects have the <c>hs_oembed_url</c> it requires for video and audio (a <c>video</c> response with an iframe). It
/// embeds only https pages (http on loopback, for local runs) of the hosts the deployment allows (<c>Relay__OEmbedHosts</c>):
/// never an open embed of anything. A media played in an app or on a TV has no page: <c>?media=...&amp;title=...</c>
/// answers a card with its title (no embed at all), so that its object can exist in HubSpot; <c>relay media</c> gives
/// such media their platform's own oEmbed URL instead.
/// </summary>
public sealed class OEmbedEndpoint(OEmbedLinks links)
{
    public const string Route = OEmbedLinks.Route;

    private const int DefaultWidth = 640;
    private const int DefaultHeight = 360;

    public IResult Get(HttpRequest request)
    {
        var format = request.Query["format"].ToString();
        if (format == "card" && request.Query["media"].ToString() is { Length: > 0 and <= MaxCardText } cardMedia)
            return TitleCard(request.HttpContext.Response, TitleOf(request, cardMedia));
        if (format.Length > 0 && format != "json")
            return Results.Json(new { error = $"format: only json is served (got {format})" }, statusCode: StatusCodes.Status501NotImplemented);
        var url = request.Query["url"].ToString();
        var width = Bounded(request.Query["maxwidth"], DefaultWidth);
        var height = Bounded(request.Query["maxheight"], DefaultHeight);
        if (url.Length == 0 && request.Query["media"].ToString() is { Length: > 0 and <= MaxCardText } media)
        {
            // HubSpot takes a video oEmbed whose html is an iframe: the card is a page of its own, served here.
            var title = TitleOf(request, media);
            var endpoint = links.EndpointUrl() ?? $"{request.Scheme}://{request.Host}{request.PathBase}{request.Path}";
            var card = HtmlEncoder.Default.Encode($"{endpoint}?format=card&media={Uri.EscapeDataString(media)}&title={Uri.EscapeDataString(title)}");
            return Answer(width, height, $"<iframe src=\"{card}\" width=\"{width}\" height=\"{height}\" frameborder=\"0\"></iframe>", title);
        }

        if (url.Length == 0)
            return Results.Json(new { error = $"url: required, the https address of the media's player page (or media: its id, at most {MaxCardText} characters, for media played in apps)" }, statusCode: StatusCodes.Status400BadRequest);
        if (links.EmbeddableProblem(url) is { } problem)
            return Results.Json(new { error = problem }, statusCode: StatusCodes.Status404NotFound);

        var source = HtmlEncoder.Default.Encode(url);
        return Answer(width, height, $"<iframe src=\"{source}\" width=\"{width}\" height=\"{height}\" frameborder=\"0\" allow=\"autoplay; fullscreen; picture-in-picture\" allowfullscreen></iframe>");
    }

    private const int MaxCardText = OEmbedLinks.MaxCardText;

    private static string TitleOf(HttpRequest request, string media) =>
        request.Query["title"].ToString() is { Length: > 0 and <= MaxCardText } named ? named : media;

    /// <summary>
    /// The title card of a media played in apps (no page of its own): the title, as text, on a dark card. Nothing but
    /// that text comes from the request; the page runs no script and loads nothing.
    /// </summary>
    private static IResult TitleCard(HttpResponse response, string title)
    {
        response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'";
        return Results.Text(
            $"<!doctype html><html><head><meta charset=\"utf-8\"><title>{HtmlEncoder.Default.Encode(title)}</title></head>"
            + "<body style=\"margin:0;height:100vh;display:flex;align-items:center;justify-content:center;background:#1f2933;color:#f5f7fa;font:16px sans-serif\">"
            + $"<p>{HtmlEncoder.Default.Encode(title)}</p></body></html>",
            "text/html; charset=utf-8");
    }

    private static IResult Answer(int width, int height, string html, string? title = null)
    {
        var answer = new Dictionary<string, object>
        {
            ["version"] = "1.0",
            ["type"] = "video",
            ["provider_name"] = "FunctionsRelay",
            ["width"] = width,
            ["height"] = height,
            ["html"] = html,
        };
        if (title is not null)
            answer["title"] = title;
        return Results.Json(answer);
    }

    private static int Bounded(string? value, int fallback) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed) && parsed > 0
            ? Math.Min(parsed, fallback)
            : fallback;
}
