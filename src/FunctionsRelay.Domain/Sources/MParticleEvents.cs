using System.Globalization;
using System.Text.Json;
using FunctionsRelay.Domain.Beacons;
using static FunctionsRelay.Domain.Sources.JsonFields;

namespace FunctionsRelay.Domain.Sources;

/// <summary>
/// mParticle's media events (the Media SDKs' custom events of type <c>media</c>), one at a time as a page's player posts
/// them, or in the event batches mParticle's Webhook output posts for a source (<see cref="ReadBatches"/>), whose viewer
/// the batch names. Other events are ignored and counted; a Media Session Summary is kept as the player's own figures.
/// </summary>
/// <param name="sourcePortalId">For a source's batches: the portal of its secret key, which every event belongs to.</param>
internal sealed class MParticleEvents(BeaconReading reading, long? sourcePortalId)
{
    private readonly JsonFields _fields = reading.Fields;

    private BeaconLimits Limits => _fields.Limits;

    /// <summary>The viewer the source batch being read names, for each of its media events.</summary>
    private ContactInfo? _batchViewer;

    public void ReadBatches(JsonElement root)
    {
        if (root.ValueKind == JsonValueKind.Object)
        {
            ReadSourceBatch(root, "");
            return;
        }

        if (root.ValueKind != JsonValueKind.Array)
        {
            _fields.Error("body", $"must be an mParticle event batch {{\"events\":[...]}} or an array of batches (got {Describe(root)})");
            return;
        }

        var count = root.GetArrayLength();
        if (count == 0)
            _fields.Error("body", "must hold at least one batch");
        var index = 0;
        foreach (var batch in root.EnumerateArray())
            ReadSourceBatch(batch, $"[{(index++).ToString(CultureInfo.InvariantCulture)}]");
    }

    private void ReadSourceBatch(JsonElement batch, string path)
    {
        if (batch.ValueKind != JsonValueKind.Object)
        {
            _fields.Error(Name(path, ""), $"must be an mParticle event batch object (got {Describe(batch)})");
            return;
        }

        var beaconsBefore = reading.Beacons.Count + reading.Summaries.Count;
        _batchViewer = BatchViewer(batch, path);
        var eventsPath = Name(path, "events");
        if (batch.TryGetProperty("events"u8, out var events) && events.ValueKind != JsonValueKind.Null)
        {
            if (events.ValueKind != JsonValueKind.Array)
            {
                _fields.Error(eventsPath, $"must be an array (got {Describe(events)})");
            }
            else if (!reading.Trusted && reading.ItemsRead + events.GetArrayLength() > Limits.MaxBeaconsPerRequest)
            {
                _fields.Error(eventsPath, $"brings the request to more than {Limits.MaxBeaconsPerRequest} events; at most {Limits.MaxBeaconsPerRequest} are accepted per request");
            }
            else
            {
                var index = 0;
                foreach (var item in events.EnumerateArray())
                {
                    var itemPath = $"{eventsPath}[{(index++).ToString(CultureInfo.InvariantCulture)}]";
                    if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("event_type"u8, out _))
                        _fields.Error(itemPath, "must be an mParticle event: an object with event_type and data");
                    else
                        ReadEvent(item, itemPath);
                }
            }
        }

        if (reading.Beacons.Count + reading.Summaries.Count == beaconsBefore)
            reading.BatchesWithoutMedia++;
        _batchViewer = null;
    }

    /// <summary>
    /// Who a batch says the viewer is: <c>user_attributes.hubspot_contact_id</c> (the platform knows the HubSpot contact),
    /// else an email (<c>user_identities</c> <c>email</c>, else <c>customer_id</c> where it is an email), and a
    /// <c>hubspotutk</c> user attribute. <c>user_identities</c> is an object as the Events API takes it, or an array of
    /// <c>{identity_type, identity}</c> as outputs send it.
    /// </summary>
    private ContactInfo? BatchViewer(JsonElement batch, string path)
    {
        string? email = null, customerId = null;
        var identitiesPath = Name(path, "user_identities");
        if (batch.TryGetProperty("user_identities"u8, out var identities))
        {
            switch (identities.ValueKind)
            {
                case JsonValueKind.Object:
                    email = _fields.Email(identities, identitiesPath, "email"u8);
                    customerId = _fields.OptionalString(identities, identitiesPath, "customer_id"u8);
                    break;
                case JsonValueKind.Array:
                    var index = 0;
                    foreach (var identity in identities.EnumerateArray())
                    {
                        var identityPath = $"{identitiesPath}[{(index++).ToString(CultureInfo.InvariantCulture)}]";
                        if (identity.ValueKind != JsonValueKind.Object)
                        {
                            _fields.Error(identityPath, "must be an object with identity_type and identity");
                            continue;
                        }

                        var type = _fields.OptionalString(identity, identityPath, "identity_type"u8);
                        if (type == "email")
                            email = _fields.Email(identity, identityPath, "identity"u8);
                        else if (type == "customer_id")
                            customerId = _fields.OptionalString(identity, identityPath, "identity"u8);
                    }

                    break;
                case JsonValueKind.Null:
                    break;
                default:
                    // Not the value itself: it may be an email.
                    _fields.Error(identitiesPath, $"must be an object or an array of identities (got a {identities.ValueKind.ToString().ToLowerInvariant()})");
                    break;
            }
        }

        email ??= customerId is not null && IsEmail(customerId) ? customerId.Trim().ToLowerInvariant() : null;
        long? contactId = null;
        string? utk = null;
        var attributesPath = Name(path, "user_attributes");
        if (batch.TryGetProperty("user_attributes"u8, out var attributes) && attributes.ValueKind == JsonValueKind.Object)
        {
            contactId = _fields.OptionalInteger(attributes, attributesPath, "hubspot_contact_id"u8, min: 1);
            utk = _fields.OptionalString(attributes, attributesPath, "hubspotutk"u8);
        }
        else if (attributes.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
        {
            _fields.Error(attributesPath, $"must be an object (got {Describe(attributes)})");
        }

        return contactId is null && email is null && utk is null ? null : new ContactInfo(contactId, utk, null, email);
    }

    public void ReadEvent(JsonElement item, string path)
    {
        if (!IsMediaCustomEvent(item, out var data))
        {
            reading.Ignored++;
            return;
        }

        var eventName = data.TryGetProperty("event_name"u8, out var nameElement) && nameElement.ValueKind == JsonValueKind.String
            ? TextOf(nameElement)
            : null;
        BeaconEvent? beaconEvent = eventName switch
        {
            "Media Session Start" => BeaconEvent.Start,
            "Play" => BeaconEvent.Play,
            "Pause" => BeaconEvent.Pause,
            "Update Playhead Position" => BeaconEvent.Heartbeat,
            "Seek Start" => BeaconEvent.SeekStart,
            "Seek End" => BeaconEvent.Seek,
            "Media Content End" => BeaconEvent.Ended,
            "Media Session End" => BeaconEvent.End,
            _ => null,
        };
        if (eventName == "Media Session Summary" && SummaryOf(data) is { } summary)
        {
            reading.Summaries.Add(summary);
            return;
        }

        if (beaconEvent is null)
        {
            // Ads, buffering, QoS, segments and summaries without the figures say nothing about what was watched.
            reading.Ignored++;
            return;
        }

        var dataPath = Name(path, "data");
        var errorsBefore = _fields.Errors.Count;
        var ts = _fields.Timestamp(data, dataPath, "timestamp_unixtime_ms"u8, required: true);
        var attributesPath = Name(dataPath, "custom_attributes");
        if (!data.TryGetProperty("custom_attributes"u8, out var attributes) || attributes.ValueKind != JsonValueKind.Object)
        {
            _fields.Error(attributesPath, "is required: an object with media_session_id and the media attributes");
            return;
        }

        var sessionId = _fields.SessionId(attributes, attributesPath, "media_session_id"u8);
        long? portalId = attributes.TryGetProperty("hubspot_portal_id"u8, out _)
            ? _fields.RequiredPositiveInteger(attributes, attributesPath, "hubspot_portal_id"u8)
            : sourcePortalId ?? Limits.DefaultPortalId;
        if (portalId is null)
            _fields.Error(Name(attributesPath, "hubspot_portal_id"), "is required (or configure Beacons__DefaultPortalId)");
        else if (sourcePortalId is { } keyPortal && portalId != keyPortal)
            _fields.Error(Name(attributesPath, "hubspot_portal_id"), $"is {portalId}, but the source key is portal {keyPortal}'s: a source posts only its own portal's events");

        // The web Media SDK leaves playhead_position out while it is 0 or not yet known (a first Play at 0), and
        // seek_position out when a seek goes to 0 (a restart); a Seek End's playhead is where the seek began.
        var duration = _fields.Milliseconds(attributes, attributesPath, "content_duration"u8, required: false);
        var live = duration is 0 || attributes.TryGetProperty("stream_type"u8, out var streamType) && streamType.ValueKind == JsonValueKind.String
            && streamType.ValueEquals("LiveStream"u8);
        var playhead = _fields.Milliseconds(attributes, attributesPath, "playhead_position"u8, required: false);
        double? position, from = null;
        switch (beaconEvent)
        {
            case BeaconEvent.Seek:
                position = _fields.Milliseconds(attributes, attributesPath, "seek_position"u8, required: false) ?? 0;
                from = playhead;
                break;
            case BeaconEvent.Start or BeaconEvent.SeekStart:
                position = playhead;
                break;
            case BeaconEvent.Ended:
                position = playhead ?? (live ? 0 : duration) ?? 0;
                break;
            default:
                position = playhead ?? 0;
                break;
        }

        var contentId = _fields.OptionalString(attributes, attributesPath, "content_id"u8);
        var title = _fields.OptionalString(attributes, attributesPath, "content_title"u8);
        var contentType = _fields.OptionalString(attributes, attributesPath, "content_type"u8);
        var utk = _fields.OptionalString(attributes, attributesPath, "hubspotutk"u8);

        if (_fields.Errors.Count == errorsBefore)
        {
            var media = contentId is null && title is null ? null : new MediaInfo(contentId, null, title, null, MediaTypeOfContentType(contentType), live);
            var viewer = _batchViewer;
            var contact = utk is null ? viewer : (viewer ?? new ContactInfo(null, null)) with { Utk = utk };
            reading.Beacons.Add(new Beacon(portalId!.Value, sessionId!, beaconEvent.Value, ts!.Value, null, position, from, live ? null : duration, media, contact));
        }
    }

    /// <summary>
    /// A Media Session Summary's figures (web Media SDK: <c>media_content_time_spent</c> in ms, <c>media_content_complete</c>);
    /// null when it lacks what a cross-check needs. A summary is never a reason to refuse a batch.
    /// </summary>
    private PlaybackSummary? SummaryOf(JsonElement data)
    {
        if (!data.TryGetProperty("custom_attributes"u8, out var attributes) || attributes.ValueKind != JsonValueKind.Object
            || !attributes.TryGetProperty("media_session_id"u8, out var session) || session.ValueKind != JsonValueKind.String
            || TextOf(session) is not { Length: > 0 } sessionId || sessionId.Length > Limits.MaxSessionIdLength || ContainsControlCharacter(sessionId)
            || !attributes.TryGetProperty("media_content_time_spent"u8, out var spent) || !TryReadDouble(spent, out var milliseconds)
            || !double.IsFinite(milliseconds) || milliseconds < 0)
        {
            return null;
        }

        long? portalId = attributes.TryGetProperty("hubspot_portal_id"u8, out var portal)
            ? TryReadInt64(portal, out var parsed) && parsed > 0 ? parsed : null
            : sourcePortalId ?? Limits.DefaultPortalId;
        if (sourcePortalId is { } keyPortal && portalId != keyPortal)
            return null;
        bool? complete = attributes.TryGetProperty("media_content_complete"u8, out var done) ? done.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.String when bool.TryParse(TextOf(done), out var flag) => flag,
            _ => null,
        } : null;
        return portalId is { } id ? new PlaybackSummary(id, sessionId, milliseconds / 1000, complete) : null;
    }

    private static bool IsMediaCustomEvent(JsonElement item, out JsonElement data)
    {
        data = default;
        return item.GetProperty("event_type"u8) is { ValueKind: JsonValueKind.String } type
            && type.ValueEquals("custom_event"u8)
            && item.TryGetProperty("data"u8, out data)
            && data.ValueKind == JsonValueKind.Object
            && data.TryGetProperty("custom_event_type"u8, out var customType)
            && customType.ValueKind == JsonValueKind.String
            && string.Equals(TextOf(customType), "media", StringComparison.OrdinalIgnoreCase);
    }

    private static MediaType? MediaTypeOfContentType(string? contentType) => contentType?.ToUpperInvariant() switch
    {
        null => null,
        "VIDEO" => MediaType.Video,
        "AUDIO" => MediaType.Audio,
        _ => MediaType.Other,
    };
}
