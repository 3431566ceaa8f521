using Azure;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Queues;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure.Storage;

/// <summary>
/// The queue and table service clients, configured as the Functions host configures <c>AzureWebJobsStorage</c>:
/// a connection string (<c>UseDevelopmentStorage=true</c> for Azurite), or identity-based with
/// <c>AzureWebJobsStorage__queueServiceUri</c>, <c>__tableServiceUri</c> and, for a user-assigned identity, <c>__clientId</c>.
/// <para>
/// Storage that is briefly unavailable (a failover, a restart, throttling) is waited out, about half a minute by default,
/// rather than failed: a queue message whose handling fails has to be handed back to storage too, and one that cannot be
/// waits out its whole lease (minutes), long enough for its session to close without its beacons. Ingest alone keeps the
/// SDK's short retries, so that a player hears "send again" (503) while it still can.
/// </para>
/// </summary>
public sealed class StorageClients
{
    public const string ConnectionName = "AzureWebJobsStorage";

    public StorageClients(IConfiguration configuration, IOptions<RelayOptions>? options = null)
    {
        var relay = options?.Value ?? new RelayOptions();
        var queueOptions = Patient(new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 }, relay);
        var ingestOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 };
        var tableOptions = Patient(new TableClientOptions(), relay);
        var connectionString = configuration[ConnectionName];
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            Queues = new QueueServiceClient(connectionString, queueOptions);
            IngestQueues = new QueueServiceClient(connectionString, ingestOptions);
            Tables = new TableServiceClient(connectionString, tableOptions);
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

        var credential = CredentialOf(section);
        Queues = new QueueServiceClient(new Uri(queueUri), credential, queueOptions);
        IngestQueues = new QueueServiceClient(new Uri(queueUri), credential, ingestOptions);
        Tables = new TableServiceClient(new Uri(tableUri), credential, tableOptions);
    }

    /// <summary>
    /// The credential an identity-based connection names, as the Functions host reads it: with <c>__credential</c> set to
    /// <c>managedidentity</c>, that managed identity (the user-assigned one of <c>__clientId</c>, else the system-assigned
    /// one) and nothing else; otherwise the developer's own sign-in (Azure CLI, Visual Studio, ...) through the default chain.
    /// </summary>
    public static TokenCredential CredentialOf(IConfigurationSection connection)
    {
        var clientId = connection["clientId"] is { Length: > 0 } id ? id : null;
        if (string.Equals(connection["credential"], "managedidentity", StringComparison.OrdinalIgnoreCase))
        {
            return new ManagedIdentityCredential(clientId is null ? ManagedIdentityId.SystemAssigned : ManagedIdentityId.FromUserAssignedClientId(clientId));
        }

        return clientId is null
            ? new DefaultAzureCredential()
            : new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = clientId });
    }

    /// <summary>Queues for everything but ingest: patient with storage trouble.</summary>
    public QueueServiceClient Queues { get; }

    /// <summary>Queues for ingest: the SDK's short retries.</summary>
    public QueueServiceClient IngestQueues { get; }

    /// <summary>
    /// Whether a storage call failed because storage could not be had, for now: no answer at all (the connection refused
    /// or reset, a timeout), which the SDK throws as the transport's exception or, once its retries are spent, as an
    /// <see cref="AggregateException"/> of them; or an answer that says to try again (408, 429, 5xx), or that the relay
    /// may not (401, 403: its identity's roles, which an operator fixes). Not a refusal of the request itself
    /// (<see cref="RefusesContent"/>), which sending it again would only repeat.
    /// </summary>
    public static bool IsUnavailable(Exception exception) => exception switch
    {
        RequestFailedException failed => failed.Status is 0 or 401 or 403 or 408 or 429 or >= 500,
        HttpRequestException or IOException or TimeoutException => true,
        AggregateException aggregate => aggregate.InnerExceptions.Count > 0 && aggregate.InnerExceptions.All(IsUnavailable),
        _ => false,
    };

    /// <summary>
    /// Whether storage refused what a call sent (400, 413: too large, or a value it does not take): sending it again is
    /// refused again, so it is answered as the request's fault, never retried.
    /// </summary>
    public static bool RefusesContent(Exception exception) => exception switch
    {
        RequestFailedException failed => failed.Status is 400 or 413,
        AggregateException aggregate => aggregate.InnerExceptions.Count > 0 && aggregate.InnerExceptions.All(RefusesContent),
        _ => false,
    };

    public TableServiceClient Tables { get; }

    private static T Patient<T>(T options, RelayOptions relay)
        where T : ClientOptions
    {
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = relay.StorageRetries;
        options.Retry.Delay = relay.StorageRetryDelay;
        options.Retry.MaxDelay = relay.StorageRetryDelay * 8;
        return options;
    }
}
