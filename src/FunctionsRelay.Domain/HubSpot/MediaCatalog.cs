using System.Text.Json;
using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.Domain.HubSpot;

/// <summary>
/// The integrator's own list of its media, the one source that may change a media object's title, duration and links
/// (<c>relay media</c>): a JSON array of <c>{"externalId", "type", "title", "duration" (seconds), "oembedUrl",
/// "thumbnailUrl", "detailsUrl"}</c>. Parsed whole or not at all, every problem named with its entry.
/// </summary>
public static class MediaCatalog
{
    private static readonly string[] MediaTypes = ["VIDEO", "AUDIO", "DOCUMENT", "IMAGE", "OTHER"];

    public static (IReadOnlyList<MediaObjectSpec> Media, IReadOnlyList<string> Problems) Parse(string json, bool allowHttpLinks)
    {
        var (media, problems) = (new List<MediaObjectSpec>(), new List<string>());
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            return ([], [$"catalog: is not valid JSON ({ex.Message})"]);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
                return ([], ["catalog: must be a JSON array of media"]);
            var index = 0;
            foreach (var entry in document.RootElement.EnumerateArray())
            {
                var at = $"[{index++}]";
                if (entry.ValueKind != JsonValueKind.Object)
                {
                    problems.Add($"{at}: must be an object");
                    continue;
                }

                string? Text(string name) => entry.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text ? text : null;
                string? Link(string name)
                {
                    if (Text(name) is not { } link)
                        return null;
                    if (MediaLinks.Problem(link, allowHttpLinks) is { } problem)
                        problems.Add($"{at}.{name}: {problem}");
                    return link;
                }

                var externalId = Text("externalId");
                var title = Text("title");
                var type = Text("type") ?? "VIDEO";
                if (externalId is null)
                    problems.Add($"{at}.externalId: is required");
                if (title is null)
                    problems.Add($"{at}.title: is required");
                if (!MediaTypes.Contains(type))
                    problems.Add($"{at}.type: must be one of {string.Join(", ", MediaTypes)} (got {type})");
                long? duration = null;
                if (entry.TryGetProperty("duration", out var seconds) && seconds.ValueKind != JsonValueKind.Null)
                {
                    if (seconds.ValueKind == JsonValueKind.Number && seconds.TryGetDouble(out var value) && value > 0)
                        duration = (long)Math.Round(value * 1000);
                    else
                        problems.Add($"{at}.duration: must be a positive number of seconds");
                }

                var spec = new MediaObjectSpec
                {
                    MediaType = type,
                    Title = title ?? "",
                    ExternalId = externalId ?? "",
                    Duration = duration,
                    OembedUrl = Link("oembedUrl"),
                    ThumbnailUrl = Link("thumbnailUrl"),
                    DetailsPageLink = Link("detailsUrl"),
                };
                media.Add(spec);
            }
        }

        return problems.Count > 0 ? ([], problems) : (media, []);
    }
}
