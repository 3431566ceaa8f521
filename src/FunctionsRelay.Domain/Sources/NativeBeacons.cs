using System.Text.Json;
using FunctionsRelay.Domain.Beacons;
using static FunctionsRelay.Domain.Sources.JsonFields;

namespace FunctionsRelay.Domain.Sources;

/// <summary>
/// The relay's own beacon (docs/player.md): <c>portalId</c>, <c>sessionId</c>, <c>event</c>, <c>ts</c>, the playhead,
/// and the media, viewer, page and context it names, each field checked.
/// </summary>
internal sealed class NativeBeacons(BeaconReading reading)
{
    private readonly JsonFields _fields = reading.Fields;

    // The most frequent first: a page sends a heartbeat every 10 s.
    private static readonly (byte[] Text, BeaconEvent Value)[] Events =
    [
        ("heartbeat"u8.ToArray(), BeaconEvent.Heartbeat), ("play"u8.ToArray(), BeaconEvent.Play), ("pause"u8.ToArray(), BeaconEvent.Pause),
        ("seek"u8.ToArray(), BeaconEvent.Seek), ("start"u8.ToArray(), BeaconEvent.Start), ("ended"u8.ToArray(), BeaconEvent.Ended),
        ("end"u8.ToArray(), BeaconEvent.End),
    ];

    private static readonly (byte[] Text, MediaType Value)[] MediaTypes =
    [
        ("VIDEO"u8.ToArray(), MediaType.Video), ("AUDIO"u8.ToArray(), MediaType.Audio), ("DOCUMENT"u8.ToArray(), MediaType.Document),
        ("IMAGE"u8.ToArray(), MediaType.Image), ("OTHER"u8.ToArray(), MediaType.Other),
    ];

    private static readonly (byte[] Text, PlayContext Value)[] Contexts =
        [("EXTERNAL_PAGE"u8.ToArray(), PlayContext.ExternalPage), ("EMAIL"u8.ToArray(), PlayContext.Email)];

    public void Read(JsonElement item, string path)
    {
        var errorsBefore = _fields.Errors.Count;
        var portalId = _fields.RequiredPositiveInteger(item, path, "portalId"u8);
        var sessionId = _fields.SessionId(item, path, "sessionId"u8);
        var seq = _fields.OptionalInteger(item, path, "seq"u8, min: 0);
        var beaconEvent = Event(item, path);
        var ts = _fields.Timestamp(item, path, "ts"u8, required: true);

        double? position = null;
        if (beaconEvent is not BeaconEvent.Start || item.TryGetProperty("position"u8, out _))
            position = _fields.Seconds(item, path, "position"u8, required: beaconEvent is not BeaconEvent.Start);

        double? from = null;
        if (item.TryGetProperty("from"u8, out _))
        {
            if (beaconEvent is BeaconEvent.Seek)
                from = _fields.Seconds(item, path, "from"u8, required: false);
            else if (beaconEvent is not null)
                _fields.Error(Name(path, "from"), "is only allowed with event \"seek\"");
        }

        var duration = _fields.Duration(item, path, "duration"u8);
        var media = Media(item, path);
        var contact = Contact(item, path);
        var page = Page(item, path);
        var context = Context(item, path);

        if (_fields.Errors.Count == errorsBefore)
        {
            reading.Beacons.Add(new Beacon(portalId!.Value, sessionId!, beaconEvent!.Value, ts!.Value, seq, position, from, duration, media, contact, page, context));
        }
    }

    private BeaconEvent? Event(JsonElement item, string path)
    {
        if (!item.TryGetProperty("event"u8, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            _fields.Error(Name(path, "event"), "is required: one of start, play, pause, heartbeat, seek, ended, end");
            return null;
        }

        return _fields.OneOf(value, Name(path, "event"), Events, "one of start, play, pause, heartbeat, seek, ended, end");
    }

    private MediaInfo? Media(JsonElement item, string path)
    {
        if (!_fields.TryGetObject(item, path, "media"u8, out var media))
            return null;
        var mediaPath = Name(path, "media");
        var externalId = _fields.OptionalString(media, mediaPath, "externalId"u8);
        var mediaBridgeId = _fields.OptionalInteger(media, mediaPath, "mediaBridgeId"u8, min: 1);
        var name = _fields.OptionalString(media, mediaPath, "name"u8);
        var url = _fields.OptionalLink(media, mediaPath, "url"u8);
        var oembedUrl = _fields.OptionalLink(media, mediaPath, "oembedUrl"u8);
        var thumbnailUrl = _fields.OptionalLink(media, mediaPath, "thumbnailUrl"u8);
        var detailsUrl = _fields.OptionalLink(media, mediaPath, "detailsUrl"u8);
        var type = _fields.OptionalOneOf(media, mediaPath, "type"u8, MediaTypes, "one of VIDEO, AUDIO, DOCUMENT, IMAGE, OTHER");

        var live = false;
        if (media.TryGetProperty("live"u8, out var liveElement) && liveElement.ValueKind != JsonValueKind.Null)
        {
            if (liveElement.ValueKind is JsonValueKind.True or JsonValueKind.False)
                live = liveElement.GetBoolean();
            else
                _fields.Error(Name(mediaPath, "live"), $"must be true or false (got {Describe(liveElement)})");
        }

        if (externalId is null && mediaBridgeId is null && !Has(media, "externalId"u8) && !Has(media, "mediaBridgeId"u8))
            _fields.Error(mediaPath, "needs externalId or mediaBridgeId");
        return new MediaInfo(externalId, mediaBridgeId, name, url, type, live, oembedUrl, thumbnailUrl, detailsUrl);
    }

    private ContactInfo? Contact(JsonElement item, string path)
    {
        if (!_fields.TryGetObject(item, path, "contact"u8, out var contact))
            return null;
        var contactPath = Name(path, "contact");
        var contactId = _fields.OptionalInteger(contact, contactPath, "contactId"u8, min: 1);
        var utk = _fields.OptionalString(contact, contactPath, "utk"u8);
        var email = _fields.Email(contact, contactPath, "email"u8);
        if (contactId is null && utk is null && email is null && !Has(contact, "contactId"u8) && !Has(contact, "utk"u8) && !Has(contact, "email"u8))
            _fields.Error(contactPath, "needs contactId, utk or email");
        var expires = _fields.OptionalInteger(contact, contactPath, "expires"u8, min: 1);
        var signature = _fields.OptionalString(contact, contactPath, "signature"u8);
        if ((expires is null) != (signature is null))
            _fields.Error(contactPath, "needs both expires and signature, or neither");
        return new ContactInfo(contactId, utk, expires is { } at && signature is { } value ? new ContactSignature(at, value) : null, email);
    }

    private PageInfo? Page(JsonElement item, string path)
    {
        if (!_fields.TryGetObject(item, path, "page"u8, out var page))
            return null;
        var pagePath = Name(path, "page");
        var id = _fields.OptionalInteger(page, pagePath, "id"u8, min: 1);
        var name = _fields.OptionalString(page, pagePath, "name"u8);
        var url = _fields.OptionalString(page, pagePath, "url"u8);
        // A page's own address may be plain http (its page is), never another scheme.
        if (url is not null && MediaLinks.Problem(url, allowHttp: true) is { } problem)
        {
            _fields.Error(Name(pagePath, "url"), problem);
            url = null;
        }

        if (id is null && (name is null || url is null) && !Has(page, "id"u8) && !(Has(page, "name"u8) && Has(page, "url"u8)))
            _fields.Error(pagePath, "needs id (a HubSpot page), or name and url (any other page)");
        return new PageInfo(id, name, url);
    }

    private PlayContext? Context(JsonElement item, string path) =>
        _fields.OptionalOneOf(item, path, "context"u8, Contexts, "EMAIL or EXTERNAL_PAGE");
}
