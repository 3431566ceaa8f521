using System.Text.Json;

namespace FunctionsRelay.Testing;

/// <summary>
/// HubSpot's Media Bridge event schema as docs/hubspot.md reads it (the date-versioned API reference and HubSpot's generated SDK,
/// plus the media bridge guide's rules): the fields each endpoint takes, their types, which are required, and the rules
/// across fields. The stand-in HubSpot refuses any body that breaks it, naming the first problem.
/// </summary>
public static class MediaBridgeContract
{
    public const string EventsPrefix = "/media-bridge/2026-09/events/";

    private enum Kind
    {
        String,
        Integer,
        Number,
        IntegerMap,
        DerivedValues,
    }

    private sealed record Field(Kind Kind, bool Required = false, string[]? Values = null);

    private static readonly string[] MediaTypes = ["AUDIO", "DOCUMENT", "IMAGE", "OTHER", "VIDEO"];

    private static readonly Dictionary<string, Field> Common = new()
    {
        ["mediaType"] = new(Kind.String, Required: true, Values: MediaTypes),
        ["occurredTimestamp"] = new(Kind.Integer, Required: true),
        ["sessionId"] = new(Kind.String, Required: true),
        ["_hsenc"] = new(Kind.String),
        ["contactId"] = new(Kind.Integer),
        ["contactUtk"] = new(Kind.String),
        ["externalId"] = new(Kind.String),
        ["externalPlayContext"] = new(Kind.String, Values: ["EMAIL", "EXTERNAL_PAGE"]),
        ["mediaBridgeId"] = new(Kind.Integer),
        ["mediaName"] = new(Kind.String),
        ["mediaUrl"] = new(Kind.String),
        ["pageId"] = new(Kind.Integer),
        ["pageName"] = new(Kind.String),
        ["pageUrl"] = new(Kind.String),
    };

    private static readonly Dictionary<string, Dictionary<string, Field>> Endpoints = new()
    {
        ["media-played"] = With(new()
        {
            ["state"] = new(Kind.String, Required: true, Values: ["STARTED", "VIEWED"]),
            ["iframeUrl"] = new(Kind.String),
        }),
        ["media-played-percent"] = With(new()
        {
            ["playedPercent"] = new(Kind.Integer, Required: true),
        }),
        ["attention-span"] = With(new()
        {
            ["rawDataMap"] = new(Kind.IntegerMap, Required: true),
            ["rawDataString"] = new(Kind.String),
            ["derivedValues"] = new(Kind.DerivedValues),
        }),
    };

    public static IEnumerable<string> Kinds => Endpoints.Keys;

    public const string ObjectsPath = "/media-bridge/2026-09/objects";

    /// <summary>The SDK's CreateVideoObjectRequest (and its AUDIO, DOCUMENT, IMAGE, OTHER twins): mediaType and title required.</summary>
    private static readonly Dictionary<string, Field> ObjectFields = new()
    {
        ["mediaType"] = new(Kind.String, Required: true, Values: MediaTypes),
        ["title"] = new(Kind.String, Required: true),
        ["externalId"] = new(Kind.String),
        ["duration"] = new(Kind.Integer),
        ["oembedUrl"] = new(Kind.String),
        ["thumbnailUrl"] = new(Kind.String),
        ["posterUrl"] = new(Kind.String),
        ["detailsPageLink"] = new(Kind.String),
        ["fileUrl"] = new(Kind.String),
        ["transcriptUrl"] = new(Kind.String),
        ["bearerToken"] = new(Kind.String),
    };

    /// <summary>
    /// The first problem of a media object's body, or null. On create, the guide's required <c>hs_title</c> and, for VIDEO
    /// and AUDIO, <c>hs_oembed_url</c>; an update (PATCH) needs only <c>mediaType</c>.
    /// </summary>
    public static string? ValidateObject(string body, bool create)
    {
        if (FieldsProblem(body, ObjectFields, "a media object", out var json) is { } fieldsProblem)
            return fieldsProblem;
        if (!json.TryGetProperty("mediaType", out var mediaType))
            return "mediaType: required";
        if (create && !json.TryGetProperty("title", out _))
            return "title: required";
        if (create && mediaType.GetString() is "VIDEO" or "AUDIO" && !json.TryGetProperty("oembedUrl", out _))
            return "oembedUrl: required for VIDEO and AUDIO media";
        return null;
    }

    /// <summary>The first way the body breaks the schema of the endpoint's event kind, or null when it is a valid event.</summary>
    public static string? Validate(string kind, string body)
    {
        if (!Endpoints.TryGetValue(kind, out var fields))
            return $"no such endpoint: {kind}";
        if (FieldsProblem(body, fields, kind, out var json) is { } fieldsProblem)
            return fieldsProblem;

        foreach (var (name, field) in fields)
        {
            if (field.Required && !json.TryGetProperty(name, out _))
                return $"{name}: required for {kind}";
        }

        // The media bridge guide: a contact, a media and, when a page is named, which one.
        if (!json.TryGetProperty("contactId", out _) && !json.TryGetProperty("contactUtk", out _))
            return "contactId or contactUtk is required";
        if (!json.TryGetProperty("mediaBridgeId", out _) && !json.TryGetProperty("externalId", out _))
            return "mediaBridgeId or externalId is required";
        if (!json.TryGetProperty("pageId", out _) && json.TryGetProperty("pageName", out _) != json.TryGetProperty("pageUrl", out _))
            return "a page that is not a HubSpot page needs both pageName and pageUrl";
        if (kind == "media-played-percent" && json.GetProperty("playedPercent").GetInt32() is not (0 or 25 or 50 or 75 or 100))
            return "playedPercent: must be 0, 25, 50, 75 or 100";
        return null;
    }

    /// <summary>The body is a JSON object whose every field is one of <paramref name="fields"/>, of its type; else the first problem.</summary>
    private static string? FieldsProblem(string body, Dictionary<string, Field> fields, string what, out JsonElement json)
    {
        json = default;
        try
        {
            json = JsonDocument.Parse(body).RootElement.Clone();
        }
        catch (JsonException)
        {
            return "the body is not JSON";
        }

        if (json.ValueKind != JsonValueKind.Object)
            return "the body must be a JSON object";
        foreach (var property in json.EnumerateObject())
        {
            if (!fields.TryGetValue(property.Name, out var field))
                return $"{property.Name}: unknown field for {what}";
            if (TypeProblem(property.Value, field) is { } problem)
                return $"{property.Name}: {problem}";
        }

        return null;
    }

    private static Dictionary<string, Field> With(Dictionary<string, Field> own) =>
        Common.Concat(own).ToDictionary(f => f.Key, f => f.Value);

    private static string? TypeProblem(JsonElement value, Field field) => field.Kind switch
    {
        Kind.String when value.ValueKind != JsonValueKind.String => "must be a string",
        Kind.String when field.Values is { } values && !values.Contains(value.GetString()) => $"must be one of {string.Join(", ", field.Values)}",
        Kind.Integer when value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out _) => "must be an integer",
        Kind.Number when value.ValueKind != JsonValueKind.Number => "must be a number",
        Kind.IntegerMap when value.ValueKind != JsonValueKind.Object
            || value.EnumerateObject().Any(entry => entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out _)) => "must be an object of integers",
        Kind.DerivedValues => DerivedValuesProblem(value),
        _ => null,
    };

    /// <summary>totalPercentPlayed (a number) and totalSecondsPlayed (an integer), both required, nothing else.</summary>
    private static string? DerivedValuesProblem(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            return "must be an object";
        var names = value.EnumerateObject().Select(p => p.Name).Order().ToList();
        if (!names.SequenceEqual(["totalPercentPlayed", "totalSecondsPlayed"]))
            return "must hold exactly totalPercentPlayed and totalSecondsPlayed";
        if (value.GetProperty("totalPercentPlayed").ValueKind != JsonValueKind.Number)
            return "totalPercentPlayed must be a number";
        return value.GetProperty("totalSecondsPlayed") is { ValueKind: JsonValueKind.Number } seconds && seconds.TryGetInt32(out _)
            ? null
            : "totalSecondsPlayed must be an integer";
    }
}
