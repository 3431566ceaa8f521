using System.Diagnostics;
using System.Text.Json.Nodes;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Testing;

namespace FunctionsRelay.LoadTest;

public sealed record AuditResult(
    int Sessions,
    int ExpectedEvents,
    int ReceivedEvents,
    int Missing,
    int Mismatched,
    int Unexpected,
    int Duplicates,
    IReadOnlyList<string> Examples,
    IReadOnlyList<(string SessionId, string Key, long FirstTicks, long SecondTicks)> DuplicateTimes)
{
    public bool NothingLost => Missing == 0 && Mismatched == 0 && Unexpected == 0;
}

/// <summary>Every session's events against what the core computes from its beacons: none missing, none different, none twice.</summary>
public static class Audit
{
    public static Dictionary<string, List<PendingEvent>> Expected(IEnumerable<PlannedSession> sessions, SessionOptions options) =>
        sessions.ToDictionary(s => s.SessionId, s => EventPlanner.Replay(s.PortalId, s.SessionId, s.Beacons, options));

    public static AuditResult Check(Dictionary<string, List<PendingEvent>> expected, IEnumerable<ReceivedEvent> received)
    {
        var bySession = received.GroupBy(e => e.SessionId).ToDictionary(g => g.Key, g => g.ToList());
        int missing = 0, mismatched = 0, unexpected = 0, duplicates = 0, receivedCount = 0;
        var examples = new List<string>();
        var duplicateTimes = new List<(string, string, long, long)>();
        foreach (var (sessionId, events) in expected)
        {
            var got = bySession.GetValueOrDefault(sessionId) ?? [];
            receivedCount += got.Count;
            foreach (var pending in events)
            {
                var sameKey = got.Where(e => e.Key == pending.Key).OrderBy(e => e.ReceivedTicks).ToList();
                if (sameKey.Count == 0)
                {
                    missing++;
                    Example(examples, $"missing {sessionId} {pending.Key}");
                    continue;
                }

                if (!sameKey.All(e => e.ProviderPayload == CanonicalJson.Of(pending.Payload)))
                {
                    mismatched++;
                    Example(examples, $"different {sessionId} {pending.Key}: {Differences(pending.Payload, sameKey[0].ProviderPayload)}");
                }

                if (sameKey.Count > 1)
                {
                    duplicates += sameKey.Count - 1;
                    duplicateTimes.Add((sessionId, pending.Key, sameKey[0].ReceivedTicks, sameKey[1].ReceivedTicks));
                }
            }

            foreach (var extra in got.Where(e => events.All(p => p.Key != e.Key)))
            {
                unexpected++;
                Example(examples, $"unexpected {sessionId} {extra.Key}");
            }
        }

        foreach (var (sessionId, events) in bySession.Where(s => !expected.ContainsKey(s.Key)))
        {
            unexpected += events.Count;
            Example(examples, $"unexpected session {sessionId}");
        }

        return new AuditResult(expected.Count, expected.Values.Sum(e => e.Count), receivedCount, missing, mismatched, unexpected, duplicates, examples, duplicateTimes);
    }

    /// <summary>The fields that differ, each as expected -> got, long values cut short.</summary>
    private static string Differences(string expectedPayload, string receivedPayload)
    {
        var expected = JsonNode.Parse(expectedPayload)!.AsObject();
        var got = JsonNode.Parse(receivedPayload)!.AsObject();
        static string Short(JsonNode? value) => value?.ToJsonString() is { Length: > 60 } text ? text[..57] + "..." : value?.ToJsonString() ?? "(none)";
        return string.Join("; ", expected.Select(p => p.Key).Union(got.Select(p => p.Key))
            .Where(name => !JsonNode.DeepEquals(expected[name], got[name]))
            .Select(name => $"{name} {Short(expected[name])} -> {Short(got[name])}"));
    }

    private static void Example(List<string> examples, string example)
    {
        if (examples.Count < 10)
            examples.Add(example);
    }

    /// <summary>p50, p95 and p99 of a set of durations.</summary>
    public static (double P50, double P95, double P99, int Count) Percentiles(IEnumerable<TimeSpan> values)
    {
        var sorted = values.Select(v => v.TotalMilliseconds).Order().ToArray();
        if (sorted.Length == 0)
            return (double.NaN, double.NaN, double.NaN, 0);
        double At(double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        return (At(0.50), At(0.95), At(0.99), sorted.Length);
    }

    public static TimeSpan Between(long fromTicks, long toTicks) => Stopwatch.GetElapsedTime(fromTicks, toTicks);
}
