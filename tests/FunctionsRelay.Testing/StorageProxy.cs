using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.Testing;

/// <summary>
/// A reverse proxy in front of Azurite's queue and table endpoints that counts every request by kind ("queue put",
/// "table merge", ...): each one is a storage transaction on Azure's bill. It stays up while Azurite restarts behind it
/// (answering 502 meanwhile), and fails requests on demand, as storage under trouble would.
/// </summary>
public sealed class StorageProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private HttpClient _upstream = NewUpstream();
    private volatile bool _disconnected;

    private readonly ConcurrentDictionary<string, long> _counts = new();
    private readonly ConcurrentDictionary<string, long> _countsByResource = new();
    private readonly ConcurrentDictionary<string, long> _upstreamTicks = new();
    private readonly Dictionary<int, int> _upstreamPorts;
    private readonly List<(Func<string, bool> Matches, int Status, bool AfterForwarding)> _failures = [];

    private StorageProxy(WebApplication app, Dictionary<int, int> upstreamPorts)
    {
        _app = app;
        _upstreamPorts = upstreamPorts;
    }

    public int QueuePort { get; private init; }

    public int TablePort { get; private init; }

    public string ConnectionString => AzuriteProcess.ConnectionStringFor(QueuePort, TablePort);

    /// <summary>A proxy to the queue and table endpoints listening on the given loopback ports.</summary>
    public static async Task<StorageProxy> StartAsync(int upstreamQueuePort, int upstreamTablePort)
    {
        var (queuePort, tablePort) = (Ports.Free(), Ports.Free());
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, queuePort);
            kestrel.Listen(IPAddress.Loopback, tablePort);
            kestrel.Limits.MaxRequestBodySize = null;
        });
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var proxy = new StorageProxy(app, new() { [queuePort] = upstreamQueuePort, [tablePort] = upstreamTablePort })
        {
            QueuePort = queuePort,
            TablePort = tablePort,
        };
        app.Run(proxy.ForwardAsync);
        await app.StartAsync();
        return proxy;
    }

    /// <summary>
    /// Cuts the storage off, as a network failure would: every request is answered 502 from now on, and the connections
    /// to Azurite are closed (requests in flight lose their answers), so that Azurite, left without clients, can stop cleanly.
    /// </summary>
    public void Disconnect()
    {
        _disconnected = true;
        Interlocked.Exchange(ref _upstream, NewUpstream()).Dispose();
    }

    public void Reconnect() => _disconnected = false;

    /// <summary>Answers the next <paramref name="count"/> requests of a kind the predicate matches with <paramref name="status"/>, without passing them on.</summary>
    public void FailNext(Func<string, bool> kind, int count, int status = StatusCodes.Status503ServiceUnavailable) =>
        AddFailures(kind, count, status, afterForwarding: false);

    /// <summary>Passes the next request of a kind on, then answers 503 in place of Azurite's answer: done, but the client cannot know.</summary>
    public void LoseAnswerOfNext(Func<string, bool> kind) => AddFailures(kind, 1, StatusCodes.Status503ServiceUnavailable, afterForwarding: true);

    /// <summary>Sees every request by kind, before and after Azurite serves it (<see cref="CallInterceptor"/>).</summary>
    public CallInterceptor? Interceptor { get; set; }

    /// <summary>
    /// The messages put on queues whose name starts with this are also kept in <see cref="Captured"/>, as sent (the
    /// message text, Base64): a test that drives a queue of delayed messages on a fake clock takes them from there, since
    /// storage keeps them out of sight for real time.
    /// </summary>
    public string? CapturePutsTo { get; set; }

    public ConcurrentQueue<(string Queue, string Text)> Captured { get; } = new();

    /// <summary>Counts so far, by kind ("queue put", "table read", ...).</summary>
    public IReadOnlyDictionary<string, long> Snapshot() => new Dictionary<string, long>(_counts);

    /// <summary>Counts so far by kind and queue or table ("table upsert sessions", "queue put beacons", ...): where the transactions go.</summary>
    public IReadOnlyDictionary<string, long> SnapshotByResource() => new Dictionary<string, long>(_countsByResource);

    /// <summary>Mean time Azurite took to answer, by kind, in ms.</summary>
    public IReadOnlyDictionary<string, double> MeanMilliseconds() =>
        _upstreamTicks.ToDictionary(t => t.Key, t => t.Value * 1000.0 / System.Diagnostics.Stopwatch.Frequency / Math.Max(1, _counts.GetValueOrDefault(t.Key)));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
    }

    private async Task ForwardAsync(HttpContext context)
    {
        var request = context.Request;
        var localPort = context.Connection.LocalPort;
        var service = localPort == QueuePort ? "queue" : "table";
        var kind = $"{service} {Kind(service, request)}";
        if (Interceptor is { } before && await before(kind, false))
            return;
        var failure = TakeFailure(kind);
        if (failure is (var status, false))
        {
            _counts.AddOrUpdate($"{kind} failed on purpose ({status})", 1, (_, n) => n + 1);
            context.Response.StatusCode = status;
            return;
        }

        _counts.AddOrUpdate(kind, 1, (_, n) => n + 1);
        _countsByResource.AddOrUpdate($"{kind} {Resource(request.Path.Value)}", 1, (_, n) => n + 1);

        var started = System.Diagnostics.Stopwatch.GetTimestamp();

        using var forward = new HttpRequestMessage(new HttpMethod(request.Method),
            $"http://127.0.0.1:{_upstreamPorts[localPort]}{request.Path}{request.QueryString}");
        var queueName = Resource(request.Path.Value);
        if (kind == "queue put" && CapturePutsTo is { } prefix && queueName.StartsWith(prefix, StringComparison.Ordinal))
        {
            using var sent = new MemoryStream();
            await request.Body.CopyToAsync(sent);
            Captured.Enqueue((queueName, System.Xml.Linq.XDocument.Load(new MemoryStream(sent.ToArray())).Root!.Element("MessageText")!.Value));
            forward.Content = new ByteArrayContent(sent.ToArray());
            forward.Content.Headers.ContentLength = request.ContentLength;
        }
        else if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            // Shared Key signatures cover Content-Length: forward it as sent, not chunked.
            forward.Content = new StreamContent(request.Body);
            forward.Content.Headers.ContentLength = request.ContentLength;
        }
        foreach (var (name, values) in request.Headers)
        {
            if (name is "Host" or "Content-Length" or "Transfer-Encoding" or "Connection")
                continue;
            if (!forward.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
                forward.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
        }

        try
        {
            if (_disconnected)
                throw new HttpRequestException("disconnected");
            using var answer = await _upstream.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
            if (Interceptor is { } after && await after(kind, true))
                return;
            if (failure is (var lostStatus, true))
            {
                _counts.AddOrUpdate($"{kind} answer lost on purpose ({lostStatus})", 1, (_, n) => n + 1);
                context.Response.StatusCode = lostStatus;
                return;
            }

            context.Response.StatusCode = (int)answer.StatusCode;
            // Counted apart (and in the kind's count): a write refused for a changed ETag or an existing row is one more
            // transaction spent on contention.
            if ((int)answer.StatusCode is 409 or 412)
            {
                _counts.AddOrUpdate($"{kind} answered ({(int)answer.StatusCode})", 1, (_, n) => n + 1);
                _countsByResource.AddOrUpdate($"{kind} answered ({(int)answer.StatusCode}) {Resource(request.Path.Value)}", 1, (_, n) => n + 1);
            }

            foreach (var (name, values) in answer.Headers.Concat(answer.Content.Headers))
            {
                if (name is "Transfer-Encoding" or "Connection")
                    continue;
                context.Response.Headers[name] = values.ToArray();
            }

            await answer.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
            _upstreamTicks.AddOrUpdate(kind, System.Diagnostics.Stopwatch.GetTimestamp() - started, (_, t) => t + System.Diagnostics.Stopwatch.GetTimestamp() - started);
        }
        catch (Exception ex) when (ex is HttpRequestException or ObjectDisposedException or IOException
                                   || ex is OperationCanceledException && !context.RequestAborted.IsCancellationRequested)
        {
            // Azurite is down (restarting): answer as a gateway would; the SDK retries 502.
            _counts.AddOrUpdate($"{service} unavailable (502)", 1, (_, n) => n + 1);
            if (!context.Response.HasStarted)
                context.Response.StatusCode = StatusCodes.Status502BadGateway;
        }
    }

    private static HttpClient NewUpstream() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        MaxConnectionsPerServer = 256,
        // Below Node's 5 s keep-alive timeout, so the proxy never reuses a connection Azurite is closing.
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2),
    }) { Timeout = TimeSpan.FromSeconds(100) };

    private void AddFailures(Func<string, bool> kind, int count, int status, bool afterForwarding)
    {
        lock (_failures)
        {
            for (var i = 0; i < count; i++)
                _failures.Add((kind, status, afterForwarding));
        }
    }

    private (int Status, bool AfterForwarding)? TakeFailure(string kind)
    {
        lock (_failures)
        {
            var index = _failures.FindIndex(failure => failure.Matches(kind));
            if (index < 0)
                return null;
            var (_, status, afterForwarding) = _failures[index];
            _failures.RemoveAt(index);
            return (status, afterForwarding);
        }
    }

    /// <summary>The queue or table a request is for: the path's second segment (after the account), up to its key.</summary>
    private static string Resource(string? path)
    {
        var segment = (path ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries).Skip(1).FirstOrDefault() ?? "";
        var key = segment.IndexOf('(');
        return key >= 0 ? segment[..key] : segment;
    }

    private static string Kind(string service, HttpRequest request)
    {
        var path = request.Path.Value ?? "";
        var method = request.Method;
        if (service == "queue")
        {
            if (!path.Contains("/messages", StringComparison.Ordinal))
                return "admin";
            var hasId = !path.EndsWith("/messages", StringComparison.Ordinal);
            return (method, hasId) switch
            {
                ("POST", _) => "put",
                ("GET", _) when request.Query.ContainsKey("peekonly") => "peek",
                ("GET", _) => "get",
                ("DELETE", true) => "delete",
                ("PUT", true) => "update",
                _ => "other",
            };
        }

        if (path.Contains("$batch", StringComparison.Ordinal))
            return "batch";
        if (path.EndsWith("/Tables", StringComparison.OrdinalIgnoreCase) || path.Contains("Tables(", StringComparison.OrdinalIgnoreCase))
            return "admin";
        return method switch
        {
            "GET" => "read",
            "POST" => "insert",
            "PUT" => "upsert",
            "MERGE" or "PATCH" => "merge",
            "DELETE" => "delete",
            _ => "other",
        };
    }
}
