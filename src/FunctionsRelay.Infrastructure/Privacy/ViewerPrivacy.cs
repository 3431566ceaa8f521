using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Privacy;

/// <summary>
/// What the session processor does for viewers' privacy: it notes the keyed hashes a session is found by, drops an
/// email once HubSpot has named its contact, refuses beacons of a viewer a privacy deletion erased, and carries out the
/// deletions HubSpot sends (<see cref="RelayMessageKind.Forget"/>), twice: at once, and after <c>Relay__ForgetSweepAfter</c>
/// (a minute) for whatever another instance had in hand meanwhile.
/// </summary>
public sealed class ViewerPrivacy(ViewerKeys keys, ForgottenViewers forgotten, ViewerForgetting forgetting, BeaconQueue queue, IOptions<RelayOptions> options)
{
    /// <summary>Whether the message's beacons name a viewer a privacy deletion erased from their portal.</summary>
    public async Task<bool> IsOfForgottenViewerAsync(RelayMessage message, CancellationToken cancellationToken)
    {
        var hashes = new List<string>();
        foreach (var contact in (message.Beacons ?? []).Select(beacon => beacon.Contact).OfType<ContactInfo>().Distinct())
        {
            foreach (var name in keys.NamesOf(contact))
                hashes.Add(await keys.OfAsync(name, cancellationToken));
        }

        return hashes.Count > 0 && await forgotten.AnyAsync(message.PortalId, hashes, cancellationToken);
    }

    /// <summary>Notes the session's viewer hashes; an email whose contact HubSpot named is dropped. True if the session changed.</summary>
    public async Task<bool> NoteAsync(ViewingSession session, CancellationToken cancellationToken)
    {
        var noted = (await keys.NoteAsync(session, cancellationToken)).Count > 0;
        return session.DropResolvedEmail() || noted;
    }

    public async Task ForgetAsync(RelayMessage message, CancellationToken cancellationToken)
    {
        foreach (var contactId in message.Contacts ?? [])
            await forgetting.ForgetAsync(message.PortalId, [ViewerName.OfContact(contactId)], apply: true, cancellationToken);
        if (message.Attempt == 0)
            await queue.EnqueueForgetAsync(message with { Attempt = 1 }, options.Value.ForgetSweepAfter, cancellationToken);
    }
}
