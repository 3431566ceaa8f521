using System.Globalization;
using System.Text.Json;
using System.Text.Unicode;

namespace FunctionsRelay.Domain.Beacons;

/// <summary>
/// Turns a request body into validated beacons. It takes one native beacon, an array of them, <c>{"beacons":[...]}</c>,
/// one mParticle media event or an mParticle batch <c>{"events":[...]}</c>; arrays may mix both kinds.
/// A body with any invalid beacon is rejected whole, every error naming its field.
/// </summary>
public sealed class BeaconParser(BeaconLimits limits)
{
    /// <summary>Timestamps before 2000-01-01 are almost always seconds sent where milliseconds belong.</summary>
    private const long EarliestTs = 946_684_800_000;

    private const int MaxErrorsReported = 50;

    private const int MaxEmailLength = 254;

    /// <summary>One @ with text before it and a dotted domain after it, no spaces, controls or address-list punctuation.</summary>
    private static bool IsEmail(string text)
    {
        var at = text.IndexOf('@');
        return at > 0 && at == text.LastIndexOf('@') && text.IndexOf('.', at) is var dot && dot > at + 1 && dot < text.Length - 1
            && !text.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '<' or '>' or ',' or ';' or '"' or '(' or ')' or '[' or ']' or '\\' or '/');
    }

    /// <param name="trusted">
    /// A backend's request (it shows a secret source key, checked after parsing): bounded by
    /// <see cref="BeaconLimits.MaxSourceBodyBytes"/> alone, not by what one page's players send.
    /// </param>
    public BeaconBatch Parse(ReadOnlyMemory<byte> body, DateTimeOffset now, bool trusted = false)
    {
        if (Open(body, "send a beacon, an array of beacons or {\"beacons\":[...]}", trusted, out var rejected) is not { } document)
            return rejected!;

        using (document)
        {
            var context = new ParseContext(limits, now.ToUnixTimeMilliseconds() + (long)limits.MaxFutureSkew.TotalMilliseconds, trusted: trusted);
            var root = document.RootElement;
            switch (root.ValueKind)
            {
                case JsonValueKind.Array:
                    context.ReadList(root, "beacons");
                    break;
                case JsonValueKind.Object when root.TryGetProperty("beacons"u8, out var beacons):
                    context.ReadList(beacons, "beacons");
                    break;
                case JsonValueKind.Object when root.TryGetProperty("events"u8, out var events) && !root.TryGetProperty("event"u8, out _):
                    context.ReadList(events, "events");
                    break;
                case JsonValueKind.Object:
                    context.ReadItem(root, "");
                    break;
                default:
                    context.Error("body", "must be a beacon object, an array of beacons, {\"beacons\":[...]} or an mParticle {\"events\":[...]} batch");
                    break;
            }

            return context.ToBatch();
        }
    }

    /// <summary>
    /// Parses what mParticle's Webhook output posts to a source of <paramref name="portalId"/> (its secret key says which):
    /// one event batch or an array of them, in mParticle's JSON batch schema. Each batch's media events become beacons of
    /// that portal naming the viewer the batch names (<c>user_attributes.hubspot_contact_id</c>, an email in
    /// <c>user_identities</c>, a <c>hubspotutk</c>); its other events, and batches without events, are ignored and counted.
    /// </summary>
    public BeaconBatch ParseMParticleBatches(ReadOnlyMemory<byte> body, DateTimeOffset now, long portalId)
    {
        if (Open(body, "send an mParticle event batch {\"events\":[...]} or an array of batches", trusted: true, out var rejected) is not { } document)
            return rejected!;

        using (document)
        {
            var context = new ParseContext(limits, now.ToUnixTimeMilliseconds() + (long)limits.MaxFutureSkew.TotalMilliseconds, portalId, trusted: true);
            context.ReadSourceBatches(document.RootElement);
            return context.ToBatch();
        }
    }

    private JsonDocument? Open(ReadOnlyMemory<byte> body, string whatToSend, bool trusted, out BeaconBatch? rejected)
    {
        rejected = null;
        var maxBytes = limits.MaxBodyBytesFor(trusted);
        if (body.Length == 0)
            rejected = BeaconBatch.Rejected(new BeaconError("body", $"is empty; {whatToSend}"));
        else if (body.Length > maxBytes)
            rejected = BeaconBatch.Rejected(new BeaconError("body", $"is {body.Length} bytes; at most {maxBytes} are accepted"));
        else if (!Utf8.IsValid(body.Span))
            rejected = BeaconBatch.Rejected(new BeaconError("body", "is not valid UTF-8"));
        if (rejected is not null)
            return null;

        try
        {
            return JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = limits.MaxJsonDepth });
        }
        catch (JsonException ex)
        {
            rejected = BeaconBatch.Rejected(new BeaconError("body", $"is not valid JSON ({DescribeJsonError(ex)})"));
            return null;
        }
    }

    private static string DescribeJsonError(JsonException ex) =>
        ex.LineNumber is { } line && ex.BytePositionInLine is { } column
            ? $"line {line + 1}, byte {column + 1}: {FirstSentence(ex.Message)}"
            : FirstSentence(ex.Message);

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message.TrimEnd('.') : message[..end];
    }

    /// <param name="sourcePortalId">For a source's batches: the portal of its secret key, which every event belongs to.</param>
    /// <param name="trusted">A backend's request: not held to a page's counts of beacons and sessions.</param>
    private sealed class ParseContext(BeaconLimits limits, long latestTs, long? sourcePortalId = null, bool trusted = false)
    {
        private readonly List<Beacon> _beacons = [];
        private readonly List<PlaybackSummary> _summaries = [];
        private readonly List<BeaconError> _errors = [];
        private int _ignored;
        private int _batchesWithoutMedia;

        /// <summary>The viewer the source batch being read names, for each of its media events.</summary>
        private ContactInfo? _batchViewer;

        public BeaconBatch ToBatch()
        {
            if (_errors.Count == 0 && !trusted && SessionCount() is var sessions && sessions > limits.MaxSessionsPerRequest)
                Error("beacons", $"name {sessions} sessions; at most {limits.MaxSessionsPerRequest} are accepted in one request (a page's players send one session each)");
            return _errors.Count > 0
                ? new BeaconBatch([], 0, _errors)
                : new BeaconBatch(_beacons, _ignored, []) { Summaries = _summaries, BatchesWithoutMedia = _batchesWithoutMedia };
        }

        public void ReadSourceBatches(JsonElement root)
        {
            if (root.ValueKind == JsonValueKind.Object)
            {
                ReadSourceBatch(root, "");
                return;
            }

            if (root.ValueKind != JsonValueKind.Array)
            {
                Error("body", $"must be an mParticle event batch {{\"events\":[...]}} or an array of batches (got {Describe(root)})");
                return;
            }

            var count = root.GetArrayLength();
            if (count == 0)
                Error("body", "must hold at least one batch");
            var index = 0;
            foreach (var batch in root.EnumerateArray())
                ReadSourceBatch(batch, $"[{(index++).ToString(CultureInfo.InvariantCulture)}]");
        }

        private void ReadSourceBatch(JsonElement batch, string path)
        {
            if (batch.ValueKind != JsonValueKind.Object)
            {
                Error(Name(path, ""), $"must be an mParticle event batch object (got {Describe(batch)})");
                return;
            }

            var beaconsBefore = _beacons.Count + _summaries.Count;
            _batchViewer = BatchViewer(batch, path);
            var eventsPath = Name(path, "events");
            if (batch.TryGetProperty("events"u8, out var events) && events.ValueKind != JsonValueKind.Null)
            {
                if (events.ValueKind != JsonValueKind.Array)
                {
                    Error(eventsPath, $"must be an array (got {Describe(events)})");
                }
                else if (!trusted && _ignored + _beacons.Count + _summaries.Count + events.GetArrayLength() > limits.MaxBeaconsPerRequest)
                {
                    Error(eventsPath, $"brings the request to more than {limits.MaxBeaconsPerRequest} events; at most {limits.MaxBeaconsPerRequest} are accepted per request");
                }
                else
                {
                    var index = 0;
                    foreach (var item in events.EnumerateArray())
                    {
                        var itemPath = $"{eventsPath}[{(index++).ToString(CultureInfo.InvariantCulture)}]";
                        if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("event_type"u8, out _))
                            Error(itemPath, "must be an mParticle event: an object with event_type and data");
                        else
                            ReadMParticleEvent(item, itemPath);
                    }
                }
            }

            if (_beacons.Count + _summaries.Count == beaconsBefore)
                _batchesWithoutMedia++;
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
                        email = Email(identities, identitiesPath, "email"u8);
                        customerId = OptionalString(identities, identitiesPath, "customer_id"u8);
                        break;
                    case JsonValueKind.Array:
                        var index = 0;
                        foreach (var identity in identities.EnumerateArray())
                        {
                            var identityPath = $"{identitiesPath}[{(index++).ToString(CultureInfo.InvariantCulture)}]";
                            if (identity.ValueKind != JsonValueKind.Object)
                            {
                                Error(identityPath, "must be an object with identity_type and identity");
                                continue;
                            }

                            var type = OptionalString(identity, identityPath, "identity_type"u8);
                            if (type == "email")
                                email = Email(identity, identityPath, "identity"u8);
                            else if (type == "customer_id")
                                customerId = OptionalString(identity, identityPath, "identity"u8);
                        }

                        break;
                    case JsonValueKind.Null:
                        break;
                    default:
                        // Not the value itself: it may be an email.
                        Error(identitiesPath, $"must be an object or an array of identities (got a {identities.ValueKind.ToString().ToLowerInvariant()})");
                        break;
                }
            }

            email ??= customerId is not null && IsEmail(customerId) ? customerId.Trim().ToLowerInvariant() : null;
            long? contactId = null;
            string? utk = null;
            var attributesPath = Name(path, "user_attributes");
            if (batch.TryGetProperty("user_attributes"u8, out var attributes) && attributes.ValueKind == JsonValueKind.Object)
            {
                contactId = OptionalInteger(attributes, attributesPath, "hubspot_contact_id"u8, min: 1);
                utk = OptionalString(attributes, attributesPath, "hubspotutk"u8);
            }
            else if (attributes.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
            {
                Error(attributesPath, $"must be an object (got {Describe(attributes)})");
            }

            return contactId is null && email is null && utk is null ? null : new ContactInfo(contactId, utk, null, email);
        }

        /// <summary>The sessions the request names: those of its beacons and those of its players' summaries (each would be a session and a queue message of its own).</summary>
        private int SessionCount()
        {
            if (_beacons.Count + _summaries.Count <= limits.MaxSessionsPerRequest)
                return _beacons.Count + _summaries.Count;
            var sessions = new HashSet<(long, string)>();
            foreach (var beacon in _beacons)
                sessions.Add((beacon.PortalId, beacon.SessionId));
            foreach (var summary in _summaries)
                sessions.Add((summary.PortalId, summary.SessionId));
            return sessions.Count;
        }

        public void Error(string field, string message)
        {
            if (_errors.Count < MaxErrorsReported)
                _errors.Add(new BeaconError(field, message));
        }

        public void ReadList(JsonElement list, string name)
        {
            if (list.ValueKind != JsonValueKind.Array)
            {
                Error(name, "must be an array");
                return;
            }

            var count = list.GetArrayLength();
            if (count == 0)
            {
                Error(name, "must hold at least one beacon");
                return;
            }

            if (!trusted && count > limits.MaxBeaconsPerRequest)
            {
                Error(name, $"holds {count} items; at most {limits.MaxBeaconsPerRequest} are accepted per request");
                return;
            }

            var index = 0;
            foreach (var item in list.EnumerateArray())
            {
                ReadItem(item, $"{name}[{index.ToString(CultureInfo.InvariantCulture)}]");
                index++;
            }
        }

        public void ReadItem(JsonElement item, string path)
        {
            if (item.ValueKind != JsonValueKind.Object)
            {
                Error(Name(path, ""), "must be an object");
                return;
            }

            if (item.TryGetProperty("event_type"u8, out _))
                ReadMParticleEvent(item, path);
            else
                ReadNativeBeacon(item, path);
        }

        private void ReadNativeBeacon(JsonElement item, string path)
        {
            var errorsBefore = _errors.Count;
            var portalId = RequiredPositiveInteger(item, path, "portalId"u8);
            var sessionId = SessionId(item, path, "sessionId"u8);
            var seq = OptionalInteger(item, path, "seq"u8, min: 0);
            var beaconEvent = Event(item, path);
            var ts = Timestamp(item, path, "ts"u8, required: true);

            double? position = null;
            if (beaconEvent is not BeaconEvent.Start || item.TryGetProperty("position"u8, out _))
                position = Seconds(item, path, "position"u8, required: beaconEvent is not BeaconEvent.Start);

            double? from = null;
            if (item.TryGetProperty("from"u8, out _))
            {
                if (beaconEvent is BeaconEvent.Seek)
                    from = Seconds(item, path, "from"u8, required: false);
                else if (beaconEvent is not null)
                    Error(Name(path, "from"), "is only allowed with event \"seek\"");
            }

            var duration = Duration(item, path, "duration"u8);
            var media = Media(item, path);
            var contact = Contact(item, path);
            var page = Page(item, path);
            var context = Context(item, path);

            if (_errors.Count == errorsBefore)
            {
                _beacons.Add(new Beacon(portalId!.Value, sessionId!, beaconEvent!.Value, ts!.Value, seq, position, from, duration, media, contact, page, context));
            }
        }

        private void ReadMParticleEvent(JsonElement item, string path)
        {
            if (!IsMediaCustomEvent(item, out var data))
            {
                _ignored++;
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
                _summaries.Add(summary);
                return;
            }

            if (beaconEvent is null)
            {
                // Ads, buffering, QoS, segments and summaries without the figures say nothing about what was watched.
                _ignored++;
                return;
            }

            var dataPath = Name(path, "data");
            var errorsBefore = _errors.Count;
            var ts = Timestamp(data, dataPath, "timestamp_unixtime_ms"u8, required: true);
            var attributesPath = Name(dataPath, "custom_attributes");
            if (!data.TryGetProperty("custom_attributes"u8, out var attributes) || attributes.ValueKind != JsonValueKind.Object)
            {
                Error(attributesPath, "is required: an object with media_session_id and the media attributes");
                return;
            }

            var sessionId = SessionId(attributes, attributesPath, "media_session_id"u8);
            long? portalId = attributes.TryGetProperty("hubspot_portal_id"u8, out _)
                ? RequiredPositiveInteger(attributes, attributesPath, "hubspot_portal_id"u8)
                : sourcePortalId ?? limits.DefaultPortalId;
            if (portalId is null)
                Error(Name(attributesPath, "hubspot_portal_id"), "is required (or configure Beacons__DefaultPortalId)");
            else if (sourcePortalId is { } keyPortal && portalId != keyPortal)
                Error(Name(attributesPath, "hubspot_portal_id"), $"is {portalId}, but the source key is portal {keyPortal}'s: a source posts only its own portal's events");

            // The web Media SDK leaves playhead_position out while it is 0 or not yet known (a first Play at 0), and
            // seek_position out when a seek goes to 0 (a restart); a Seek End's playhead is where the seek began.
            var duration = Milliseconds(attributes, attributesPath, "content_duration"u8, required: false);
            var live = duration is 0 || attributes.TryGetProperty("stream_type"u8, out var streamType) && streamType.ValueKind == JsonValueKind.String
                && streamType.ValueEquals("LiveStream"u8);
            var playhead = Milliseconds(attributes, attributesPath, "playhead_position"u8, required: false);
            double? position, from = null;
            switch (beaconEvent)
            {
                case BeaconEvent.Seek:
                    position = Milliseconds(attributes, attributesPath, "seek_position"u8, required: false) ?? 0;
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

            var contentId = OptionalString(attributes, attributesPath, "content_id"u8);
            var title = OptionalString(attributes, attributesPath, "content_title"u8);
            var contentType = OptionalString(attributes, attributesPath, "content_type"u8);
            var utk = OptionalString(attributes, attributesPath, "hubspotutk"u8);

            if (_errors.Count == errorsBefore)
            {
                var media = contentId is null && title is null ? null : new MediaInfo(contentId, null, title, null, MediaTypeOfContentType(contentType), live);
                var viewer = _batchViewer;
                var contact = utk is null ? viewer : (viewer ?? new ContactInfo(null, null)) with { Utk = utk };
                _beacons.Add(new Beacon(portalId!.Value, sessionId!, beaconEvent.Value, ts!.Value, null, position, from, live ? null : duration, media, contact));
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
                || TextOf(session) is not { Length: > 0 } sessionId || sessionId.Length > limits.MaxSessionIdLength || ContainsControlCharacter(sessionId)
                || !attributes.TryGetProperty("media_content_time_spent"u8, out var spent) || !TryReadDouble(spent, out var milliseconds)
                || !double.IsFinite(milliseconds) || milliseconds < 0)
            {
                return null;
            }

            long? portalId = attributes.TryGetProperty("hubspot_portal_id"u8, out var portal)
                ? TryReadInt64(portal, out var parsed) && parsed > 0 ? parsed : null
                : sourcePortalId ?? limits.DefaultPortalId;
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

        private BeaconEvent? Event(JsonElement item, string path)
        {
            if (!item.TryGetProperty("event"u8, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                Error(Name(path, "event"), "is required: one of start, play, pause, heartbeat, seek, ended, end");
                return null;
            }

            BeaconEvent? parsed = value.ValueKind != JsonValueKind.String ? null
                : value.ValueEquals("heartbeat"u8) ? BeaconEvent.Heartbeat
                : value.ValueEquals("play"u8) ? BeaconEvent.Play
                : value.ValueEquals("pause"u8) ? BeaconEvent.Pause
                : value.ValueEquals("seek"u8) ? BeaconEvent.Seek
                : value.ValueEquals("start"u8) ? BeaconEvent.Start
                : value.ValueEquals("ended"u8) ? BeaconEvent.Ended
                : value.ValueEquals("end"u8) ? BeaconEvent.End
                : null;
            if (parsed is null)
                Error(Name(path, "event"), $"must be one of start, play, pause, heartbeat, seek, ended, end (got {Describe(value)})");
            return parsed;
        }

        private MediaInfo? Media(JsonElement item, string path)
        {
            if (!TryGetObject(item, path, "media"u8, out var media))
                return null;
            var mediaPath = Name(path, "media");
            var externalId = OptionalString(media, mediaPath, "externalId"u8);
            var mediaBridgeId = OptionalInteger(media, mediaPath, "mediaBridgeId"u8, min: 1);
            var name = OptionalString(media, mediaPath, "name"u8);
            var url = OptionalLink(media, mediaPath, "url"u8);
            var oembedUrl = OptionalLink(media, mediaPath, "oembedUrl"u8);
            var thumbnailUrl = OptionalLink(media, mediaPath, "thumbnailUrl"u8);
            var detailsUrl = OptionalLink(media, mediaPath, "detailsUrl"u8);
            MediaType? type = null;
            if (media.TryGetProperty("type"u8, out var typeElement) && typeElement.ValueKind != JsonValueKind.Null)
            {
                type = typeElement.ValueKind != JsonValueKind.String ? null
                    : typeElement.ValueEquals("VIDEO"u8) ? MediaType.Video
                    : typeElement.ValueEquals("AUDIO"u8) ? MediaType.Audio
                    : typeElement.ValueEquals("DOCUMENT"u8) ? MediaType.Document
                    : typeElement.ValueEquals("IMAGE"u8) ? MediaType.Image
                    : typeElement.ValueEquals("OTHER"u8) ? MediaType.Other
                    : null;
                if (type is null)
                    Error(Name(mediaPath, "type"), $"must be one of VIDEO, AUDIO, DOCUMENT, IMAGE, OTHER (got {Describe(typeElement)})");
            }

            var live = false;
            if (media.TryGetProperty("live"u8, out var liveElement) && liveElement.ValueKind != JsonValueKind.Null)
            {
                if (liveElement.ValueKind is JsonValueKind.True or JsonValueKind.False)
                    live = liveElement.GetBoolean();
                else
                    Error(Name(mediaPath, "live"), $"must be true or false (got {Describe(liveElement)})");
            }

            if (externalId is null && mediaBridgeId is null && !Has(media, "externalId"u8) && !Has(media, "mediaBridgeId"u8))
                Error(mediaPath, "needs externalId or mediaBridgeId");
            return new MediaInfo(externalId, mediaBridgeId, name, url, type, live, oembedUrl, thumbnailUrl, detailsUrl);
        }

        private ContactInfo? Contact(JsonElement item, string path)
        {
            if (!TryGetObject(item, path, "contact"u8, out var contact))
                return null;
            var contactPath = Name(path, "contact");
            var contactId = OptionalInteger(contact, contactPath, "contactId"u8, min: 1);
            var utk = OptionalString(contact, contactPath, "utk"u8);
            var email = Email(contact, contactPath, "email"u8);
            if (contactId is null && utk is null && email is null && !Has(contact, "contactId"u8) && !Has(contact, "utk"u8) && !Has(contact, "email"u8))
                Error(contactPath, "needs contactId, utk or email");
            var expires = OptionalInteger(contact, contactPath, "expires"u8, min: 1);
            var signature = OptionalString(contact, contactPath, "signature"u8);
            if ((expires is null) != (signature is null))
                Error(contactPath, "needs both expires and signature, or neither");
            return new ContactInfo(contactId, utk, expires is { } at && signature is { } value ? new ContactSignature(at, value) : null, email);
        }

        private PageInfo? Page(JsonElement item, string path)
        {
            if (!TryGetObject(item, path, "page"u8, out var page))
                return null;
            var pagePath = Name(path, "page");
            var id = OptionalInteger(page, pagePath, "id"u8, min: 1);
            var name = OptionalString(page, pagePath, "name"u8);
            var url = OptionalString(page, pagePath, "url"u8);
            // A page's own address may be plain http (its page is), never another scheme.
            if (url is not null && MediaLinks.Problem(url, allowHttp: true) is { } problem)
            {
                Error(Name(pagePath, "url"), problem);
                url = null;
            }

            if (id is null && (name is null || url is null) && !Has(page, "id"u8) && !(Has(page, "name"u8) && Has(page, "url"u8)))
                Error(pagePath, "needs id (a HubSpot page), or name and url (any other page)");
            return new PageInfo(id, name, url);
        }

        private PlayContext? Context(JsonElement item, string path)
        {
            if (!item.TryGetProperty("context"u8, out var value) || value.ValueKind == JsonValueKind.Null)
                return null;
            PlayContext? parsed = value.ValueKind != JsonValueKind.String ? null
                : value.ValueEquals("EXTERNAL_PAGE"u8) ? PlayContext.ExternalPage
                : value.ValueEquals("EMAIL"u8) ? PlayContext.Email
                : null;
            if (parsed is null)
                Error(Name(path, "context"), $"must be EMAIL or EXTERNAL_PAGE (got {Describe(value)})");
            return parsed;
        }

        private bool TryGetObject(JsonElement item, string path, ReadOnlySpan<byte> name, out JsonElement value)
        {
            if (!item.TryGetProperty(name, out value) || value.ValueKind == JsonValueKind.Null)
                return false;
            if (value.ValueKind == JsonValueKind.Object)
                return true;
            Error(Name(path, name), $"must be an object (got {Describe(value)})");
            return false;
        }

        private static bool Has(JsonElement item, ReadOnlySpan<byte> name) =>
            item.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

        private string? SessionId(JsonElement item, string path, ReadOnlySpan<byte> name)
        {
            if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                Error(Name(path, name), $"is required: a string of 1 to {limits.MaxSessionIdLength} characters");
                return null;
            }

            if (value.ValueKind != JsonValueKind.String)
            {
                Error(Name(path, name), $"must be a string (got {Describe(value)})");
                return null;
            }

            if (TextOf(value) is not { } text)
            {
                Error(Name(path, name), "is not valid Unicode text");
                return null;
            }

            if (text.Length == 0 || text.Length > limits.MaxSessionIdLength || string.IsNullOrWhiteSpace(text))
            {
                Error(Name(path, name), $"must be 1 to {limits.MaxSessionIdLength} characters, not blank (got {text.Length})");
                return null;
            }

            if (ContainsControlCharacter(text))
            {
                Error(Name(path, name), "must not contain control characters");
                return null;
            }

            return text;
        }

        /// <summary>What <see cref="char.IsControl(char)"/> says of any of its characters (C0 and C1 controls), in vector steps.</summary>
        private static bool ContainsControlCharacter(string text) =>
            text.AsSpan().IndexOfAnyInRange('\u0000', '\u001f') >= 0 || text.AsSpan().IndexOfAnyInRange('\u007f', '\u009f') >= 0;

        private string? OptionalString(JsonElement item, string path, ReadOnlySpan<byte> name)
        {
            if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
                return null;
            if (value.ValueKind != JsonValueKind.String)
            {
                Error(Name(path, name), $"must be a string (got {Describe(value)})");
                return null;
            }

            if (TextOf(value) is not { } text)
            {
                Error(Name(path, name), "is not valid Unicode text");
                return null;
            }

            if (text.Length > limits.MaxStringLength)
            {
                Error(Name(path, name), $"is {text.Length} characters; at most {limits.MaxStringLength} are accepted");
                return null;
            }

            return text.Length == 0 ? null : text;
        }

        /// <summary>An email address, lower-cased; an invalid one is refused without its text, which is personal data.</summary>
        private string? Email(JsonElement item, string path, ReadOnlySpan<byte> name)
        {
            if (OptionalString(item, path, name) is not { } text)
                return null;
            var email = text.Trim();
            if (email.Length <= MaxEmailLength && IsEmail(email))
                return email.ToLowerInvariant();
            Error(Name(path, name), $"is not an email address (local-part@domain, at most {MaxEmailLength} characters)");
            return null;
        }

        private string? OptionalLink(JsonElement item, string path, ReadOnlySpan<byte> name)
        {
            if (OptionalString(item, path, name) is not { } text)
                return null;
            if (MediaLinks.Problem(text, limits.AllowHttpLinks) is not { } problem)
                return text;
            Error(Name(path, name), problem);
            return null;
        }

        private long? RequiredPositiveInteger(JsonElement item, string path, ReadOnlySpan<byte> name)
        {
            if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                Error(Name(path, name), "is required: a positive integer");
                return null;
            }

            return Integer(value, path, name, min: 1);
        }

        private long? OptionalInteger(JsonElement item, string path, ReadOnlySpan<byte> name, long min)
        {
            if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
                return null;
            return Integer(value, path, name, min);
        }

        private long? Integer(JsonElement value, string path, ReadOnlySpan<byte> name, long min)
        {
            if (!TryReadInt64(value, out var parsed) || parsed < min)
            {
                Error(Name(path, name), $"must be an integer >= {min} (got {Describe(value)})");
                return null;
            }

            return parsed;
        }

        private long? Timestamp(JsonElement item, string path, ReadOnlySpan<byte> name, bool required)
        {
            if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                if (required)
                    Error(Name(path, name), "is required: the client's time in milliseconds since the Unix epoch");
                return null;
            }

            var ts = Integer(value, path, name, min: 0);
            if (ts is null)
                return null;
            if (ts < EarliestTs)
            {
                Error(Name(path, name), "must be milliseconds since the Unix epoch (got a time before 2000-01-01: seconds?)");
                return null;
            }

            if (ts > latestTs)
            {
                Error(Name(path, name), $"is more than {limits.MaxFutureSkew.TotalHours:0.#} h in the future");
                return null;
            }

            return ts;
        }

        private double? Duration(JsonElement item, string path, ReadOnlySpan<byte> name)
        {
            var duration = Seconds(item, path, name, required: false);
            if (duration is 0)
            {
                Error(Name(path, name), "must be greater than 0 (leave it out while it is unknown)");
                return null;
            }

            return duration;
        }

        private double? Seconds(JsonElement item, string path, ReadOnlySpan<byte> name, bool required) =>
            Number(item, path, name, required, scale: 1, unit: "seconds");

        private double? Milliseconds(JsonElement item, string path, ReadOnlySpan<byte> name, bool required) =>
            Number(item, path, name, required, scale: 1000, unit: "milliseconds");

        private double? Number(JsonElement item, string path, ReadOnlySpan<byte> name, bool required, double scale, string unit)
        {
            if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                if (required)
                    Error(Name(path, name), $"is required: a finite number >= 0 ({unit})");
                return null;
            }

            if (!TryReadDouble(value, out var parsed) || !double.IsFinite(parsed) || parsed < 0)
            {
                Error(Name(path, name), $"must be a finite number >= 0 ({unit}; got {Describe(value)})");
                return null;
            }

            var seconds = parsed / scale;
            if (seconds > limits.MaxSeconds)
            {
                Error(Name(path, name), $"must be at most {limits.MaxSeconds * scale:0.#} {unit} (got {Describe(value)})");
                return null;
            }

            return seconds;
        }

        /// <summary>A JSON string's text, or null where it escapes a lone surrogate that no .NET string can hold as text.</summary>
        private static string? TextOf(JsonElement value)
        {
            try
            {
                return value.GetString();
            }
            catch (InvalidOperationException)
            {
                return null;
            }
        }

        // mParticle sends numbers as strings; native beacons may too.
        private static bool TryReadInt64(JsonElement value, out long parsed)
        {
            parsed = 0;
            return value.ValueKind switch
            {
                JsonValueKind.Number => value.TryGetInt64(out parsed),
                JsonValueKind.String => long.TryParse(TextOf(value), NumberStyles.None, CultureInfo.InvariantCulture, out parsed),
                _ => false,
            };
        }

        private static bool TryReadDouble(JsonElement value, out double parsed)
        {
            parsed = 0;
            return value.ValueKind switch
            {
                JsonValueKind.Number => value.TryGetDouble(out parsed),
                JsonValueKind.String => double.TryParse(TextOf(value), NumberStyles.Float, CultureInfo.InvariantCulture, out parsed),
                _ => false,
            };
        }

        private static string Name(string path, ReadOnlySpan<byte> name) => Name(path, System.Text.Encoding.UTF8.GetString(name));

        private static string Name(string path, string name) =>
            path.Length == 0 ? name : name.Length == 0 ? path : $"{path}.{name}";

        /// <summary>
        /// The kind of a refused value, never the value: a field may hold an email or a utk (a mis-mapped mParticle
        /// output puts one where a contact id belongs), and error texts are answered, logged and counted.
        /// </summary>
        private static string Describe(JsonElement value) => value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!.Length is var length && length == 1 ? "a string of 1 character" : $"a string of {length} characters",
            JsonValueKind.Number => "a number",
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.True or JsonValueKind.False => "true or false",
            _ => "null",
        };
    }
}
