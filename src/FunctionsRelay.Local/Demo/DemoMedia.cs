using System.Buffers.Binary;

namespace FunctionsRelay.Local.Demo;

/// <summary>
/// Media for the demo page built in code, so the repository carries no media files: a WAV of a tone that glides up over
/// each second. One second of samples is computed once and every length is served from it, so a request for the longest
/// tone costs no more memory than a request for the shortest.
/// </summary>
public static class DemoMedia
{
    public const int MaxSeconds = 600;
    private const int SampleRate = 8000;
    private const int HeaderLength = 44;

    /// <summary>8 kHz, 8-bit mono PCM, the phase starting again each second (a soft click marks the seconds: seeks are easy to hear).</summary>
    private static readonly byte[] OneSecond = BuildOneSecond();

    /// <summary>The WAV of <paramref name="seconds"/> (1 to <see cref="MaxSeconds"/>) as a seekable stream computed as it is read.</summary>
    public static Stream Tone(int seconds) => new ToneStream(Math.Clamp(seconds, 1, MaxSeconds) * SampleRate);

    private static byte[] BuildOneSecond()
    {
        var samples = new byte[SampleRate];
        var phase = 0.0;
        for (var i = 0; i < SampleRate; i++)
        {
            phase += 2 * Math.PI * (220 + 440 * (i / (double)SampleRate)) / SampleRate;
            samples[i] = (byte)(128 + 40 * Math.Sin(phase));
        }

        return samples;
    }

    private static byte[] Header(int samples)
    {
        var header = new byte[HeaderLength];
        var span = header.AsSpan();
        "RIFF"u8.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], 36 + samples);
        "WAVEfmt "u8.CopyTo(span[8..]);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], 16); // fmt chunk size
        BinaryPrimitives.WriteInt16LittleEndian(span[20..], 1); // PCM
        BinaryPrimitives.WriteInt16LittleEndian(span[22..], 1); // mono
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], SampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(span[28..], SampleRate); // bytes per second
        BinaryPrimitives.WriteInt16LittleEndian(span[32..], 1); // block align
        BinaryPrimitives.WriteInt16LittleEndian(span[34..], 8); // bits per sample
        "data"u8.CopyTo(span[36..]);
        BinaryPrimitives.WriteInt32LittleEndian(span[40..], samples);
        return header;
    }

    /// <summary>The header, then the one second of samples over and over: read-only and seekable, for range requests.</summary>
    private sealed class ToneStream(int samples) : Stream
    {
        private readonly byte[] _header = Header(samples);

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length { get; } = HeaderLength + (long)samples;

        public override long Position { get; set; }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var written = 0;
            while (written < buffer.Length && Position < Length)
            {
                var (source, at) = Position < HeaderLength ? (_header, (int)Position) : (OneSecond, (int)((Position - HeaderLength) % SampleRate));
                var count = (int)Math.Min(Math.Min(source.Length - at, buffer.Length - written), Length - Position);
                source.AsSpan(at, count).CopyTo(buffer[written..]);
                written += count;
                Position += count;
            }

            return written;
        }

        public override long Seek(long offset, SeekOrigin origin) => Position = Math.Clamp(origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => Position + offset,
            _ => Length + offset,
        }, 0, Length);

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
