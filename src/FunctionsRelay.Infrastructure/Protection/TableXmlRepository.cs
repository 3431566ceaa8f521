using System.Xml.Linq;
using Azure.Data.Tables;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace FunctionsRelay.Infrastructure.Protection;

/// <summary>
/// The Data Protection key ring in a table (<c>Relay__KeysTable</c>), one row per key, so that every instance of the relay
/// (and the <c>relay</c> command) reads the same keys; the app reaches it as its managed identity, like its other tables.
/// </summary>
internal sealed class TableXmlRepository(TableClient table) : IXmlRepository
{
    private const string Partition = "key";

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        table.CreateIfNotExists();
        return table.Query<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {Partition}"))
            .Select(row => XElement.Parse(row.GetString("Xml")))
            .ToList();
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        table.CreateIfNotExists();
        table.UpsertEntity(new TableEntity(Partition, friendlyName) { ["Xml"] = element.ToString(SaveOptions.DisableFormatting) });
    }
}
