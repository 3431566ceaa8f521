using Microsoft.AspNetCore.DataProtection;

namespace FunctionsRelay.Infrastructure.Privacy;

/// <summary>
/// A viewer's email, as the relay keeps it until HubSpot has named its contact: encrypted with the key ring (as the
/// tokens are), from the request that brought it to the session that resolves it, then dropped (docs/privacy.md).
/// Lower-cased and trimmed first, so that one person is one email to every bound and to <c>relay forget</c>.
/// </summary>
public sealed class ViewerEmails(IDataProtectionProvider protection)
{
    /// <summary>Marks an email kept encrypted; one without it (kept by a build before) is read as it is.</summary>
    private const string Encrypted = "ve1:";

    private readonly IDataProtector _protector = protection.CreateProtector("FunctionsRelay.ViewerEmails");

    public static string Normalize(string email) => email.Trim().ToLowerInvariant();

    public string Protect(string email) => IsProtected(email) ? email : Encrypted + _protector.Protect(Normalize(email));

    /// <summary>The email itself, from what <see cref="Protect"/> made (or from a plain one kept before).</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The key ring cannot decrypt it.</exception>
    public string Reveal(string kept) => IsProtected(kept) ? _protector.Unprotect(kept[Encrypted.Length..]) : Normalize(kept);

    public static bool IsProtected(string value) => value.StartsWith(Encrypted, StringComparison.Ordinal);
}
