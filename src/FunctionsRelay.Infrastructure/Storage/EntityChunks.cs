using Azure.Data.Tables;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>
/// Bytes longer than one table property may hold (64 KiB) kept in several binary properties of one entity:
/// <c>P0</c>, <c>P1</c>, ... (an entity holds 1 MiB in all).
/// </summary>
internal static class EntityChunks
{
    private const int ChunkBytes = 64 * 1024;

    public static void Split(TableEntity entity, string prefix, byte[] bytes)
    {
        var chunks = Math.Max(1, (bytes.Length + ChunkBytes - 1) / ChunkBytes);
        for (var i = 0; i < chunks; i++)
        {
            var start = i * ChunkBytes;
            entity[prefix + i] = bytes.AsSpan(start, Math.Min(ChunkBytes, bytes.Length - start)).ToArray();
        }
    }

    public static byte[] Join(TableEntity entity, string prefix)
    {
        var parts = new List<byte[]>();
        for (var i = 0; entity.TryGetValue(prefix + i, out var part) && part is byte[] bytes; i++)
            parts.Add(bytes);
        return parts.Count == 1 ? parts[0] : parts.SelectMany(part => part).ToArray();
    }
}
