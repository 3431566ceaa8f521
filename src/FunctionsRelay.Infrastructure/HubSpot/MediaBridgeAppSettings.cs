using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FunctionsRelay.Domain.HubSpot;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>What the app's media bridge settings should be.</summary>
public sealed record AppSettingsRequest(long AppId, IReadOnlyList<string> MediaTypes, string? AppName, string? OEmbedUrl, IReadOnlyList<string> OEmbedSchemes);

/// <summary>One setting: what the setup found and did.</summary>
public sealed record SetupStep(string Setting, bool Succeeded, string Outcome);

/// <summary>
/// Registers a HubSpot app's media bridge settings (<c>/media-bridge/2026-09/{appId}/settings/...</c>, docs/hubspot.md):
/// object definitions for its media types, its name, event visibility (timeline, reporting, workflows) and the relay's
/// oEmbed endpoint as an oEmbed domain. Each step looks before it writes, so running it again changes nothing.
/// </summary>
public sealed class MediaBridgeAppSettings(HttpClient http, IOptions<HubSpotOptions> options, TimeProvider time)
{
    public async Task<IReadOnlyList<SetupStep>> ApplyAsync(AppSettingsRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.Value.DeveloperApiKey))
            return [new SetupStep("credentials", false, "HubSpot__DeveloperApiKey is not set: app settings need the developer account's key")];
        var settings = $"/media-bridge/{MediaEventRoutes.ApiVersion}/{request.AppId.ToString(CultureInfo.InvariantCulture)}/settings";
        var steps = new List<SetupStep> { await ObjectDefinitionsAsync(settings, request.MediaTypes, cancellationToken) };
        if (!string.IsNullOrWhiteSpace(request.AppName))
            steps.Add(await AppNameAsync(settings, request.AppName, cancellationToken));
        steps.Add(await EventVisibilityAsync(settings, cancellationToken));
        if (request.OEmbedUrl is not null)
            steps.Add(await OEmbedDomainAsync(settings, request.OEmbedUrl, request.OEmbedSchemes, cancellationToken));
        return steps;
    }

    private async Task<SetupStep> ObjectDefinitionsAsync(string settings, IReadOnlyList<string> mediaTypes, CancellationToken cancellationToken)
    {
        var missing = new List<string>();
        foreach (var mediaType in mediaTypes)
        {
            var (status, body) = await SendAsync(HttpMethod.Get, $"{settings}/object-definitions/{mediaType}", null, cancellationToken);
            if (status == 404)
                missing.Add(mediaType);
            else if (status is < 200 or >= 300)
                return new SetupStep("object definitions", false, $"reading {mediaType}: HubSpot answered {status} {body}");
        }

        if (missing.Count == 0)
            return new SetupStep("object definitions", true, $"{string.Join(", ", mediaTypes)} already defined");
        var answer = await SendAsync(HttpMethod.Post, $"{settings}/object-definitions", new JsonObject { ["mediaTypes"] = new JsonArray([.. missing.Select(m => (JsonNode)m)]) }, cancellationToken);
        return answer.Status is >= 200 and < 300
            ? new SetupStep("object definitions", true, $"defined {string.Join(", ", missing)}" + (missing.Count < mediaTypes.Count ? $"; {string.Join(", ", mediaTypes.Except(missing))} already were" : ""))
            : new SetupStep("object definitions", false, $"HubSpot answered {answer.Status} {answer.Body}");
    }

    private async Task<SetupStep> AppNameAsync(string settings, string name, CancellationToken cancellationToken)
    {
        var answer = await SendAsync(HttpMethod.Put, settings, new JsonObject { ["name"] = name, ["updatedAt"] = Now() }, cancellationToken);
        return answer.Status is >= 200 and < 300
            ? new SetupStep("app name", true, $"\"{name}\"")
            : new SetupStep("app name", false, $"HubSpot answered {answer.Status} {answer.Body}");
    }

    private async Task<SetupStep> EventVisibilityAsync(string settings, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["eventType"] = "ALL",
            ["updatedAt"] = Now(),
            ["showInTimeline"] = true,
            ["showInReporting"] = true,
            ["showInWorkflows"] = true,
        };
        var answer = await SendAsync(HttpMethod.Patch, $"{settings}/event-visibility", body, cancellationToken);
        return answer.Status is >= 200 and < 300
            ? new SetupStep("event visibility", true, "all events shown in timelines, reports and workflows")
            : new SetupStep("event visibility", false, $"HubSpot answered {answer.Status} {answer.Body}");
    }

    private async Task<SetupStep> OEmbedDomainAsync(string settings, string url, IReadOnlyList<string> schemes, CancellationToken cancellationToken)
    {
        var endpoints = new JsonObject
        {
            ["schemes"] = new JsonArray([.. schemes.Select(s => (JsonNode)s)]),
            ["url"] = url,
            ["discovery"] = false,
        };
        var (status, listed) = await SendAsync(HttpMethod.Get, $"{settings}/oembed-domains", null, cancellationToken);
        if (status is < 200 or >= 300 || listed is null)
            return new SetupStep("oEmbed domain", false, $"listing: HubSpot answered {status} {listed}");
        using var existing = JsonDocument.Parse(listed);
        var same = existing.RootElement.GetProperty("results").EnumerateArray()
            .FirstOrDefault(domain => domain.GetProperty("endpoints").GetProperty("url").GetString() == url);
        if (same.ValueKind == JsonValueKind.Object)
        {
            if (JsonNode.DeepEquals(JsonNode.Parse(same.GetProperty("endpoints").GetRawText()), endpoints))
                return new SetupStep("oEmbed domain", true, $"{url} already registered");
            var id = same.GetProperty("id").GetRawText().Trim('"');
            var updated = await SendAsync(HttpMethod.Patch, $"{settings}/oembed-domains/{id}", new JsonObject { ["endpoints"] = endpoints }, cancellationToken);
            return updated.Status is >= 200 and < 300
                ? new SetupStep("oEmbed domain", true, $"{url} updated for {string.Join(", ", schemes)}")
                : new SetupStep("oEmbed domain", false, $"HubSpot answered {updated.Status} {updated.Body}");
        }

        var created = await SendAsync(HttpMethod.Post, $"{settings}/oembed-domains", new JsonObject { ["endpoints"] = endpoints }, cancellationToken);
        return created.Status is >= 200 and < 300
            ? new SetupStep("oEmbed domain", true, $"{url} registered for {string.Join(", ", schemes)}")
            : new SetupStep("oEmbed domain", false, $"HubSpot answered {created.Status} {created.Body}");
    }

    private long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();

    private async Task<(int Status, string? Body)> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Value.DeveloperApiKey);
        if (body is not null)
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        return ((int)response.StatusCode, text.Length > 2000 ? text[..2000] : text);
    }
}
