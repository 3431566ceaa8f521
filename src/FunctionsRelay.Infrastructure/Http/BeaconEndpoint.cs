using System.Net;
using System.Net.Http.Headers;
using Azure;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Ingest;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Http;

/// <summary>
/// <c>POST /api/beacons</c> and its CORS preflight, as both hosts serve them: 202 with the count accepted, 400 with the
/// field errors, 413 for a body over the limit, 415 for a content type other than JSON or text, 503 when storage is down.
/// </summary>
public sealed class BeaconEndpoint(
    BeaconIngestService ingest,
    PortalAccessCheck access,
    IngestRateLimits rates,
    IOptions<BeaconLimits> limits,
    IOptions<RelayOptions> relay,
    RelayMetrics metrics,
    MissingStorage missing,
    ILogger<BeaconEndpoint> logger)
{
    public const string Route = "beacons";

    /// <summary>Where mParticle's Webhook output posts a workspace's event batches (the POST URL of its settings).</summary>
    public const string MParticleRoute = "sources/mparticle";

    public async Task<IResult> PostAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (await AllowOriginAsync(request, cancellationToken))
            request.HttpContext.Response.Headers.AccessControlExposeHeaders = "Retry-After";
        var credentials = CredentialsOf(request) with { Address = ClientAddress(request) };
        return await HandleAsync(request, trusted: credentials.SecretKey is not null, beforeBody: null, async body =>
        {
            var result = await ingest.IngestAsync(body, credentials, cancellationToken);
            return (result, new { accepted = result.Accepted, ignored = result.Ignored });
        }, cancellationToken);
    }

    /// <summary>
    /// <c>POST /api/sources/mparticle</c>: event batches as mParticle's Webhook output sends them, its <c>Authorization</c>
    /// header one of the portal's secret source keys. The answers are an output's: 202 taken; 400, 401, 403, 413 and 415
    /// for a request that can never be taken (an output does not retry them); 429 and 503 for one to send again.
    /// </summary>
    public Task<IResult> PostMParticleAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var secretKey = SecretSourceKeys.FromAuthorization(request.Headers.Authorization);
        long portalId = 0;
        return HandleAsync(
            request,
            trusted: true,
            beforeBody: async () =>
            {
                (portalId, var refused) = await ingest.SourceAsync(secretKey, cancellationToken);
                return refused;
            },
            async body =>
            {
                var result = await ingest.IngestMParticleAsync(body, portalId, secretKey!, cancellationToken);
                return (result, new { accepted = result.Accepted, ignored = result.Ignored, batchesWithoutMedia = result.BatchesWithoutMedia });
            },
            cancellationToken);
    }

    /// <param name="trusted">A backend's request (a secret source key): its body may be up to <c>Beacons__MaxSourceBodyBytes</c>.</param>
    /// <param name="beforeBody">What refuses the request before its body is read (a source's key), if anything does.</param>
    private async Task<IResult> HandleAsync<TAnswer>(
        HttpRequest request,
        bool trusted,
        Func<Task<IngestResult?>>? beforeBody,
        Func<ReadOnlyMemory<byte>, Task<(IngestResult Result, TAnswer Accepted)>> ingestBody,
        CancellationToken cancellationToken)
    {
        var address = ClientAddress(request);
        if (rates.AddressMustWait(address) is { } wait)
        {
            metrics.RequestRefused("rate_address");
            return TooMany(request, wait, $"rate: more than {limits.Value.RequestsPerMinutePerAddress} requests a minute from {address}");
        }

        if (!IsAcceptedContentType(request.ContentType))
        {
            metrics.RequestRefused("unsupported_media_type");
            return Errors(
                StatusCodes.Status415UnsupportedMediaType,
                $"Content-Type: must be application/json or text/plain (got {(string.IsNullOrEmpty(request.ContentType) ? "none" : request.ContentType)})");
        }

        try
        {
            if (beforeBody is not null && await beforeBody() is { } refused)
                return Answer(request, refused, accepted: (object?)null);

            var maxBytes = limits.Value.MaxBodyBytesFor(trusted);
            if (request.ContentLength > maxBytes)
            {
                metrics.RequestRefused("too_large");
                return TooLarge(request.ContentLength.Value, maxBytes);
            }

            var body = await ReadUpToAsync(request.Body, maxBytes + 1, cancellationToken);
            if (body.Length > maxBytes)
            {
                metrics.RequestRefused("too_large");
                return TooLarge(body.Length, maxBytes, orMore: true);
            }

            var (result, accepted) = await ingestBody(body);
            return Answer(request, result, accepted);
        }
        catch (Exception ex) when (MissingStorage.IsMissing(ex) && !cancellationToken.IsCancellationRequested)
        {
            metrics.RequestRefused("storage_missing");
            request.HttpContext.Response.Headers.RetryAfter = "30";
            return Errors(StatusCodes.Status503ServiceUnavailable, $"storage: {await missing.DescribeAsync(cancellationToken)} in the relay's storage; send the beacons again later");
        }
        catch (Exception ex) when (StorageClients.RefusesContent(ex) && !cancellationToken.IsCancellationRequested)
        {
            var refusal = ex as RequestFailedException ?? (RequestFailedException)((AggregateException)ex).InnerExceptions[0];
            logger.LogWarning("Storage refused to queue a request's beacons ({Status} {ErrorCode}); the request is refused, not to be sent again", refusal.Status, refusal.ErrorCode);
            metrics.RequestRefused("storage_refused");
            return Errors(
                refusal.Status == StatusCodes.Status413PayloadTooLarge ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest,
                $"storage: refused to keep these beacons ({refusal.ErrorCode ?? refusal.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)}); sending them again would be refused again");
        }
        catch (Exception ex) when (StorageClients.IsUnavailable(ex) && !cancellationToken.IsCancellationRequested)
        {
            logger.LogError(ex, "Storage is unavailable to ingest ({Status})", (ex as RequestFailedException)?.Status.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no answer");
            metrics.RequestRefused("storage_unavailable");
            request.HttpContext.Response.Headers.RetryAfter = "5";
            return Errors(StatusCodes.Status503ServiceUnavailable, "storage: the relay's storage is unavailable; send the beacons again shortly");
        }
    }

    private static IResult Answer<TAnswer>(HttpRequest request, IngestResult result, TAnswer accepted)
    {
        if (result.Status == StatusCodes.Status429TooManyRequests)
            return TooMany(request, result.RetryAfter, result.Errors[0]);
        return result.IsValid
            ? Results.Json(accepted, statusCode: StatusCodes.Status202Accepted)
            : Results.Json(new { errors = result.Errors }, statusCode: result.Status);
    }

    /// <summary>The portal's key as the <c>X-Relay-Key</c> header, or as <c>?key=</c> (what <c>sendBeacon</c>, which sets no headers, can carry).</summary>
    public const string KeyHeader = "X-Relay-Key";

    /// <summary>
    /// A player's publishable key and page origin, or a backend's secret source key in <c>Authorization</c> (no browser
    /// sends that header here: the preflight does not allow it). With a publishable key, an <c>Authorization</c> that is
    /// no secret key (a proxy's own credentials) is not taken for one.
    /// </summary>
    private static BeaconCredentials CredentialsOf(HttpRequest request)
    {
        var key = request.Headers[KeyHeader].ToString() is { Length: > 0 } header ? header : request.Query["key"].ToString();
        var secret = SecretSourceKeys.FromAuthorization(request.Headers.Authorization);
        return new BeaconCredentials(
            key.Length > 0 ? key : null,
            request.Headers.Origin.ToString() is { Length: > 0 } origin ? origin : null,
            $"{request.Scheme}://{request.Host}",
            secret is { Length: > 0 } && (key.Length == 0 || secret.StartsWith(SecretSourceKeys.Prefix, StringComparison.Ordinal)) ? secret : null);
    }

    /// <summary>
    /// Answers a CORS preflight: origins the relay allows, or the portal named by <c>?portalId=</c> (the player script adds
    /// it) allows, may POST with a Content-Type and a key header. The POST itself is checked against the portals its
    /// beacons name; this only lets the page's browser send it and read the answer, 429's Retry-After included.
    /// </summary>
    public async Task<IResult> PreflightAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (!await AllowOriginAsync(request, cancellationToken))
            return Results.StatusCode(StatusCodes.Status403Forbidden);
        var headers = request.HttpContext.Response.Headers;
        headers.AccessControlAllowMethods = "POST, OPTIONS";
        headers.AccessControlAllowHeaders = $"Content-Type, {KeyHeader}";
        headers.AccessControlMaxAge = "86400";
        return Results.NoContent();
    }

    private async Task<bool> AllowOriginAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var origin = request.Headers.Origin.ToString();
        if (string.IsNullOrEmpty(origin))
            return false;
        var allowed = relay.Value.AllowedOrigins;
        var headers = request.HttpContext.Response.Headers;
        if (allowed.Contains("*"))
        {
            headers.AccessControlAllowOrigin = "*";
            return true;
        }

        headers.Vary = "Origin";
        if (!allowed.Contains(origin, StringComparer.OrdinalIgnoreCase)
            && !(long.TryParse(request.Query["portalId"], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var portalId)
                 && await access.AllowsOriginAsync(portalId, origin, cancellationToken)))
            return false;
        headers.AccessControlAllowOrigin = origin;
        return true;
    }

    private static bool IsAcceptedContentType(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var parsed)
        && parsed.MediaType is { } mediaType
        && (mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("text/plain", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));

    internal static async Task<ReadOnlyMemory<byte>> ReadUpToAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while (buffer.Length < limit && (read = await body.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, limit - buffer.Length)), cancellationToken)) > 0)
            buffer.Write(chunk, 0, read);
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    /// <summary>
    /// The client's address as the rate limits key it: the last entry of <c>X-Forwarded-For</c> that is not this machine
    /// (Azure's front end appends the address the connection came from, with its port, <c>203.0.113.5:51234</c> or
    /// <c>[2001:db8::1]:51234</c>; entries before it are the client's to choose; a loopback hop after it is the Functions
    /// host passing the request on), else the connection's own. Without its port, and an IPv6 client by its /64, which one
    /// subscriber holds whole.
    /// </summary>
    private static string ClientAddress(HttpRequest request)
    {
        var forwarded = request.Headers["X-Forwarded-For"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var entry in forwarded.Reverse())
        {
            // An entry that is no address is not the front end's: the ones before it are the client's own, not trusted.
            if (ParseAddress(entry) is not { } address)
                break;
            if (!IPAddress.IsLoopback(address))
                return KeyOf(address);
        }

        return request.HttpContext.Connection.RemoteIpAddress is { } remote ? KeyOf(remote) : "unknown";
    }

    private static IPAddress? ParseAddress(string entry)
    {
        if (IPAddress.TryParse(entry, out var plain))
            return plain;
        // With a port: "a.b.c.d:port" or "[v6]:port".
        var colon = entry.LastIndexOf(':');
        var host = colon > 0 ? entry[..colon].Trim('[', ']') : entry;
        return IPAddress.TryParse(host, out var withPort) ? withPort : null;
    }

    private static string KeyOf(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            return address.ToString();
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    private static IResult TooMany(HttpRequest request, TimeSpan wait, string error)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        request.HttpContext.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Errors(StatusCodes.Status429TooManyRequests, $"{error}; send again after {seconds} s");
    }

    private static IResult TooLarge(long size, int maxBytes, bool orMore = false) =>
        Errors(StatusCodes.Status413PayloadTooLarge, $"body: is {size}{(orMore ? " or more" : "")} bytes; at most {maxBytes} are accepted");

    private static IResult Errors(int status, string error) => Results.Json(new { errors = new[] { error } }, statusCode: status);
}
