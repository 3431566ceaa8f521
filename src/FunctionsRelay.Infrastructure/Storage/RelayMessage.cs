using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.Json.Serialization;
using FunctionsRelay.Domain;
using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.Infrastructure.Storage;

public enum RelayMessageKind
{
    /// <summary>Beacons of one session, to merge.</summary>
    Beacons,

    /// <summary>Check whether the session has been idle long enough to close; scheduled with a visibility delay.</summary>
    CloseCheck,

    /// <summary>Deliver the session's outbox again, after a 429, a HubSpot outage or a missing token.</summary>
    Deliver,

    /// <summary>
    /// Close and delivery checks of many sessions that waited in the schedule table and are due now, in one message
    /// (<see cref="RelayMessage.Checks"/>; its portal and session are the first check's).
    /// </summary>
    Checks,

    /// <summary>
    /// Erase what the relay keeps of these contacts of the portal (<see cref="RelayMessage.Contacts"/>): HubSpot said they
    /// were deleted (a privacy deletion). Its session id names nothing.
    /// </summary>
    Forget,
}

/// <summary>
/// A message on the beacon queue. <see cref="DueAt"/> (ms, relay clock) is when a scheduled message was meant to fire;
/// <see cref="Reported"/>, what the player's SDK says the session played, to log beside the relay's own figure;
/// <see cref="ReceivedAt"/> (ms, relay clock), when the relay received a message's beacons; <see cref="Source"/>, who
/// sent them: a keyed hash of the client's address (<see cref="Protection.Pseudonyms"/>), or <c>trusted</c> for a
/// backend's secret-keyed request.
/// </summary>
public sealed record RelayMessage(
    RelayMessageKind Kind,
    long PortalId,
    string SessionId,
    IReadOnlyList<Beacon>? Beacons = null,
    long DueAt = 0,
    int Attempt = 0,
    PlaybackSummary? Reported = null,
    long ReceivedAt = 0,
    IReadOnlyList<RelayMessage>? Checks = null,
    string? Source = null,
    IReadOnlyList<long>? Contacts = null)
{
    /// <summary>The session id of a <see cref="RelayMessageKind.Forget"/> message, which is of no session.</summary>
    public const string NoSession = "-";

    /// <summary>Erase what the relay keeps of the portal's contacts (a privacy deletion); <paramref name="sweep"/>: the second pass, a minute later.</summary>
    public static RelayMessage Forget(long portalId, IReadOnlyList<long> contactIds, int sweep = 0) =>
        new(RelayMessageKind.Forget, portalId, NoSession, Attempt: sweep, Contacts: contactIds);

    /// <summary>The <see cref="Source"/> of a backend's secret-keyed request: vouched for, not counted by address.</summary>
    public const string TrustedSource = "trusted";

    private static readonly JsonTypeInfo<RelayMessage> TypeInfo = CompactJson.TypeInfo(RelayMessageJsonContext.Default.RelayMessage);

    public byte[] ToUtf8Json() => JsonSerializer.SerializeToUtf8Bytes(this, TypeInfo);

    /// <summary>Reads a message; anything that is not one throws, so that the queue retries it and then moves it to the poison queue.</summary>
    public static RelayMessage Parse(BinaryData body)
    {
        var message = JsonSerializer.Deserialize(body, TypeInfo);
        if (message is null || message.PortalId <= 0 || string.IsNullOrEmpty(message.SessionId)
            || (message.Kind == RelayMessageKind.Checks) != (message.Checks is { Count: > 0 })
            || message.Checks?.Any(check => check.Kind is not (RelayMessageKind.CloseCheck or RelayMessageKind.Deliver) || check.PortalId <= 0 || string.IsNullOrEmpty(check.SessionId)) == true
            || (message.Kind == RelayMessageKind.Forget) != (message.Contacts is { Count: > 0 })
            || message.Contacts?.Any(id => id <= 0) == true)
            throw new InvalidDataException("the queue message is not a relay message");
        return message;
    }

    /// <summary>The message, or null for a body that is none (what a poison queue may hold).</summary>
    public static RelayMessage? TryParse(BinaryData body)
    {
        try
        {
            return Parse(body);
        }
        catch (Exception ex) when (ex is InvalidDataException or JsonException or FormatException)
        {
            return null;
        }
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(RelayMessage))]
internal sealed partial class RelayMessageJsonContext : JsonSerializerContext;
