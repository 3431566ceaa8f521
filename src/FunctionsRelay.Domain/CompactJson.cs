using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace FunctionsRelay.Domain;

/// <summary>
/// JSON written as small as it validly can be: non-ASCII text as UTF-8 rather than <c>\uXXXX</c>, and <c>&lt;</c>, <c>&amp;</c>,
/// quotes and the like unescaped (the relay's JSON goes to queues, tables and HubSpot's API, never into a page). The
/// default encoder writes up to 6 bytes for such a character, which is what storage limits are counted against.
/// </summary>
public static class CompactJson
{
    public static JsonTypeInfo<T> TypeInfo<T>(JsonTypeInfo<T> generated) =>
        (JsonTypeInfo<T>)new JsonSerializerOptions(generated.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }.GetTypeInfo(typeof(T));
}
