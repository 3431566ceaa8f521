using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace FunctionsRelay.Testing;

/// <summary>One telemetry item Application Insights took in: its kind (<c>Message</c>, <c>RemoteDependency</c>, ...) and its <c>baseData</c>.</summary>
public sealed record TelemetryItem(string Name, JsonElement BaseData)
{
    /// <summary>A log line's text as Application Insights keeps it in <c>traces.message</c>.</summary>
    public string? Message => BaseData.TryGetProperty("message", out var message) ? message.GetString() : null;
}

/// <summary>
/// A loopback server standing in for Application Insights' ingestion endpoint, where the Azure Monitor exporter posts
/// (<c>POST {IngestionEndpoint}/v2.1/track</c>: newline-delimited JSON envelopes, gzip-compressed). It keeps each item
/// and answers as the endpoint does (<c>itemsReceived</c>, <c>itemsAccepted</c>).
/// </summary>
public sealed class FakeApplicationInsights : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeApplicationInsights(WebApplication app) => _app = app;

    public ConcurrentQueue<TelemetryItem> Items { get; } = new();

    /// <summary>What a relay sets as <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> to send here.</summary>
    public string ConnectionString { get; private set; } = "";

    public IEnumerable<string> Messages => Items.Where(item => item.Name.EndsWith("Message", StringComparison.Ordinal)).Select(item => item.Message ?? "");

    public static async Task<FakeApplicationInsights> StartAsync()
    {
        var app = LoopbackApp.Create();
        var fake = new FakeApplicationInsights(app);
        app.MapPost("/v2.1/track", fake.TrackAsync);
        app.MapPost("/v2/track", fake.TrackAsync);
        await app.StartAsync();
        fake.ConnectionString = $"InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint={LoopbackApp.BaseUrlOf(app)}";
        return fake;
    }

    private async Task<IResult> TrackAsync(HttpRequest request)
    {
        Stream body = request.Body;
        if (request.Headers.ContentEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
            body = new GZipStream(request.Body, CompressionMode.Decompress);
        using var reader = new StreamReader(body);
        var received = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Trim().Length == 0)
                continue;
            using var envelope = JsonDocument.Parse(line);
            var root = envelope.RootElement;
            Items.Enqueue(new TelemetryItem(root.GetProperty("name").GetString() ?? "", root.GetProperty("data").GetProperty("baseData").Clone()));
            received++;
        }

        return Results.Json(new { itemsReceived = received, itemsAccepted = received, errors = Array.Empty<object>() });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
