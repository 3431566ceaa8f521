using System.Xml.Linq;
using Azure.Data.Tables;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace FunctionsRelay.Infrastructure.Protection;

/// <summary>
/// The Data Protection key ring in a table (<c>Relay__KeysTable</c>), one row per key, so that every instance of the relay
/// (and the <c>relay</c> command) reads the same keys; the app reaches it as its managed identity, like its other tables.
/// Without a Key Vault wrap configured (<paramref name="wrapped"/> false) it refuses a ring that holds wrapped keys: see
/// <see cref="KeyRingMisconfiguredException"/>.
/// </summary>
internal sealed class TableXmlRepository(TableClient table, bool wrapped) : IXmlRepository
{
    private const string Partition = "key";

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        table.CreateIfNotExists();
        var keys = table.Query<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {Partition}"))
            .Select(row => XElement.Parse(row.GetString("Xml")))
            .ToList();
        if (!wrapped && keys.Any(key => key.Descendants(KeyVaultXmlEncryptor.ElementName).Any()))
            throw new KeyRingMisconfiguredException(table.Name);
        return keys;
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        // Data Protection reads the ring before it makes a key; read it here too, so that no key is ever added beside wrapped ones unwrapped.
        if (!wrapped)
            _ = GetAllElements();
        table.CreateIfNotExists();
        table.UpsertEntity(new TableEntity(Partition, friendlyName) { ["Xml"] = element.ToString(SaveOptions.DisableFormatting) });
    }
}
