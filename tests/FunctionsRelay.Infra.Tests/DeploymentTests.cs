using System.Text.Json.Nodes;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.Http;
using FunctionsRelay.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infra.Tests;

/// <summary>What <c>azd up</c> would deploy, read from the evaluated template (<c>bicep snapshot</c> of infra/main.bicep).</summary>
[Collection(DeploymentCollection.Name)]
public sealed class DeploymentTests
{
    internal const string ClientSecret = "s3cr3t-that-must-stay-in-key-vault";
    internal const string DeployingUser = "11111111-2222-3333-4444-555555555555";
    internal const string AlertEmail = "ops@example.com";
    internal static readonly string[] PlayerOrigins = ["https://www.example.com", "https://video.example.com"];

    private static class RoleIds
    {
        public const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
        public const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
        public const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
        public const string MonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";
        public const string KeyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";
        public const string KeyVaultSecretsOfficer = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
        public const string KeyVaultCryptoServiceEncryptionUser = "e147488a-f6f5-4113-8e2d-b22465e65bf6";
    }

    public sealed class Deployment : IAsyncLifetime
    {
        public JsonObject WithUser { get; private set; } = [];
        public JsonObject WithoutUser { get; private set; } = [];

        public async Task InitializeAsync()
        {
            var parameters = new Dictionary<string, string>
            {
                ["environmentName"] = "ci",
                ["location"] = "westeurope",
                ["hubSpotClientId"] = "hubspot-client-id",
                ["hubSpotClientSecret"] = ClientSecret,
                ["playerOrigins"] = string.Join(", ", PlayerOrigins),
                ["allowedPortals"] = " 12345678, 23456789 ,",
            };
            WithoutUser = await BicepCli.SnapshotAsync(parameters);
            parameters["principalId"] = DeployingUser;
            parameters["alertEmail"] = AlertEmail;
            WithUser = await BicepCli.SnapshotAsync(parameters);
        }

        public Task DisposeAsync() => Task.CompletedTask;

        /// <summary>The queues the storage account is deployed with.</summary>
        public List<string> QueueNames() =>
            WithUser["predictedResources"]!.AsArray().Select(r => r!.AsObject())
                .Where(r => string.Equals(r["type"]!.GetValue<string>(), "Microsoft.Storage/storageAccounts/queueServices/queues", StringComparison.OrdinalIgnoreCase))
                .Select(r => r["name"]!.GetValue<string>().Split('/')[^1])
                .ToList();

        /// <summary>The app settings the function app is deployed with: plain values, or ARM expressions evaluated at deployment.</summary>
        public Dictionary<string, string> AppSettings() =>
            Assert.Single(
                    WithUser["predictedResources"]!.AsArray().Select(r => r!.AsObject()),
                    r => string.Equals(r["type"]!.GetValue<string>(), "Microsoft.Web/sites/config", StringComparison.OrdinalIgnoreCase))
                ["properties"]!.AsObject().ToDictionary(s => s.Key, s => s.Value!.GetValue<string>());
    }

    private readonly Deployment _deployment;

    public DeploymentTests(Deployment deployment) => _deployment = deployment;

    private IEnumerable<JsonObject> Resources(string type, JsonObject? snapshot = null) =>
        (snapshot ?? _deployment.WithUser)["predictedResources"]!.AsArray().Select(r => r!.AsObject())
            .Where(r => string.Equals(r["type"]!.GetValue<string>(), type, StringComparison.OrdinalIgnoreCase));

    private JsonObject Single(string type) => Assert.Single(Resources(type));

    private Dictionary<string, string> AppSettings() => _deployment.AppSettings();

    private static string Name(JsonObject resource) => resource["name"]!.GetValue<string>().Split('/')[^1];

    [Fact]
    public void Storage_account_takes_no_shared_key_and_only_tls_1_2()
    {
        var properties = Single("Microsoft.Storage/storageAccounts")["properties"]!;

        Assert.False(properties["allowSharedKeyAccess"]!.GetValue<bool>());
        Assert.False(properties["allowBlobPublicAccess"]!.GetValue<bool>());
        Assert.Equal("TLS1_2", properties["minimumTlsVersion"]!.GetValue<string>());
        Assert.True(properties["supportsHttpsTrafficOnly"]!.GetValue<bool>());
    }

    [Fact]
    public void Queues_and_tables_are_the_ones_the_app_is_configured_with()
    {
        // Bind the deployed app settings exactly as the relay does (Relay__BeaconQueue -> Relay:BeaconQueue).
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(AppSettings()
                .Where(s => !s.Value.StartsWith('[')) // a value the deployment computes (the key ring's Key Vault key), not a name
                .Select(s => KeyValuePair.Create(s.Key.Replace("__", ":", StringComparison.Ordinal), (string?)s.Value)))
            .Build();
        using var services = new ServiceCollection().AddLogging().AddRelay(configuration).BuildServiceProvider();
        var relay = services.GetRequiredService<IOptions<RelayOptions>>().Value;
        var defaults = new RelayOptions();

        Assert.Equal(
            new[] { relay.BeaconQueue, relay.PoisonQueue, relay.ScheduleQueue, relay.SchedulePoisonQueue }.Order(),
            Resources("Microsoft.Storage/storageAccounts/queueServices/queues").Select(Name).Order());
        Assert.Equal(
            new[] { relay.SessionsTable, relay.TokensTable, relay.DeadLettersTable, relay.MediaObjectsTable, relay.PoisonedTable, relay.KeysTable, relay.MetricsTable, relay.QuotasTable, relay.ScheduleTable, relay.ForgottenTable }.Order(),
            Resources("Microsoft.Storage/storageAccounts/tableServices/tables").Select(Name).Order());
        Assert.Equal((defaults.BeaconQueue, defaults.SessionsTable, defaults.TokensTable, defaults.DeadLettersTable),
            (relay.BeaconQueue, relay.SessionsTable, relay.TokensTable, relay.DeadLettersTable));
        Assert.Equal(PlayerOrigins, relay.AllowedOrigins);
    }

    [Fact]
    public void Host_storage_is_reached_as_the_user_assigned_identity()
    {
        var settings = AppSettings();
        var identity = Single("Microsoft.ManagedIdentity/userAssignedIdentities");
        var storage = Single("Microsoft.Storage/storageAccounts");

        Assert.DoesNotContain("AzureWebJobsStorage", settings.Keys);
        Assert.Equal("managedidentity", settings["AzureWebJobsStorage__credential"]);
        Assert.Equal(Reference(identity, "clientId"), settings["AzureWebJobsStorage__clientId"]);
        Assert.Equal(Reference(storage, "primaryEndpoints.blob"), settings["AzureWebJobsStorage__blobServiceUri"]);
        Assert.Equal(Reference(storage, "primaryEndpoints.queue"), settings["AzureWebJobsStorage__queueServiceUri"]);
        Assert.Equal(Reference(storage, "primaryEndpoints.table"), settings["AzureWebJobsStorage__tableServiceUri"]);
        Assert.Equal(
            $"[format('ClientId={{0}};Authorization=AAD', {Reference(identity, "clientId")[1..^1]})]",
            settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]);

        var site = Single("Microsoft.Web/sites");
        var identityId = identity["id"]!.GetValue<string>();
        Assert.Equal("UserAssigned", site["identity"]!["type"]!.GetValue<string>());
        Assert.Equal([identityId], site["identity"]!["userAssignedIdentities"]!.AsObject().Select(i => i.Key));
        Assert.Equal(identityId, site["properties"]!["keyVaultReferenceIdentity"]!.GetValue<string>());
        var deploymentStorage = site["properties"]!["functionAppConfig"]!["deployment"]!["storage"]!;
        Assert.Equal("UserAssignedIdentity", deploymentStorage["authentication"]!["type"]!.GetValue<string>());
        Assert.Equal(identityId, deploymentStorage["authentication"]!["userAssignedIdentityResourceId"]!.GetValue<string>());
        Assert.Contains(Reference(storage, "primaryEndpoints.blob")[1..^1], deploymentStorage["value"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public void Runs_dotnet_isolated_10_on_a_flex_consumption_plan()
    {
        var plan = Single("Microsoft.Web/serverfarms");
        var site = Single("Microsoft.Web/sites");
        var runtime = site["properties"]!["functionAppConfig"]!["runtime"]!;

        Assert.Equal("FC1", plan["sku"]!["name"]!.GetValue<string>());
        Assert.Equal("FlexConsumption", plan["sku"]!["tier"]!.GetValue<string>());
        Assert.Equal("dotnet-isolated", runtime["name"]!.GetValue<string>());
        Assert.Equal("10.0", runtime["version"]!.GetValue<string>());
        Assert.Equal("functionapp,linux", site["kind"]!.GetValue<string>());
        Assert.Equal("relay", site["tags"]!["azd-service-name"]!.GetValue<string>());
        // Flex Consumption rejects these: the runtime comes from functionAppConfig.
        Assert.DoesNotContain("FUNCTIONS_WORKER_RUNTIME", AppSettings().Keys);
        Assert.DoesNotContain("FUNCTIONS_EXTENSION_VERSION", AppSettings().Keys);
    }

    [Fact]
    public void Relay_identity_holds_each_role_on_the_resource_that_needs_it()
    {
        var relayAssignments = Resources("Microsoft.Authorization/roleAssignments")
            .Where(a => a["properties"]!["principalType"]!.GetValue<string>() == "ServicePrincipal")
            .Select(a => (Scope: ScopeType(a), Role: RoleId(a), Principal: a["properties"]!["principalId"]!.GetValue<string>()))
            .ToList();

        Assert.Equal(
            new[]
            {
                ("Microsoft.Insights/components", RoleIds.MonitoringMetricsPublisher),
                ("Microsoft.KeyVault/vaults", RoleIds.KeyVaultSecretsUser),
                ("Microsoft.KeyVault/vaults/keys", RoleIds.KeyVaultCryptoServiceEncryptionUser),
                ("Microsoft.Storage/storageAccounts", RoleIds.StorageBlobDataOwner),
                ("Microsoft.Storage/storageAccounts", RoleIds.StorageQueueDataContributor),
                ("Microsoft.Storage/storageAccounts", RoleIds.StorageTableDataContributor),
            }.Order(),
            relayAssignments.Select(a => (a.Scope, a.Role)).Order());
        var relayPrincipal = Reference(Single("Microsoft.ManagedIdentity/userAssignedIdentities"), "principalId");
        Assert.All(relayAssignments, a => Assert.Equal(relayPrincipal, a.Principal));
    }

    [Fact]
    public void Deploying_user_gets_data_roles_only_when_a_principal_id_is_given()
    {
        var userAssignments = Resources("Microsoft.Authorization/roleAssignments")
            .Where(a => a["properties"]!["principalId"]!.GetValue<string>() == DeployingUser)
            .Select(a => (ScopeType(a), RoleId(a)))
            .Order();

        var tables = new[] { "deadletters", "forgotten", "mediaobjects", "metrics", "poisoned", "quotas", "schedule", "sessions", "tokens" };
        var queues = new[] { "beacons", "beacons-poison", "beacons-scheduled", "beacons-scheduled-poison" };
        // Nothing account-wide: the deployment container, each queue, each table but the key ring.
        Assert.Equal(
            new[]
            {
                ("Microsoft.KeyVault/vaults", RoleIds.KeyVaultSecretsOfficer),
                ("Microsoft.Storage/storageAccounts/blobServices/containers", RoleIds.StorageBlobDataOwner),
            }
            .Concat(queues.Select(_ => ("Microsoft.Storage/storageAccounts/queueServices/queues", RoleIds.StorageQueueDataContributor)))
            .Concat(tables.Select(_ => ("Microsoft.Storage/storageAccounts/tableServices/tables", RoleIds.StorageTableDataContributor))).Order(),
            userAssignments);
        Assert.Equal(queues, UserScopesOf(RoleIds.StorageQueueDataContributor, "queues"));
        // Table by table, and never the key ring that decrypts the portals' tokens.
        Assert.Equal(tables, UserScopesOf(RoleIds.StorageTableDataContributor, "tables"));
        Assert.Equal(6, Resources("Microsoft.Authorization/roleAssignments", _deployment.WithoutUser).Count());
    }

    /// <summary>The names of the queues (or tables) on which the deploying user holds <paramref name="role"/>.</summary>
    private IEnumerable<string> UserScopesOf(string role, string collection) =>
        Resources("Microsoft.Authorization/roleAssignments")
            .Where(a => a["properties"]!["principalId"]!.GetValue<string>() == DeployingUser && RoleId(a) == role)
            .Select(a => a["id"]!.GetValue<string>().Split($"/{collection}/")[1].Split('/')[0])
            .Order();

    [Fact]
    public void Client_secret_lives_in_key_vault_and_reaches_the_app_only_as_a_reference()
    {
        var vault = Single("Microsoft.KeyVault/vaults");
        Assert.True(vault["properties"]!["enableRbacAuthorization"]!.GetValue<bool>());
        Assert.Null(vault["properties"]!["accessPolicies"]);

        var settings = AppSettings();
        var secret = Single("Microsoft.KeyVault/vaults/secrets");
        Assert.Equal($"[format('@Microsoft.KeyVault(SecretUri={{0}})', {Reference(secret, "secretUri")[1..^1]})]", settings["HubSpot__ClientSecret"]);
        Assert.Equal("[parameters('hubSpotClientSecret')]", secret["properties"]!["value"]!.GetValue<string>());
        Assert.Equal("hubspot-client-id", settings["HubSpot__ClientId"]);

        foreach (var snapshot in new[] { _deployment.WithUser, _deployment.WithoutUser })
        {
            var text = snapshot.ToJsonString();
            Assert.DoesNotContain(ClientSecret, text, StringComparison.Ordinal);
            Assert.DoesNotContain("listKeys", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("AccountKey=", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("SharedAccessSignature", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("InstrumentationKey=", text, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void The_key_ring_is_wrapped_by_a_key_vault_key_that_only_wraps_and_unwraps()
    {
        var key = Single("Microsoft.KeyVault/vaults/keys");
        Assert.Equal(("RSA", 2048), (key["properties"]!["kty"]!.GetValue<string>(), key["properties"]!["keySize"]!.GetValue<int>()));
        Assert.Equal(["wrapKey", "unwrapKey"], key["properties"]!["keyOps"]!.AsArray().Select(op => op!.GetValue<string>()));
        // The app is told the key's URI as the deployment makes it, and holds the one role that wraps with it.
        Assert.Contains("keyUri", AppSettings()["Relay__KeyRingKeyUri"], StringComparison.Ordinal);
        Assert.Contains(Name(key), AppSettings()["Relay__KeyRingKeyUri"], StringComparison.Ordinal);
    }

    [Fact]
    public void Poisoned_messages_raise_an_alert_mailed_to_the_operator_when_an_address_is_given()
    {
        foreach (var (snapshot, mailed) in new[] { (_deployment.WithUser, true), (_deployment.WithoutUser, false) })
        {
            var rule = Assert.Single(Resources("Microsoft.Insights/scheduledQueryRules", snapshot), r => Name(r).StartsWith("alert-poisoned-", StringComparison.Ordinal))["properties"]!;
            var criterion = Assert.Single(rule["criteria"]!["allOf"]!.AsArray())!;
            Assert.Contains("\"Poisoned message\"", criterion["query"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Contains("\"relay.messages.poisoned\"", criterion["query"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal(("GreaterThan", 0), (criterion["operator"]!.GetValue<string>(), criterion["threshold"]!.GetValue<int>()));
            Assert.Contains("Microsoft.Insights/components", Assert.Single(rule["scopes"]!.AsArray())!.GetValue<string>(), StringComparison.Ordinal);
            var groups = Resources("Microsoft.Insights/actionGroups", snapshot).ToList();
            Assert.Equal(mailed ? 1 : 0, groups.Count);
            Assert.Equal(mailed ? 1 : 0, rule["actions"]!["actionGroups"]!.AsArray().Count);
            if (mailed)
                Assert.Equal(AlertEmail, groups[0]["properties"]!["emailReceivers"]![0]!["emailAddress"]!.GetValue<string>());
        }
    }

    [Fact]
    public void A_disconnected_portal_a_portal_behind_and_delivery_failures_page_the_operator_with_their_thresholds()
    {
        foreach (var (snapshot, mailed) in new[] { (_deployment.WithUser, true), (_deployment.WithoutUser, false) })
        {
            var rules = Resources("Microsoft.Insights/scheduledQueryRules", snapshot).ToDictionary(r => Name(r).Split('-')[1], r => r["properties"]!);
            Assert.Equal(["backlog", "failures", "poisoned", "token"], rules.Keys.Order());
            foreach (var rule in rules.Values)
            {
                Assert.Equal(mailed ? 1 : 0, rule["actions"]!["actionGroups"]!.AsArray().Count);
                Assert.Contains("Microsoft.Insights/components", Assert.Single(rule["scopes"]!.AsArray())!.GetValue<string>(), StringComparison.Ordinal);
            }

            JsonNode Criterion(string key) => Assert.Single(rules[key]["criteria"]!["allOf"]!.AsArray())!;
            string Query(string key) => Criterion(key)["query"]!.GetValue<string>();

            // The log lines the relay writes, word for word as its templates begin (checked against the code below).
            Assert.Contains("\"HubSpot refused the refresh token of portal\"", Query("token"), StringComparison.Ordinal);
            Assert.Contains("\"is behind: an event reached HubSpot\"", Query("backlog"), StringComparison.Ordinal);
            Assert.All(["token", "backlog"], key => Assert.Equal(("Count", "GreaterThan", 0), (Criterion(key)["timeAggregation"]!.GetValue<string>(), Criterion(key)["operator"]!.GetValue<string>(), Criterion(key)["threshold"]!.GetValue<int>())));
            // The failure rate: dead-lettered of all settled events, above the parameter's percentage (5 by default).
            Assert.Contains("\"relay.events.delivered\", \"relay.events.dead_lettered\"", Query("failures"), StringComparison.Ordinal);
            Assert.Equal(("FailurePercent", "Maximum", "GreaterThan", 5), (Criterion("failures")["metricMeasureColumn"]!.GetValue<string>(), Criterion("failures")["timeAggregation"]!.GetValue<string>(), Criterion("failures")["operator"]!.GetValue<string>(), Criterion("failures")["threshold"]!.GetValue<int>()));
        }

        // The backlog alert fires on the relay's warning, whose threshold the deployment sets from its parameter.
        Assert.Equal("00:30:00", AppSettings()["Relay__BacklogWarningAfter"]);
    }

    /// <summary>The names of the instruments the relay's meter publishes, as the exporter names them in customMetrics.</summary>
    private static HashSet<string> ExportedInstruments()
    {
        using var metrics = new System.Diagnostics.Metrics.MeterListener();
        var exported = new HashSet<string>();
        metrics.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Name == FunctionsRelay.Infrastructure.Telemetry.RelayMetrics.MeterName)
                exported.Add(instrument.Name);
        };
        metrics.Start();
        using var services = new ServiceCollection().AddMetrics().AddSingleton<FunctionsRelay.Infrastructure.Telemetry.RelayMetrics>().BuildServiceProvider();
        _ = services.GetRequiredService<FunctionsRelay.Infrastructure.Telemetry.RelayMetrics>();
        return exported;
    }

    private static HashSet<string> CountersNamedIn(IEnumerable<string> queries) =>
        queries.SelectMany(q => System.Text.RegularExpressions.Regex.Matches(q, "\"(relay\\.[a-z_.]+)\"").Select(m => m.Groups[1].Value)).ToHashSet();

    [Fact]
    public void The_workbook_shows_every_counter_the_relay_exports_per_portal_and_azd_names_its_url()
    {
        var workbook = Single("Microsoft.Insights/workbooks");
        var properties = workbook["properties"]!;
        Assert.Equal(("shared", "FunctionsRelay delivery health"), (workbook["kind"]!.GetValue<string>(), properties["displayName"]!.GetValue<string>()));
        Assert.Contains("Microsoft.Insights/components", properties["sourceId"]!.GetValue<string>(), StringComparison.Ordinal);
        var content = JsonNode.Parse(properties["serializedData"]!.GetValue<string>())!;
        Assert.Equal("Notebook/1.0", content["version"]!.GetValue<string>());
        var queries = content["items"]!.AsArray().Where(item => item!["type"]!.GetValue<int>() == 3).Select(item => item!["content"]!["query"]!.GetValue<string>()).ToList();

        // The two lists compared: every instrument the code exports is in the workbook, and the workbook names no other.
        Assert.Equal(ExportedInstruments().Order(), CountersNamedIn(queries).Order());
        Assert.All(queries, q => Assert.Contains("customDimensions[\"hubspot.portal_id\"]", q, StringComparison.Ordinal));
        Assert.All(queries, q => Assert.Contains("by Portal", q, StringComparison.Ordinal));

        var main = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "infra", "main.bicep"));
        Assert.Contains("output RELAY_WORKBOOK_URL string = workbook.outputs.url", main, StringComparison.Ordinal);
    }

    [Fact]
    public void The_alerts_name_only_counters_the_relay_exports_and_log_lines_it_writes()
    {
        var exported = ExportedInstruments();
        var queries = Resources("Microsoft.Insights/scheduledQueryRules").Select(r => r["properties"]!["criteria"]!["allOf"]![0]!["query"]!.GetValue<string>()).ToList();
        var named = CountersNamedIn(queries);
        Assert.NotEmpty(named);
        Assert.Subset(exported, named);

        var sources = Directory.EnumerateFiles(Path.Combine(RepositoryPaths.Root, "src"), "*.cs", SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        foreach (var line in new[] { "Poisoned message", "HubSpot refused the refresh token of portal", "is behind: an event reached HubSpot" })
        {
            Assert.Contains(queries, q => q.Contains($"\"{line}\"", StringComparison.Ordinal));
            Assert.Contains(sources, source => source.Contains(line, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_vault_cannot_be_purged_and_the_app_takes_no_basic_publishing_credentials()
    {
        var vault = Single("Microsoft.KeyVault/vaults")["properties"]!;
        Assert.True(vault["enablePurgeProtection"]!.GetValue<bool>());
        Assert.True(vault["enableRbacAuthorization"]!.GetValue<bool>());
        var policies = Resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies").ToDictionary(Name, p => p["properties"]!["allow"]!.GetValue<bool>());
        Assert.Equal(new Dictionary<string, bool> { ["ftp"] = false, ["scm"] = false }, policies);
    }

    [Fact]
    public void Monitoring_accepts_microsoft_entra_id_only()
    {
        Assert.True(Single("Microsoft.Insights/components")["properties"]!["DisableLocalAuth"]!.GetValue<bool>());
        Assert.True(Single("Microsoft.OperationalInsights/workspaces")["properties"]!["features"]!["disableLocalAuth"]!.GetValue<bool>());
    }

    [Fact]
    public void App_gets_every_setting_of_the_local_sample_it_reads_and_cors_is_the_relays_alone()
    {
        var sample = JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "local.settings.sample.json")))!["Values"]!.AsObject();
        var settings = AppSettings();
        // Local runs only, settings the Functions app never reads, and the relay's own address (known once deployed).
        string[] notDeployed =
        [
            "AzureWebJobsStorage", "FUNCTIONS_WORKER_RUNTIME", "HubSpot__DryRunFile", "Relay__PublicBaseUrl",
            "HubSpot__RefreshInterval", "HubSpot__AppId", "HubSpot__DeveloperApiKey", "Relay__ScheduleSweepInterval",
        ];

        Assert.All(sample.Select(s => s.Key).Except(notDeployed), key => Assert.True(settings.ContainsKey(key), $"{key} is not deployed"));
        Assert.All(notDeployed, key => Assert.False(settings.ContainsKey(key), $"{key} is deployed, but the Functions app never reads it"));
        Assert.Equal(sample["TokenRefreshSchedule"]!.GetValue<string>(), settings["TokenRefreshSchedule"]);
        Assert.Equal("*/5 * * * * *", settings["ScheduleSweepSchedule"]);
        Assert.Equal(
            $"[format('https://{{0}}/api/{OAuthEndpoints.CallbackRoute}', {Reference(Single("Microsoft.Web/sites"), "defaultHostName")[1..^1]})]",
            settings["HubSpot__RedirectUri"]);

        // Platform CORS, where set, answers preflights itself and the relay's CORS code never runs: the relay's is the one.
        Assert.Null(Single("Microsoft.Web/sites")["properties"]!["siteConfig"]!["cors"]);
        Assert.Equal(string.Join(",", PlayerOrigins), settings["Relay__AllowedOrigins"]);
        // Which HubSpot accounts may install the app is the deployment's to say (empty would let any account in).
        Assert.Equal("12345678,23456789", settings["HubSpot__AllowedPortals"]);
    }

    [Fact]
    public void Flex_consumption_may_scale_to_at_least_forty_instances()
    {
        var scale = Single("Microsoft.Web/sites")["properties"]!["functionAppConfig"]!["scaleAndConcurrency"]!;

        Assert.True(scale["maximumInstanceCount"]!.GetValue<int>() >= 40);
    }

    [Fact]
    public void Outputs_give_players_the_beacon_url_and_hubspot_the_callback()
    {
        var outputs = _deployment.WithUser["outputs"]!;
        var baseUrl = $"format('https://{{0}}', {Reference(Single("Microsoft.Web/sites"), "defaultHostName")[1..^1]})";

        Assert.Equal($"[format('{{0}}/api/{BeaconEndpoint.Route}', {baseUrl})]", outputs["RELAY_BEACON_URL"]!.GetValue<string>());
        Assert.Equal($"[format('{{0}}/api/{OAuthEndpoints.CallbackRoute}', {baseUrl})]", outputs["RELAY_OAUTH_CALLBACK_URL"]!.GetValue<string>());
        Assert.Equal($"[format('{{0}}/api/{OAuthEndpoints.InstallRoute}', {baseUrl})]", outputs["RELAY_INSTALL_URL"]!.GetValue<string>());
        Assert.Equal("rg-ci", outputs["AZURE_RESOURCE_GROUP"]!.GetValue<string>());
    }

    /// <summary>The expression ARM evaluates at deployment time for a property of a resource deployed before.</summary>
    private static string Reference(JsonObject resource, string property) =>
        $"[reference('{resource["id"]!.GetValue<string>()}', '{resource["apiVersion"]!.GetValue<string>()}').{property}]";

    private static string ScopeType(JsonObject assignment)
    {
        // .../providers/<namespace>/<type>/<name>[/<child type>/<name>...]/providers/Microsoft.Authorization/roleAssignments/<guid>
        var id = assignment["id"]!.GetValue<string>();
        var scope = id[..id.IndexOf("/providers/Microsoft.Authorization/", StringComparison.Ordinal)];
        var segments = scope[(scope.LastIndexOf("/providers/", StringComparison.Ordinal) + "/providers/".Length)..].Split('/');
        return segments[0] + "/" + string.Join('/', segments.Skip(1).Where((_, i) => i % 2 == 0));
    }

    private static string RoleId(JsonObject assignment) =>
        assignment["properties"]!["roleDefinitionId"]!.GetValue<string>().Split('/')[^1];
}
