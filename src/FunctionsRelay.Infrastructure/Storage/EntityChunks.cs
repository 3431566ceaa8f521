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

    /// <summary>
    /// An entity's size, counted as the stricter of what Table Storage documents against its 1 MiB (4 bytes, the keys in
    /// UTF-16, each property's name in UTF-16 with 8 bytes and its value, binary as its bytes) and what goes on the wire,
    /// which Azurite measures (binary values in base64, each with its type annotation).
    /// </summary>
    public static long SizeOf(TableEntity entity)
    {
        long size = 4 + ((entity.PartitionKey.Length + entity.RowKey.Length) * 2);
        foreach (var (name, value) in entity)
        {
            if (name is "PartitionKey" or "RowKey" or "Timestamp" or "odata.etag")
                continue;
            size += 8 + (name.Length * 2) + value switch
            {
                byte[] bytes => 40 + (((bytes.Length + 2) / 3) * 4),
                string text => 4 + (text.Length * 2),
                bool => 1,
                int => 4,
                long or double or DateTimeOffset or DateTime => 8,
                null => 0,
                _ => 16,
            };
        }

        return size;
    }
}
