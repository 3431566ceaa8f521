using System.Buffers.Binary;

namespace FunctionsRelay.Local.Demo;

/// <summary>Media for the demo page built in code, so the repository carries no media files: a WAV of a gliding tone.</summary>
public static class DemoMedia
{
    public const int MaxSeconds = 600;
    private const int SampleRate = 8000;

    /// <summary>8 kHz, 8-bit mono PCM: a tone that rises over each second, so seeks and replays are easy to hear.</summary>
    public static byte[] Tone(int seconds)
    {
        var samples = SampleRate * Math.Clamp(seconds, 1, MaxSeconds);
        var wave = new byte[44 + samples];
        var header = wave.AsSpan();
        "RIFF"u8.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], 36 + samples);
        "WAVEfmt "u8.CopyTo(header[8..]);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], 16); // fmt chunk size
        BinaryPrimitives.WriteInt16LittleEndian(header[20..], 1); // PCM
        BinaryPrimitives.WriteInt16LittleEndian(header[22..], 1); // mono
        BinaryPrimitives.WriteInt32LittleEndian(header[24..], SampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(header[28..], SampleRate); // bytes per second
        BinaryPrimitives.WriteInt16LittleEndian(header[32..], 1); // block align
        BinaryPrimitives.WriteInt16LittleEndian(header[34..], 8); // bits per sample
        "data"u8.CopyTo(header[36..]);
        BinaryPrimitives.WriteInt32LittleEndian(header[40..], samples);

        var phase = 0.0;
        for (var i = 0; i < samples; i++)
        {
            var withinSecond = i % SampleRate / (double)SampleRate;
            phase += 2 * Math.PI * (220 + 440 * withinSecond) / SampleRate;
            wave[44 + i] = (byte)(128 + 40 * Math.Sin(phase));
        }

        return wave;
    }
}
