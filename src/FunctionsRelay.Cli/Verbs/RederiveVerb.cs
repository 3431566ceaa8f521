using System.CommandLine;
using FunctionsRelay.Infrastructure.Processing;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.Cli.Verbs;

/// <summary><c>relay rederive</c>: closed sessions' events computed again after a change of the session rules.</summary>
internal static class RederiveVerb
{
    public const string Synopsis = "relay rederive [--portal ID] [--since 2026-11-01] [--until 2026-11-02] [--apply]";

    public const string Description = """
        After a fix to the session rules (Sessions__*), recomputes the events of closed sessions from their stored beacon
        logs and compares them with what each decided: the events now due that were never sent, and the ones sent that
        would not be now. --apply sends only the missing ones, through each session's outbox; HubSpot has no delete, so
        nothing it may have is sent again. Prints the audit; without --apply nothing changes.
        """;

    public static Command Create(IServiceProvider services, TextWriter output)
    {
        var portal = CliOptions.Portal();
        var since = CliOptions.Date("--since", "sessions closed at or after this date or time");
        var until = CliOptions.Date("--until", "sessions closed before this date or time");
        var apply = CliOptions.Apply("send the missing events through each session's outbox");
        var command = new Command("rederive", Description) { portal, since, until, apply };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var rederive = services.GetRequiredService<SessionRederive>();
            var compared = await rederive.CompareAsync(parsed.GetValue(portal), parsed.GetValue(since), parsed.GetValue(until), cancellationToken);
            var applying = parsed.GetValue(apply);
            var (missing, extra, sent) = (0, 0, 0);
            for (var i = 0; i < compared.Count; i++)
            {
                var session = compared[i];
                missing += session.Missing.Count;
                extra += session.NoLongerDue.Count;
                if (session.Missing.Count == 0 && session.NoLongerDue.Count == 0)
                    continue;
                var added = applying && session.Missing.Count > 0 ? await rederive.ApplyAsync(session, cancellationToken) : 0;
                sent += added;
                await output.WriteLineAsync(
                    $"session {session.PortalId}/{session.SessionId}: missing [{string.Join(", ", session.Missing.Select(e => e.Key))}]{(applying ? $" ({added} sent now)" : "")}; " +
                    $"sent but no longer due [{string.Join(", ", session.NoLongerDue)}]");
                if ((i + 1) % 500 == 0)
                    await output.WriteLineAsync($"... {i + 1} of {compared.Count} sessions compared");
            }

            await output.WriteLineAsync(
                $"{compared.Count} closed session(s) compared: {missing} event(s) missing{(applying ? $", {sent} sent now" : missing > 0 ? " (--apply sends them)" : "")}, {extra} sent but no longer due");
            return RelayCli.Done;
        });
        return command;
    }
}
