using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.Domain.Sessions;

/// <summary>A session as storage keeps it: a small JSON header and the log packed into bytes (about 6 bytes a beacon).</summary>
public sealed record SessionSnapshot(string Header, byte[] Log)
{
    /// <summary>What storage keeps of it: the header's UTF-8 and the packed log.</summary>
    public int Bytes => System.Text.Encoding.UTF8.GetByteCount(Header) + Log.Length;
}

/// <summary>
/// Packs a session compactly: a 2-hour session with a heartbeat every 10 s (720 beacons) takes about 5 KiB of log,
/// well inside one Table Storage entity.
/// </summary>
public static class SessionCodec
{
    private const byte FormatVersion = 1;
    private const byte HasSeq = 1 << 3;
    private const byte HasPosition = 1 << 4;
    private const byte HasFrom = 1 << 5;
    private const byte EventMask = 0b111;

    /// <summary>Room for a message's beacons beyond the stored log (players send a few per request).</summary>
    private const int LogHeadroom = 16;

    private static readonly System.Text.Json.Serialization.Metadata.JsonTypeInfo<SessionHeader> HeaderJson = CompactJson.TypeInfo(SessionJsonContext.Default.SessionHeader);

    public static SessionSnapshot Encode(ViewingSession session)
    {
        var header = new SessionHeader
        {
            Media = session.Media,
            ContactId = session.ContactId,
            Utk = session.Utk,
            Email = session.Email,
            ResolvedContactId = session.ResolvedContactId,
            UtkContactStamp = session.UtkContactStamp,
            Viewers = session.ViewerKeys.Count == 0 ? null : [.. session.ViewerKeys],
            Page = session.Page,
            Context = session.Context,
            Duration = session.Duration,
            Decided = session.Decided,
            Outbox = [.. session.Outbox],
            DeliveryLeaseUntil = session.DeliveryLeaseUntil,
            DeliveryLeaseOwner = session.DeliveryLeaseOwner,
            SettledThroughSeq = session.SettledThroughSeq,
            GapWaitSince = session.GapWaitSince,
            DeliverCheckAt = session.DeliverCheckAt,
            LastActivityAt = session.LastActivityAt,
            AnonymousHeldSince = session.AnonymousHeldSince,
            Refused = session.Refused,
            ViewerCounted = session.ViewerCounted,
            RepeatViewer = session.RepeatViewer,
            Source = session.Source,
            MediaAwaitedSince = session.MediaAwaitedSince,
            CloseCheckAt = session.CloseCheckAt,
            ClosedAt = session.ClosedAt,
            CloseReason = session.CloseReason,
            SkipReason = session.SkipReason,
            DuplicatesDropped = session.DuplicatesDropped,
            DroppedAfterClose = session.DroppedAfterClose,
            DroppedLogFull = session.DroppedLogFull,
        };
        return new SessionSnapshot(JsonSerializer.Serialize(header, HeaderJson), EncodeLog(session.Log));
    }

    public static ViewingSession Decode(long portalId, string sessionId, SessionSnapshot snapshot)
    {
        var header = JsonSerializer.Deserialize(snapshot.Header, HeaderJson)
            ?? throw new InvalidDataException($"session {portalId}/{sessionId}: empty header");
        var session = new ViewingSession(portalId, sessionId)
        {
            StoredBytes = snapshot.Bytes,
            Media = header.Media,
            ContactId = header.ContactId,
            Utk = header.Utk,
            Email = header.Email,
            ResolvedContactId = header.ResolvedContactId,
            UtkContactStamp = header.UtkContactStamp,
            Page = header.Page,
            Context = header.Context,
            Duration = header.Duration,
            Decided = header.Decided,
            DeliveryLeaseUntil = header.DeliveryLeaseUntil,
            DeliveryLeaseOwner = header.DeliveryLeaseOwner,
            SettledThroughSeq = header.SettledThroughSeq,
            GapWaitSince = header.GapWaitSince,
            DeliverCheckAt = header.DeliverCheckAt,
            LastActivityAt = header.LastActivityAt,
            AnonymousHeldSince = header.AnonymousHeldSince,
            // A row written before the refusals had reasons holds only that a hold was refused.
            Refused = header.Refused != SessionRefusal.None ? header.Refused : header.AnonymousHoldRefused ? SessionRefusal.HoldBound : SessionRefusal.None,
            ViewerCounted = header.ViewerCounted,
            RepeatViewer = header.RepeatViewer,
            Source = header.Source,
            MediaAwaitedSince = header.MediaAwaitedSince,
            CloseCheckAt = header.CloseCheckAt,
            ClosedAt = header.ClosedAt,
            CloseReason = header.CloseReason,
            SkipReason = header.SkipReason,
            DuplicatesDropped = header.DuplicatesDropped,
            DroppedAfterClose = header.DroppedAfterClose,
            DroppedLogFull = header.DroppedLogFull,
        };
        foreach (var pending in header.Outbox ?? [])
            session.Enqueue(pending);
        foreach (var key in header.Viewers ?? [])
            session.AddViewerKey(key);
        DecodeLog(snapshot.Log, session);
        return session;
    }

    private static byte[] EncodeLog(IReadOnlyList<LogEntry> log)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1 + 10 + (log.Count * 42));
        try
        {
            var at = EncodeLog(log, buffer);
            return buffer.AsSpan(0, at).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int EncodeLog(IReadOnlyList<LogEntry> log, byte[] buffer)
    {
        var at = 0;
        buffer[at++] = FormatVersion;
        WriteVarint(buffer, ref at, (ulong)log.Count);
        long previousTs = 0;
        foreach (var entry in log)
        {
            WriteVarint(buffer, ref at, ZigZag(entry.Ts - previousTs));
            previousTs = entry.Ts;
            var flags = (byte)((byte)entry.Event
                | (entry.Seq is null ? 0 : HasSeq)
                | (entry.Position is null ? 0 : HasPosition)
                | (entry.From is null ? 0 : HasFrom));
            buffer[at++] = flags;
            if (entry.Seq is { } seq)
                WriteVarint(buffer, ref at, (ulong)seq);
            if (entry.Position is { } position)
                WriteVarint(buffer, ref at, (ulong)Math.Round(position * 1000));
            if (entry.From is { } from)
                WriteVarint(buffer, ref at, (ulong)Math.Round(from * 1000));
        }

        return at;
    }

    private static void DecodeLog(ReadOnlySpan<byte> bytes, ViewingSession session)
    {
        if (bytes.Length == 0)
            return;
        if (bytes[0] != FormatVersion)
            throw new InvalidDataException($"session log format {bytes[0]} is not known");
        var at = 1;
        var count = (long)ReadVarint(bytes, ref at);
        // Each entry takes at least 2 bytes, which bounds what a corrupt count can make us reserve.
        session.ReserveLog((int)Math.Min(count, bytes.Length / 2) + LogHeadroom);
        long ts = 0;
        for (long i = 0; i < count; i++)
        {
            ts += UnZigZag(ReadVarint(bytes, ref at));
            var flags = bytes[at++];
            long? seq = (flags & HasSeq) != 0 ? (long)ReadVarint(bytes, ref at) : null;
            double? position = (flags & HasPosition) != 0 ? ReadVarint(bytes, ref at) / 1000.0 : null;
            double? from = (flags & HasFrom) != 0 ? ReadVarint(bytes, ref at) / 1000.0 : null;
            session.Restore(new LogEntry(ts, seq, (BeaconEvent)(flags & EventMask), position, from));
        }
    }

    private static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));

    private static long UnZigZag(ulong value) => (long)(value >> 1) ^ -(long)(value & 1);

    private static void WriteVarint(byte[] buffer, ref int at, ulong value)
    {
        while (value >= 0x80)
        {
            buffer[at++] = (byte)(value | 0x80);
            value >>= 7;
        }

        buffer[at++] = (byte)value;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> bytes, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = bytes[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
                return value;
        }

        throw new InvalidDataException("session log holds a malformed number");
    }
}

internal sealed record SessionHeader
{
    public Stamped<MediaInfo>? Media { get; init; }

    public Stamped<long>? ContactId { get; init; }

    public Stamped<string>? Utk { get; init; }

    public Stamped<string>? Email { get; init; }

    public long? ResolvedContactId { get; init; }

    public LogEntry? UtkContactStamp { get; init; }

    public List<string>? Viewers { get; init; }

    public Stamped<PageInfo>? Page { get; init; }

    public Stamped<PlayContext>? Context { get; init; }

    public Stamped<double>? Duration { get; init; }

    public DecidedEvents Decided { get; init; }

    public List<PendingEvent>? Outbox { get; init; }

    public long DeliveryLeaseUntil { get; init; }

    public string? DeliveryLeaseOwner { get; init; }

    public long? SettledThroughSeq { get; init; }

    public long GapWaitSince { get; init; }

    public long DeliverCheckAt { get; init; }

    public long LastActivityAt { get; init; }

    public long AnonymousHeldSince { get; init; }

    /// <summary>Read from rows written before <see cref="Refused"/>; no longer written.</summary>
    public bool AnonymousHoldRefused { get; init; }

    public SessionRefusal Refused { get; init; }

    public bool ViewerCounted { get; init; }

    public bool RepeatViewer { get; init; }

    public string? Source { get; init; }

    public long MediaAwaitedSince { get; init; }

    public long CloseCheckAt { get; init; }

    public long? ClosedAt { get; init; }

    public CloseReason? CloseReason { get; init; }

    public SkipReason? SkipReason { get; init; }

    public int DuplicatesDropped { get; init; }

    public int DroppedAfterClose { get; init; }

    public int DroppedLogFull { get; init; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(SessionHeader))]
internal sealed partial class SessionJsonContext : JsonSerializerContext;
