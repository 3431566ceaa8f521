using System.CommandLine;
using System.Globalization;
using FunctionsRelay.Infrastructure.Storage;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.Cli.Verbs;

/// <summary><c>relay status</c>: each portal's state and counters, as the operator view shows them.</summary>
internal static class StatusVerb
{
    public const string Synopsis = "relay status [--portal ID]";

    public const string Description = """
        Each portal's state from the relay's storage: its HubSpot token (connected, refresh due, disconnected since),
        sessions open and closed, events waiting in their outboxes, dead letters, poisoned messages; then its counters
        of the last hour and day as the relay exported them (Relay__MetricsTable): beacons accepted, requests refused
        by reason, sessions opened and closed, events decided, delivered and dead-lettered, delivery latency p50/p95,
        HubSpot's answers by status. The same figures as the local host's operator view (/operator).
        """;

    public static Command Create(IServiceProvider services, TextWriter output)
    {
        var portal = CliOptions.Portal();
        var command = new Command("status", Description) { portal };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var (at, portals) = await services.GetRequiredService<PortalHealthReport>().ReadAsync(parsed.GetValue(portal), cancellationToken);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"as of {at:u}"));
            await output.WriteLineAsync("portal      open  closed  waiting  at pace  dead letters  poisoned  token");
            foreach (var line in portals.Select(p => p.State).OfType<PortalStatusLine>())
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{line.PortalId,-10} {line.OpenSessions,5} {line.ClosedSessions,7} {line.EventsWaiting,8} {line.BacklogMinutes,5:F1} min {line.DeadLetters,13} {line.Poisoned,9}  {line.Token}"));
            foreach (var shown in portals.Where(p => p.Figures is not null))
            {
                await output.WriteLineAsync(shown.PortalId is { } id ? $"portal {id}" : "no portal named (refused before a portal was known)");
                await output.WriteLineAsync("  last hour: " + Describe(shown.Figures!.LastHour));
                await output.WriteLineAsync("  last day:  " + Describe(shown.Figures.LastDay));
            }

            await output.WriteLineAsync($"{portals.Count(p => p.PortalId is not null)} portal(s)");
            return RelayCli.Done;
        });
        return command;
    }

    /// <summary>The counters of a time, in one line: what came in, what was refused and why, what went to HubSpot and how fast.</summary>
    private static string Describe(FigureTotals figures)
    {
        static string ByName(IReadOnlyDictionary<string, long> counts) =>
            counts.Count == 0 ? "" : " (" + string.Join(", ", counts.Select(count => $"{count.Key} {count.Value}")) + ")";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"beacons {figures["beacons.accepted"]} accepted, {figures.Total("requests.refused")} requests refused{ByName(figures.By("requests.refused"))}; " +
            $"sessions {figures["sessions.opened"]} opened, {figures.Total("sessions.closed")} closed; " +
            $"events {figures["events.decided"]} decided, {figures.Delivered} delivered, {figures["events.dead_lettered"]} dead-lettered; " +
            $"anonymous viewers: {figures["sessions.held"]} sessions held, {figures.Total("events.dropped")} events dropped; " +
            $"latency p50 {figures.P50Shown}, p95 {figures.P95Shown}; HubSpot answers{(figures.By("hubspot.answers") is { Count: > 0 } answers ? ByName(answers) : " none")}; " +
            $"poisoned {figures["messages.poisoned"]}");
    }
}
