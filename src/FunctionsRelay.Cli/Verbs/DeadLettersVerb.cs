using System.CommandLine;
using System.Globalization;
using FunctionsRelay.Infrastructure.Processing;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.Cli.Verbs;

/// <summary><c>relay deadletters</c>: the events HubSpot refused, listed and put back once the cause is fixed.</summary>
internal static class DeadLettersVerb
{
    public const string Synopsis = "relay deadletters [--portal ID] [--session ID] [--status N] [--since 2026-11-01] [--until 2026-11-02] [--apply]";

    public const string Description = """
        Lists the events HubSpot refused (or the relay gave up on without a token), oldest first, with HubSpot's
        answer. --apply puts each back into its session's outbox, once, and the relay sends it as any other event:
        run it after the cause is fixed. Without --apply nothing changes.
        """;

    public static Command Create(IServiceProvider services, TextWriter output)
    {
        var portal = CliOptions.Portal();
        var session = CliOptions.Text("--session", "one session's dead letters");
        var status = new Option<int?>("--status")
        {
            Description = "the dead letters HubSpot answered with this status (0: given up on without a token)",
            CustomParser = result => int.TryParse(result.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var code) && code <= 599
                ? code
                : CliOptions.Refuse<int?>(result, "--status must be an HTTP status (0 for the events given up on without a token)"),
        };
        var since = CliOptions.Date("--since", "refused at or after this date or time");
        var until = CliOptions.Date("--until", "refused before this date or time");
        var apply = CliOptions.Apply("put each back into its session's outbox, once");
        var command = new Command("deadletters", Description) { portal, session, status, since, until, apply };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var replay = services.GetRequiredService<DeadLetterReplay>();
            var chosen = await replay.ListAsync(new(parsed.GetValue(portal), parsed.GetValue(session), parsed.GetValue(status), parsed.GetValue(since), parsed.GetValue(until)), cancellationToken);
            var applying = parsed.GetValue(apply);
            var failed = 0;
            foreach (var letter in chosen)
            {
                var line = string.Create(CultureInfo.InvariantCulture, $"{letter.Event} of session {letter.PortalId}/{letter.SessionId}, refused {letter.RejectedAt:u} with {letter.Status}: {letter.Answer}");
                if (!applying)
                {
                    await output.WriteLineAsync($"would put back {line}");
                    continue;
                }

                var (done, outcome) = await replay.ReplayAsync(letter, cancellationToken);
                failed += done ? 0 : 1;
                await output.WriteLineAsync($"{(done ? "put back" : "NOT put back")} {line}: {outcome}");
            }

            await output.WriteLineAsync($"{chosen.Count} dead letter(s){(applying || chosen.Count == 0 ? "" : "; --apply puts them back")}");
            return failed == 0 ? RelayCli.Done : RelayCli.Failed;
        });
        return command;
    }
}
