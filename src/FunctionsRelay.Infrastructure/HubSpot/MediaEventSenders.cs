using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FunctionsRelay.Domain.HubSpot;
using FunctionsRelay.Domain.Sessions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

public enum DeliveryOutcome
{
    Delivered,

    /// <summary>Not now (rate limit, outage): keep the event and try again after <see cref="DeliveryResult.RetryAfter"/>.</summary>
    RetryLater,

    /// <summary>
    /// The portal has no usable token (never installed, uninstalled, or its refresh token refused): keep the event and try
    /// again after <see cref="DeliveryResult.RetryAfter"/>, until <see cref="HubSpotOptions.GiveUpWithoutTokenAfter"/>.
    /// </summary>
    NoToken,

    /// <summary>HubSpot refused the event itself (a 4xx other than 401 and 429): dead-letter it, never retry it.</summary>
    Rejected,
}

public sealed record DeliveryResult(DeliveryOutcome Outcome, TimeSpan RetryAfter = default, int Status = 0, string? Answer = null)
{
    public static readonly DeliveryResult Delivered = new(DeliveryOutcome.Delivered);

    public static DeliveryResult Later(TimeSpan delay, string reason) => new(DeliveryOutcome.RetryLater, delay, Answer: reason);

    public static DeliveryResult WithoutToken(TimeSpan delay, string reason) => new(DeliveryOutcome.NoToken, delay, Answer: reason);
}

/// <summary>Sends one decided event of a session to HubSpot (or, in dry-run, to a file).</summary>
public interface IMediaEventSender
{
    Task<DeliveryResult> SendAsync(long portalId, string sessionId, PendingEvent pending, CancellationToken cancellationToken);
}

/// <summary>
/// Keeps each portal below HubSpot's limit for OAuth apps (100-110 requests per 10 s per account): a sliding window of
/// <see cref="HubSpotOptions.RequestsPerTenSeconds"/>, paused when HubSpot says the window is spent or answers 429.
/// </summary>
public sealed class HubSpotPacer(IOptions<HubSpotOptions> options, TimeProvider time)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<long, PortalWindow> _portals = new();

    /// <summary>How long to wait before the next request for this portal may go; reserves a slot when it returns zero.</summary>
    public TimeSpan Reserve(long portalId)
    {
        var window = _portals.GetOrAdd(portalId, _ => new PortalWindow());
        var now = time.GetUtcNow();
        lock (window)
        {
            if (window.PausedUntil > now)
                return window.PausedUntil - now;
            while (window.Sent.Count > 0 && now - window.Sent.Peek() >= Window)
                window.Sent.Dequeue();
            if (window.Sent.Count >= options.Value.RequestsPerTenSeconds)
                return window.Sent.Peek() + Window - now;
            window.Sent.Enqueue(now);
            return TimeSpan.Zero;
        }
    }

    public void Pause(long portalId, TimeSpan duration)
    {
        var window = _portals.GetOrAdd(portalId, _ => new PortalWindow());
        var until = time.GetUtcNow() + duration;
        lock (window)
        {
            if (until > window.PausedUntil)
                window.PausedUntil = until;
        }
    }

    private sealed class PortalWindow
    {
        public Queue<DateTimeOffset> Sent { get; } = new();

        public DateTimeOffset PausedUntil { get; set; }
    }
}

/// <summary>Posts events to HubSpot's Media Bridge v2 endpoints with the portal's OAuth token.</summary>
public sealed class HubSpotMediaEventSender(
    HttpClient http,
    TokenService tokens,
    HubSpotPacer pacer,
    IOptions<HubSpotOptions> options,
    TimeProvider time,
    ILogger<HubSpotMediaEventSender> logger) : IMediaEventSender
{
    private const int MaxInlineAttempts = 3;

    public async Task<DeliveryResult> SendAsync(long portalId, string sessionId, PendingEvent pending, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var token = await tokens.GetAccessTokenAsync(portalId, cancellationToken);
        if (token is null)
            return DeliveryResult.WithoutToken(settings.NoTokenRetryDelay, "the portal has no usable token");

        var refreshed = false;
        for (var attempt = 1; ; attempt++)
        {
            var wait = pacer.Reserve(portalId);
            if (wait > settings.MaxInlineRetryAfter || (wait > TimeSpan.Zero && attempt >= MaxInlineAttempts))
                return DeliveryResult.Later(wait, "pacing below HubSpot's rate limit");
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, time, cancellationToken);
                continue;
            }

            HttpResponseMessage response;
            try
            {
                response = await PostAsync(pending, token, cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or Polly.Timeout.TimeoutRejectedException && !cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("HubSpot could not be reached for {EventKey} of session {SessionId} ({Reason})", pending.Key, sessionId, ex.Message);
                return DeliveryResult.Later(settings.OutageRetryDelay, "HubSpot could not be reached");
            }

            using (response)
            {
                ObserveRateLimitHeaders(portalId, response);
                switch (response.StatusCode)
                {
                    case var status when (int)status is >= 200 and < 300:
                        return DeliveryResult.Delivered;

                    case HttpStatusCode.Unauthorized when !refreshed:
                        refreshed = true;
                        token = await tokens.ReplaceRejectedTokenAsync(portalId, token, cancellationToken);
                        if (token is null)
                            return DeliveryResult.WithoutToken(settings.NoTokenRetryDelay, "the portal's token was refused and could not be refreshed");
                        continue;

                    case HttpStatusCode.Unauthorized:
                        return DeliveryResult.WithoutToken(settings.NoTokenRetryDelay, "HubSpot refused the portal's fresh token");

                    case HttpStatusCode.TooManyRequests:
                        var retryAfter = RetryAfterOf(response) ?? TimeSpan.FromSeconds(10);
                        pacer.Pause(portalId, retryAfter);
                        logger.LogInformation("HubSpot answered 429 for portal {PortalId}; waiting {RetryAfter}", portalId, retryAfter);
                        if (retryAfter > settings.MaxInlineRetryAfter || attempt >= MaxInlineAttempts)
                            return DeliveryResult.Later(retryAfter, "HubSpot's rate limit (429)");
                        continue;

                    case var status when (int)status >= 500:
                        return DeliveryResult.Later(settings.OutageRetryDelay, $"HubSpot answered {(int)status}");

                    default:
                        var answer = await response.Content.ReadAsStringAsync(cancellationToken);
                        return new DeliveryResult(DeliveryOutcome.Rejected, Status: (int)response.StatusCode, Answer: answer.Length > 8000 ? answer[..8000] : answer);
                }
            }
        }
    }

    private async Task<HttpResponseMessage> PostAsync(PendingEvent pending, string token, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, MediaEventRoutes.PathOf(pending.Kind))
        {
            Content = new StringContent(pending.Payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await http.SendAsync(request, cancellationToken);
    }

    private void ObserveRateLimitHeaders(long portalId, HttpResponseMessage response)
    {
        if (HeaderNumber(response, "X-HubSpot-RateLimit-Remaining") is <= 0
            && HeaderNumber(response, "X-HubSpot-RateLimit-Interval-Milliseconds") is { } interval and > 0)
        {
            pacer.Pause(portalId, TimeSpan.FromMilliseconds(interval));
        }
    }

    private static long? HeaderNumber(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values)
        && long.TryParse(values.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var number)
            ? number
            : null;

    private TimeSpan? RetryAfterOf(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - time.GetUtcNow() is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
        _ => null,
    };
}

/// <summary>With no HubSpot app configured: logs each event and appends it as a JSON line to a file, and sends nothing.</summary>
public sealed class DryRunMediaEventSender(IOptions<HubSpotOptions> options, ILogger<DryRunMediaEventSender> logger) : IMediaEventSender, IDisposable
{
    private readonly SemaphoreSlim _fileLock = new(1, 1);

    public void Dispose() => _fileLock.Dispose();

    public async Task<DeliveryResult> SendAsync(long portalId, string sessionId, PendingEvent pending, CancellationToken cancellationToken)
    {
        var path = MediaEventRoutes.PathOf(pending.Kind);
        logger.LogInformation("Dry run: would POST {Path} for portal {PortalId}, session {SessionId}: {Payload}", path, portalId, sessionId, pending.Payload);
        using var payload = JsonDocument.Parse(pending.Payload);
        var line = JsonSerializer.Serialize(new DryRunLine(portalId, sessionId, pending.Key, path, payload.RootElement), JsonSerializerOptions.Web) + "\n";
        var file = Path.GetFullPath(options.Value.DryRunFile);
        await _fileLock.WaitAsync(cancellationToken);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await File.AppendAllTextAsync(file, line, cancellationToken);
        }
        finally
        {
            _fileLock.Release();
        }

        return DeliveryResult.Delivered;
    }

    private sealed record DryRunLine(long PortalId, string SessionId, string Event, string Path, JsonElement Payload);
}
