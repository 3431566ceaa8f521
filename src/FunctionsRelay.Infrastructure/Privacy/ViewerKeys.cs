using System.Globalization;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Protection;

namespace FunctionsRelay.Infrastructure.Privacy;

/// <summary>A way a viewer is named: a utk, an email or a HubSpot contact id, as the bounds and privacy deletions hash it.</summary>
public sealed record ViewerName(string Kind, string Value)
{
    public static ViewerName OfUtk(string utk) => new("utk", utk);

    public static ViewerName OfEmail(string email) => new("email", ViewerEmails.Normalize(email));

    public static ViewerName OfContact(long contactId) => new("contact", contactId.ToString(CultureInfo.InvariantCulture));

    /// <summary>Never the value: a viewer's name is personal data.</summary>
    public override string ToString() => $"a viewer's {Kind}";
}

/// <summary>The keyed hashes (<see cref="Pseudonyms"/>) a session is found by when a viewer is to be forgotten.</summary>
public sealed class ViewerKeys(Pseudonyms pseudonyms, ViewerEmails emails)
{
    public ValueTask<string> OfAsync(ViewerName name, CancellationToken cancellationToken) => pseudonyms.OfAsync(name.Kind, name.Value, cancellationToken);

    /// <summary>Every name the session gives its viewer now: its utk, its email (read from its encrypted copy), its contact ids.</summary>
    public IEnumerable<ViewerName> NamesOf(ViewingSession session)
    {
        if (session.Utk is { } utk)
            yield return ViewerName.OfUtk(utk.Value);
        if (session.Email is { } email)
            yield return ViewerName.OfEmail(emails.Reveal(email.Value));
        if (session.ContactId is { } contactId)
            yield return ViewerName.OfContact(contactId.Value);
        if (session.ResolvedContactId is { } resolved)
            yield return ViewerName.OfContact(resolved);
    }

    /// <summary>Every name a beacon's contact gives its viewer.</summary>
    public IEnumerable<ViewerName> NamesOf(ContactInfo contact)
    {
        if (contact.Utk is { } utk)
            yield return ViewerName.OfUtk(utk);
        if (contact.Email is { } email)
            yield return ViewerName.OfEmail(emails.Reveal(email));
        if (contact.ContactId is { } contactId)
            yield return ViewerName.OfContact(contactId);
    }

    /// <summary>Notes the keys of the session's names it has not noted yet; they are returned, the new ones.</summary>
    public async Task<List<string>> NoteAsync(ViewingSession session, CancellationToken cancellationToken)
    {
        var added = new List<string>();
        foreach (var name in NamesOf(session))
        {
            var key = await OfAsync(name, cancellationToken);
            if (session.AddViewerKey(key))
                added.Add(key);
        }

        return added;
    }
}
