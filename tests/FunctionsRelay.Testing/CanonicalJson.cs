using System.Text.Json.Nodes;

namespace FunctionsRelay.Testing;

/// <summary>JSON with every object's properties in name order, so that equal documents compare equal as text.</summary>
public static class CanonicalJson
{
    public static string Of(string json) => Sorted(JsonNode.Parse(json))?.ToJsonString() ?? "null";

    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject obj => new JsonObject(obj.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray array => new JsonArray(array.Select(Sorted).ToArray()),
        _ => node?.DeepClone(),
    };
}
