using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace FunctionsRelay.Local.Demo;

/// <summary>
/// An HLS stream for the demo page and the hls.js test, built in code like <see cref="DemoMedia"/>: audio-only "packed
/// audio" segments (RFC 8216 section 3.4: an ID3 tag with the segment's timestamp, then ADTS frames) of silent AAC-LC,
/// 2 s each. A VOD playlist of a given length, and a live one whose window of the last <see cref="LiveWindowSegments"/>
/// segments moves on with the clock (a DVR window the player may seek back in). Silence, because encoding sound needs an
/// encoder: an AAC frame that decodes to silence is a constant (the one hls.js itself fills gaps with).
/// </summary>
public static class DemoStream
{
    public const double SegmentSeconds = 2;
    public const int MaxVodSegments = 300;
    public const int LiveWindowSegments = 15;

    /// <summary>64 kHz (ADTS index 2): 1,024 samples a frame, so exactly 125 frames make 2 s.</summary>
    private const int SamplingFrequencyIndex = 2;
    private const int FramesPerSegment = 125;

    /// <summary>A mono AAC-LC raw data block of silence.</summary>
    private static readonly byte[] SilentFrame = [0x00, 0xC8, 0x00, 0x80, 0x23, 0x80];

    private static readonly byte[] AdtsFrame = BuildAdtsFrame();

    /// <summary>The playlist of a stream of <paramref name="seconds"/> (rounded up to whole segments), ended.</summary>
    public static string VodPlaylist(int seconds)
    {
        var segments = Math.Clamp((int)Math.Ceiling(seconds / SegmentSeconds), 1, MaxVodSegments);
        return Playlist(0, segments, ended: true);
    }

    /// <summary>When the live stream "went on air": a window's length before it was first asked for, so its window is full.</summary>
    private static DateTimeOffset? _onAirSince;

    /// <summary>The live playlist as of <paramref name="now"/>: the window of segments that have "aired" by then.</summary>
    public static string LivePlaylist(DateTimeOffset now)
    {
        var since = _onAirSince ??= now - TimeSpan.FromSeconds(LiveWindowSegments * SegmentSeconds);
        var aired = (long)Math.Floor((now - since).TotalSeconds / SegmentSeconds);
        var first = Math.Max(0, aired - LiveWindowSegments);
        return Playlist(first, (int)(aired - first), ended: false);
    }

    /// <summary>Segment <paramref name="sequence"/>: its timestamp is where it sits in the stream, so segments join up.</summary>
    public static byte[] Segment(long sequence)
    {
        var id3 = TimestampTag((long)(sequence * SegmentSeconds * 90_000));
        var segment = new byte[id3.Length + (AdtsFrame.Length * FramesPerSegment)];
        id3.CopyTo(segment, 0);
        for (var frame = 0; frame < FramesPerSegment; frame++)
            AdtsFrame.CopyTo(segment, id3.Length + (frame * AdtsFrame.Length));
        return segment;
    }

    private static string Playlist(long firstSequence, int segments, bool ended)
    {
        var playlist = new StringBuilder()
            .Append("#EXTM3U\n#EXT-X-VERSION:3\n")
            .Append(CultureInfo.InvariantCulture, $"#EXT-X-TARGETDURATION:{(int)Math.Ceiling(SegmentSeconds)}\n")
            .Append(CultureInfo.InvariantCulture, $"#EXT-X-MEDIA-SEQUENCE:{firstSequence}\n");
        if (ended)
            playlist.Append("#EXT-X-PLAYLIST-TYPE:VOD\n");
        for (var sequence = firstSequence; sequence < firstSequence + segments; sequence++)
            playlist.Append(CultureInfo.InvariantCulture, $"#EXTINF:{SegmentSeconds:0.000},\nsegment-{sequence}.aac\n");
        if (ended)
            playlist.Append("#EXT-X-ENDLIST\n");
        return playlist.ToString();
    }

    /// <summary>An ADTS header (MPEG-4, no CRC, AAC-LC, mono) before the silent frame.</summary>
    private static byte[] BuildAdtsFrame()
    {
        var length = 7 + SilentFrame.Length;
        var frame = new byte[length];
        frame[0] = 0xFF;
        frame[1] = 0xF1; // sync, MPEG-4, layer 0, no CRC
        frame[2] = (byte)((1 << 6) | (SamplingFrequencyIndex << 2)); // profile LC (object type 2, written as 1)
        frame[3] = (byte)((1 << 6) | ((length >> 11) & 0x03)); // one channel
        frame[4] = (byte)((length >> 3) & 0xFF);
        frame[5] = (byte)(((length & 0x07) << 5) | 0x1F); // buffer fullness 0x7FF: variable rate
        frame[6] = 0xFC;
        SilentFrame.CopyTo(frame, 7);
        return frame;
    }

    /// <summary>The ID3v2.4 tag HLS packed audio starts with: a PRIV frame holding the 33-bit MPEG-2 timestamp (90 kHz).</summary>
    private static byte[] TimestampTag(long pts)
    {
        var owner = "com.apple.streaming.transportStreamTimestamp\0"u8;
        var frameSize = owner.Length + 8;
        var tag = new byte[10 + 10 + frameSize];
        var span = tag.AsSpan();
        "ID3"u8.CopyTo(span);
        span[3] = 4; // version 2.4.0, no flags
        SyncSafe(span[6..], 10 + frameSize);
        "PRIV"u8.CopyTo(span[10..]);
        SyncSafe(span[14..], frameSize);
        owner.CopyTo(span[20..]);
        BinaryPrimitives.WriteInt64BigEndian(span[(20 + owner.Length)..], pts & 0x1_FFFF_FFFF); // wraps after 26 h, as MPEG-2's does
        return tag;
    }

    private static void SyncSafe(Span<byte> into, int value)
    {
        into[0] = (byte)((value >> 21) & 0x7F);
        into[1] = (byte)((value >> 14) & 0x7F);
        into[2] = (byte)((value >> 7) & 0x7F);
        into[3] = (byte)(value & 0x7F);
    }
}
