using System.Globalization;
using System.Text.Json;
using System.Text.Unicode;
using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.Domain.Sources;

/// <summary>
/// Turns a request body into validated beacons. It takes one native beacon, an array of them, <c>{"beacons":[...]}</c>,
/// one mParticle media event or an mParticle batch <c>{"events":[...]}</c>; arrays may mix both kinds.
/// A body with any invalid beacon is rejected whole, every error naming its field.
/// </summary>
public sealed class BeaconParser(BeaconLimits limits)
{
    private long LatestTs(DateTimeOffset now) => now.ToUnixTimeMilliseconds() + (long)limits.MaxFutureSkew.TotalMilliseconds;

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
            var reading = new BeaconReading(limits, LatestTs(now), trusted);
            var root = document.RootElement;
            switch (root.ValueKind)
            {
                case JsonValueKind.Array:
                    new Items(reading).ReadList(root, "beacons");
                    break;
                case JsonValueKind.Object when root.TryGetProperty("beacons"u8, out var beacons):
                    new Items(reading).ReadList(beacons, "beacons");
                    break;
                case JsonValueKind.Object when root.TryGetProperty("events"u8, out var events) && !root.TryGetProperty("event"u8, out _):
                    new Items(reading).ReadList(events, "events");
                    break;
                case JsonValueKind.Object:
                    new Items(reading).ReadItem(root, "");
                    break;
                default:
                    reading.Fields.Error("body", "must be a beacon object, an array of beacons, {\"beacons\":[...]} or an mParticle {\"events\":[...]} batch");
                    break;
            }

            return reading.ToBatch();
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
            var reading = new BeaconReading(limits, LatestTs(now), trusted: true);
            new MParticleEvents(reading, portalId).ReadBatches(document.RootElement);
            return reading.ToBatch();
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


    /// <summary>A page's list of items, each a native beacon or an mParticle event.</summary>
    private sealed class Items(BeaconReading reading)
    {
        private readonly NativeBeacons _native = new(reading);
        private readonly MParticleEvents _mParticle = new(reading, sourcePortalId: null);

        public void ReadList(JsonElement list, string name)
        {
            if (list.ValueKind != JsonValueKind.Array)
            {
                reading.Fields.Error(name, "must be an array");
                return;
            }

            var count = list.GetArrayLength();
            if (count == 0)
            {
                reading.Fields.Error(name, "must hold at least one beacon");
                return;
            }

            if (!reading.Trusted && count > reading.Fields.Limits.MaxBeaconsPerRequest)
            {
                reading.Fields.Error(name, $"holds {count} items; at most {reading.Fields.Limits.MaxBeaconsPerRequest} are accepted per request");
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
                reading.Fields.Error(JsonFields.Name(path, ""), "must be an object");
                return;
            }

            if (item.TryGetProperty("event_type"u8, out _))
                _mParticle.ReadEvent(item, path);
            else
                _native.Read(item, path);
        }
    }
}
