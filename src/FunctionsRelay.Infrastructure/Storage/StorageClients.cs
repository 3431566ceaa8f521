using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Queues;
using Microsoft.Extensions.Configuration;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>
/// The queue and table service clients, configured as the Functions host configures <c>AzureWebJobsStorage</c>:
/// a connection string (<c>UseDevelopmentStorage=true</c> for Azurite), or identity-based with
/// <c>AzureWebJobsStorage__queueServiceUri</c>, <c>__tableServiceUri</c> and, for a user-assigned identity, <c>__clientId</c>.
/// </summary>
public sealed class StorageClients
{
    public const string ConnectionName = "AzureWebJobsStorage";

    public StorageClients(IConfiguration configuration)
    {
        var queueOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 };
        var connectionString = configuration[ConnectionName];
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            Queues = new QueueServiceClient(connectionString, queueOptions);
            Tables = new TableServiceClient(connectionString);
            return;
        }

        var section = configuration.GetSection(ConnectionName);
        var queueUri = section["queueServiceUri"];
        var tableUri = section["tableServiceUri"];
        if (string.IsNullOrWhiteSpace(queueUri) || string.IsNullOrWhiteSpace(tableUri))
        {
            throw new InvalidOperationException(
                $"Storage is not configured: set {ConnectionName} to a connection string (UseDevelopmentStorage=true for Azurite), " +
                $"or {ConnectionName}__queueServiceUri and {ConnectionName}__tableServiceUri for identity-based access.");
        }

        TokenCredential credential = section["clientId"] is { Length: > 0 } clientId
            ? new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = clientId })
            : new DefaultAzureCredential();
        Queues = new QueueServiceClient(new Uri(queueUri), credential, queueOptions);
        Tables = new TableServiceClient(new Uri(tableUri), credential);
    }

    public QueueServiceClient Queues { get; }

    public TableServiceClient Tables { get; }
}
