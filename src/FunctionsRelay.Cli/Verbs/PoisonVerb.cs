using System.CommandLine;
using System.Globalization;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.Cli.Verbs;

/// <summary><c>relay poison</c>: the queue messages the relay gave up on, listed and put back on their queues.</summary>
internal static class PoisonVerb
{
    public const string Synopsis = "relay poison [--portal ID] [--session ID] [--apply]";

    public const string Description = """
        Lists the queue messages the relay gave up on after their last attempt (kept from the poison queues in the
        Relay__PoisonedTable table), oldest first: the queue, the portal, the session and how many beacons each holds.
        --apply puts each back on its queue, once, to be handled again after the cause is fixed (beacons already merged
        are dropped as duplicates). Without --apply nothing changes.
        """;

    public static Command Create(IServiceProvider services, TextWriter output)
    {
        var portal = CliOptions.Portal();
        var session = CliOptions.Text("--session", "one session's messages");
        var apply = CliOptions.Apply("put each back on its queue, once");
        var command = new Command("poison", Description) { portal, session, apply };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            var store = services.GetRequiredService<PoisonedMessageStore>();
            var applying = parsed.GetValue(apply);
            var kept = await store.ListAsync(parsed.GetValue(portal), parsed.GetValue(session), cancellationToken);
            foreach (var message in kept)
            {
                if (applying)
                    await store.ReplayAsync(message, cancellationToken);
                await output.WriteLineAsync(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{(applying ? "put back" : "would put back")} {message.MessageId} on {message.Queue}: portal {message.PortalId?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}, session {message.SessionId ?? "unknown"}, {message.Beacons} beacons ({message.Kind?.ToString() ?? "unreadable"}), poisoned {message.PoisonedAt:u}"));
            }

            await output.WriteLineAsync($"{kept.Count} poisoned message(s){(applying || kept.Count == 0 ? "" : "; --apply puts them back")}");
            return RelayCli.Done;
        });
        return command;
    }
}
