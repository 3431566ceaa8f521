using System.Text.Json;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.HubSpot;

namespace FunctionsRelay.Local.Demo;

/// <summary>The HubSpot events of the most recent sessions this process delivered (or, in dry-run, would have), for the demo page.</summary>
public sealed class SentEventLog(TimeProvider time) : IDeliveryObserver
{
    public const int MaxSessions = 50;

    private readonly Lock _lock = new();
    private readonly LinkedList<SentSession> _sessions = new();

    public void Delivered(long portalId, string sessionId, PendingEvent pending)
    {
        using var payload = JsonDocument.Parse(pending.Payload);
        var entry = new SentEvent(pending.Key, pending.Kind.ToString(), payload.RootElement.Clone(), time.GetUtcNow());
        lock (_lock)
        {
            var session = _sessions.FirstOrDefault(s => s.PortalId == portalId && s.SessionId == sessionId);
            if (session is null)
            {
                session = new SentSession(portalId, sessionId, []);
                if (_sessions.Count == MaxSessions)
                    _sessions.RemoveLast();
            }
            else
            {
                _sessions.Remove(session);
            }

            _sessions.AddFirst(session);
            if (session.Events.All(e => e.Key != entry.Key))
                session.Events.Add(entry);
        }
    }

    /// <summary>Newest first, each with its events in the order they were sent.</summary>
    public IReadOnlyList<SentSession> Recent()
    {
        lock (_lock)
            return _sessions.Select(s => s with { Events = [.. s.Events] }).ToList();
    }
}

public sealed record SentSession(long PortalId, string SessionId, List<SentEvent> Events);

public sealed record SentEvent(string Key, string Kind, JsonElement Payload, DateTimeOffset SentAt);
