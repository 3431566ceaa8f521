using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.HubSpot;

/// <summary>HubSpot's answer to a call: delivered (2xx, with its body), or what to do instead.</summary>
public sealed record HubSpotAnswer(DeliveryResult Result, string? Body = null)
{
    public bool Succeeded => Result.Outcome == DeliveryOutcome.Delivered;
}

/// <summary>
/// Calls HubSpot's API for a portal with its OAuth token, every call alike: paced below the portal's rate limit, a 401
/// answered by refreshing the token once, a short 429 waited out inline and a long one handed back as "later", 5xx and
/// unreachable as "later" (after the transient retries of the HTTP pipeline), any other 4xx as a rejection with HubSpot's
/// answer.
/// </summary>
public sealed class HubSpotClient(
    HttpClient http,
    TokenService tokens,
    HubSpotPacer pacer,
    RelayMetrics metrics,
    IOptions<HubSpotOptions> options,
    TimeProvider time,
    ILogger<HubSpotClient> logger)
{
    private const int MaxInlineAttempts = 3;
    private const int MaxAnswerLength = 8000;

    /// <summary>
    /// Sends one call. With <paramref name="answerBy"/> (the end of the delivery lease the call is made under) the whole
    /// call, token refresh, 401 resend and pacer waits included, ends before then: a request is only started if its
    /// answer is due in time, anything that would wait past it is handed back as "later", and a repeatable request (a
    /// GET and its retries) still under way then is cut off. So no other worker takes over a session while this one is
    /// still sending its event.
    /// </summary>
    public async Task<HubSpotAnswer> SendAsync(
        long portalId,
        HttpMethod method,
        string path,
        string? json,
        CancellationToken cancellationToken,
        DateTimeOffset? answerBy = null,
        CallPriority priority = CallPriority.Played)
    {
        using var timeLeft = answerBy is { } by ? new CancellationTokenSource(Max(by - time.GetUtcNow(), TimeSpan.Zero), time) : null;
        using var bounded = timeLeft is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeLeft.Token);
        try
        {
            return await SendBoundedAsync(portalId, method, path, json, answerBy, priority, bounded?.Token ?? cancellationToken);
        }
        catch (OperationCanceledException) when (timeLeft is { IsCancellationRequested: true } && !cancellationToken.IsCancellationRequested)
        {
            return new(LeaseEnds);
        }
    }

    /// <summary>Soon enough for the next worker, which takes the lease once this one hands it back.</summary>
    private static readonly DeliveryResult LeaseEnds = DeliveryResult.Later(TimeSpan.FromSeconds(1), "the delivery lease would end before HubSpot answered: handed back");

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private async Task<HubSpotAnswer> SendBoundedAsync(
        long portalId, HttpMethod method, string path, string? json, DateTimeOffset? answerBy, CallPriority priority, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var token = await tokens.GetAccessTokenAsync(portalId, cancellationToken);
        if (token is null)
            return new(DeliveryResult.WithoutToken(settings.NoTokenRetryDelay, "the portal has no usable token"));

        var refreshed = false;
        // Waits for the pace, together: short ones (the shared bucket's fill) are waited out here up to
        // HubSpot__MaxInlineRetryAfter, and past that the call goes back to the queue for as long as it has waited here
        // and its next wait: a budget that many calls contend for, which asking again sooner only asks again.
        var waited = TimeSpan.Zero;
        for (var attempt = 0; ; )
        {
            if (answerBy is { } by && time.GetUtcNow() + settings.RequestTimeout > by)
                return new(LeaseEnds);
            var wait = await pacer.ReserveAsync(portalId, priority, cancellationToken);
            if (waited + wait > settings.MaxInlineRetryAfter
                || (wait > TimeSpan.Zero && answerBy is { } deadline && time.GetUtcNow() + wait + settings.RequestTimeout > deadline))
                return new(DeliveryResult.Later(waited + wait, "pacing below HubSpot's rate limit"));
            if (wait > TimeSpan.Zero)
            {
                waited += wait;
                await Task.Delay(wait, time, cancellationToken);
                continue;
            }

            attempt++;

            HttpResponseMessage response;
            try
            {
                using var request = new HttpRequestMessage(method, path);
                if (json is not null)
                    request.Content = new StringContent(json, Encoding.UTF8, "application/json");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                response = await http.SendAsync(request, cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or Polly.Timeout.TimeoutRejectedException && !cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "HubSpot could not be reached for {Method} {Path} of portal {PortalId}", method, UtkRedaction.Redact(path), portalId);
                metrics.HubSpotAnswered(portalId, null);
                return new(DeliveryResult.Later(settings.OutageRetryDelay, "HubSpot could not be reached"));
            }

            using (response)
            {
                metrics.HubSpotAnswered(portalId, (int)response.StatusCode);
                await ObserveRateLimitHeadersAsync(portalId, response, cancellationToken);
                switch (response.StatusCode)
                {
                    case var status when (int)status is >= 200 and < 300:
                        return new(DeliveryResult.Delivered, await response.Content.ReadAsStringAsync(cancellationToken));

                    case HttpStatusCode.Unauthorized when !refreshed:
                        refreshed = true;
                        token = await tokens.ReplaceRejectedTokenAsync(portalId, token, cancellationToken);
                        if (token is null)
                            return new(DeliveryResult.WithoutToken(settings.NoTokenRetryDelay, "the portal's token was refused and could not be refreshed"));
                        continue;

                    case HttpStatusCode.Unauthorized:
                        return new(DeliveryResult.WithoutToken(settings.NoTokenRetryDelay, "HubSpot refused the portal's fresh token"));

                    case HttpStatusCode.TooManyRequests:
                        var retryAfter = RetryAfterOf(response) ?? TimeSpan.FromSeconds(10);
                        await pacer.PauseAsync(portalId, retryAfter, cancellationToken);
                        logger.LogInformation("HubSpot answered 429 for portal {PortalId}; waiting {RetryAfter}", portalId, retryAfter);
                        if (retryAfter > settings.MaxInlineRetryAfter || attempt >= MaxInlineAttempts)
                            return new(DeliveryResult.Later(retryAfter, "HubSpot's rate limit (429)"));
                        continue;

                    case var status when (int)status >= 500:
                        return new(DeliveryResult.Later(settings.OutageRetryDelay, $"HubSpot answered {(int)status}"));

                    default:
                        var answer = await response.Content.ReadAsStringAsync(cancellationToken);
                        return new(new DeliveryResult(
                            DeliveryOutcome.Rejected,
                            Status: (int)response.StatusCode,
                            Answer: answer.Length > MaxAnswerLength ? answer[..MaxAnswerLength] : answer));
                }
            }
        }
    }

    /// <summary>
    /// HubSpot says on every answer what is left of the account's window, for every caller of the account (others than
    /// the relay too). None left: the next call would be answered 429, so the portal waits (here and, through the shared
    /// bucket, everywhere) for about two slots of the window to free up, <c>2 × interval / max</c>; a 429 that comes
    /// all the same says how long with its Retry-After. Not the whole interval: in a rolling window slots free up one
    /// by one, and pausing 10 s at every "0 left" cost a quarter of the budget in the multi-instance load test.
    /// </summary>
    private async ValueTask ObserveRateLimitHeadersAsync(long portalId, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (HeaderNumber(response, "X-HubSpot-RateLimit-Remaining") is <= 0
            && HeaderNumber(response, "X-HubSpot-RateLimit-Interval-Milliseconds") is { } interval and > 0)
        {
            var max = HeaderNumber(response, "X-HubSpot-RateLimit-Max") is { } limit and > 0 ? limit : 1;
            await pacer.PauseAsync(portalId, TimeSpan.FromMilliseconds(2.0 * interval / max), cancellationToken);
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
