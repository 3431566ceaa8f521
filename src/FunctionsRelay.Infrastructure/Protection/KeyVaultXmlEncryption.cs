using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.DependencyInjection;

namespace FunctionsRelay.Infrastructure.Protection;

/// <summary>
/// Encrypts each Data Protection key before it is stored in the key ring table: the key's XML with AES-256-GCM under a
/// fresh key, that key wrapped by Key Vault (<see cref="KeyVaultKeyWrap"/>). Reading the <c>keys</c> table then gives
/// nothing without the app's identity's access to the Key Vault key, so neither does reading the <c>tokens</c> table.
/// </summary>
public sealed class KeyVaultXmlEncryptor(KeyVaultKeyWrap wrap) : IXmlEncryptor
{
    public const string ElementName = "keyVaultEncryptedKey";

    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        var dataKey = RandomNumberGenerator.GetBytes(32);
        var nonce = RandomNumberGenerator.GetBytes(AesGcm.NonceByteSizes.MaxSize);
        var plaintext = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[AesGcm.TagByteSizes.MaxSize];
        using (var aes = new AesGcm(dataKey, tag.Length))
            aes.Encrypt(nonce, plaintext, ciphertext, tag);
        CryptographicOperations.ZeroMemory(plaintext);

        // Data Protection's encryptors are synchronous; a key is made once in 90 days.
        var (kid, wrapped) = wrap.WrapAsync(dataKey, CancellationToken.None).GetAwaiter().GetResult();
        CryptographicOperations.ZeroMemory(dataKey);
        var element = new XElement(
            ElementName,
            new XComment(" This key is encrypted with a data key wrapped by Azure Key Vault. "),
            new XElement("kid", kid),
            new XElement("wrappedKey", Convert.ToBase64String(wrapped)),
            new XElement("nonce", Convert.ToBase64String(nonce)),
            new XElement("tag", Convert.ToBase64String(tag)),
            new XElement("value", Convert.ToBase64String(ciphertext)));
        return new EncryptedXmlInfo(element, typeof(KeyVaultXmlDecryptor));
    }
}

/// <summary>Decrypts what <see cref="KeyVaultXmlEncryptor"/> wrote; Data Protection makes it with the app's services.</summary>
public sealed class KeyVaultXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement)
    {
        var wrap = services.GetService<KeyVaultKeyWrap>()
            ?? throw new CryptographicException("the key ring is wrapped by Key Vault, and Relay__KeyRingKeyUri names no Key Vault key");
        string Part(string name) => encryptedElement.Element(name)?.Value
            ?? throw new CryptographicException($"the key ring's encrypted key has no {name}");
        var dataKey = wrap.UnwrapAsync(Part("kid"), Convert.FromBase64String(Part("wrappedKey")), CancellationToken.None).GetAwaiter().GetResult();
        try
        {
            var ciphertext = Convert.FromBase64String(Part("value"));
            var tag = Convert.FromBase64String(Part("tag"));
            var plaintext = new byte[ciphertext.Length];
            using (var aes = new AesGcm(dataKey, tag.Length))
                aes.Decrypt(Convert.FromBase64String(Part("nonce")), ciphertext, tag, plaintext);
            return XElement.Parse(Encoding.UTF8.GetString(plaintext));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
    }
}
