using System.Text.Json;

namespace FunctionsRelay.Domain.HubSpot;

/// <summary>One event of a HubSpot webhook request: a contact of a portal deleted, among others the relay ignores.</summary>
public sealed record WebhookEvent(long PortalId, long ObjectId, string SubscriptionType, long? AppId);

/// <summary>
/// The body HubSpot POSTs to a webhook: an array of events, each with <c>eventId</c>, <c>subscriptionId</c>,
/// <c>portalId</c>, <c>appId</c>, <c>occurredAt</c>, <c>subscriptionType</c>, <c>attemptNumber</c> and <c>objectId</c>
/// (docs/hubspot.md "Privacy deletions").
/// </summary>
public static class WebhookEvents
{
    /// <summary>A deletion of a contact for privacy's sake (GDPR), and the plain deletion HubSpot sends with it.</summary>
    public static readonly IReadOnlySet<string> ContactDeletions = new HashSet<string>(StringComparer.Ordinal) { "contact.privacyDeletion", "contact.deletion" };

    /// <summary>The events, or what is wrong with the body (naming the field, never its value).</summary>
    public static (IReadOnlyList<WebhookEvent> Events, string? Problem) Parse(ReadOnlySpan<byte> body)
    {
        try
        {
            using var document = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
            if (document.RootElement.ValueKind != JsonValueKind.Array)
                return ([], "body: must be a JSON array of events");
            var events = new List<WebhookEvent>();
            var index = 0;
            foreach (var item in document.RootElement.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object)
                    return ([], $"[{index}]: must be an object");
                if (!TryLong(item, "portalId", out var portalId) || portalId <= 0)
                    return ([], $"[{index}].portalId: must be a positive integer");
                if (!TryLong(item, "objectId", out var objectId) || objectId <= 0)
                    return ([], $"[{index}].objectId: must be a positive integer");
                if (!item.TryGetProperty("subscriptionType", out var type) || type.ValueKind != JsonValueKind.String)
                    return ([], $"[{index}].subscriptionType: must be a string");
                events.Add(new WebhookEvent(portalId, objectId, type.GetString()!, TryLong(item, "appId", out var appId) ? appId : null));
                index++;
            }

            return (events, null);
        }
        catch (JsonException)
        {
            return ([], "body: is not JSON");
        }
    }

    private static bool TryLong(JsonElement item, string name, out long value)
    {
        value = 0;
        return item.TryGetProperty(name, out var property) && property.ValueKind == JsonValueKind.Number && property.TryGetInt64(out value);
    }
}
