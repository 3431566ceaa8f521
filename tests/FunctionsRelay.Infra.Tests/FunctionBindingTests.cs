using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Azure.WebJobs;
using Microsoft.Azure.WebJobs.Host;
using Microsoft.Extensions.Configuration;

namespace FunctionsRelay.Infra.Tests;

/// <summary>
/// The bindings of the built Functions app, resolved the way the Functions host resolves them: every <c>%setting%</c>
/// through the WebJobs SDK's <see cref="DefaultNameResolver"/> over the deployed app settings, read as the host reads
/// them (environment variables, where <c>__</c> is the section separator <c>:</c>).
/// </summary>
[Collection(DeploymentCollection.Name)]
public sealed partial class FunctionBindingTests(DeploymentTests.Deployment deployment)
{
    /// <summary>Settings the platform gives every function app, which no template sets.</summary>
    private static readonly Dictionary<string, string> PlatformSettings = new()
    {
        ["WEBSITE_SITE_NAME"] = "func-relay-ci",
    };

    [Fact]
    public void Every_setting_a_binding_names_resolves_on_the_deployed_app()
    {
        var resolver = new DefaultNameResolver(HostConfiguration());
        var unresolved = new List<string>();
        foreach (var (function, binding) in Bindings())
        {
            foreach (var property in binding.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.String))
            {
                var value = property.Value.GetString()!;
                if (SettingToken().IsMatch(value) && !resolver.TryResolveWholeString(value, out _))
                    unresolved.Add($"{function}.{property.Name}: '{value}' does not resolve to a value");
            }
        }

        Assert.Empty(unresolved);
    }

    [Fact]
    public void The_queue_triggers_listen_on_both_queues_the_relay_writes_and_their_poison_queues_all_of_which_bicep_creates()
    {
        var configuration = HostConfiguration();
        var resolver = new DefaultNameResolver(configuration);
        var settings = deployment.AppSettings();

        var listened = Bindings().Where(b => b.Binding.GetProperty("type").GetString() == "queueTrigger")
            .Select(b => resolver.TryResolveWholeString(b.Binding.GetProperty("queueName").GetString(), out var queue) ? queue : null)
            .Order()
            .ToList();

        var written = new[] { settings["Relay__BeaconQueue"], settings["Relay__ScheduleQueue"] };
        Assert.Equal(written.Concat(written.Select(queue => queue + "-poison")).Order(), listened);
        Assert.All(listened, queue => Assert.Contains(queue, deployment.QueueNames()));
    }

    [Fact]
    public void Every_connection_a_binding_names_is_a_setting_prefix_the_deployment_sets()
    {
        var configuration = HostConfiguration();
        var connections = Bindings()
            .Where(b => b.Binding.TryGetProperty("connection", out _))
            .Select(b => b.Binding.GetProperty("connection").GetString()!)
            .Distinct()
            .ToList();

        Assert.NotEmpty(connections);
        // An identity-based connection is the section <name>__serviceUri or <name>__queueServiceUri, ...
        Assert.All(connections, name => Assert.True(
            configuration.GetSection(name).GetChildren().Any(c => c.Key.EndsWith("ServiceUri", StringComparison.Ordinal)),
            $"connection '{name}' names no {name}__*ServiceUri setting of the deployment"));
    }

    [Fact]
    public void Storage_is_reached_as_the_deployed_managed_identity_and_no_other_credential()
    {
        var connection = HostConfiguration().GetSection(FunctionsRelay.Infrastructure.Storage.StorageClients.ConnectionName);

        var credential = FunctionsRelay.Infrastructure.Storage.StorageClients.CredentialOf(connection);

        Assert.IsType<Azure.Identity.ManagedIdentityCredential>(credential);
    }

    [Fact]
    public void The_local_host_runs_the_same_queue_triggers_as_the_functions_app()
    {
        var deployed = Bindings().Where(b => b.Binding.GetProperty("type").GetString() == "queueTrigger")
            .Select(b => (b.Function, Queue: b.Binding.GetProperty("queueName").GetString(), Connection: b.Binding.GetProperty("connection").GetString()))
            .OrderBy(t => t.Function)
            .ToList();

        var local = typeof(FunctionsRelay.Local.QueueTriggers).GetMethods()
            .Select(m => (Name: m.GetCustomAttributes(typeof(FunctionNameAttribute), false).Cast<FunctionNameAttribute>().SingleOrDefault()?.Name, Method: m))
            .Where(f => f.Name is not null)
            .Select(f =>
            {
                var trigger = f.Method.GetParameters().Select(p => p.GetCustomAttributes(typeof(QueueTriggerAttribute), false).Cast<QueueTriggerAttribute>().SingleOrDefault()).Single(a => a is not null)!;
                return (Function: f.Name!, Queue: (string?)trigger.QueueName, Connection: (string?)trigger.Connection);
            })
            .OrderBy(t => t.Function)
            .ToList();

        Assert.Equal(4, deployed.Count);
        Assert.Equal(deployed, local);
    }

    /// <summary>The app settings as the host's configuration sees them: environment variables, read by the environment provider.</summary>
    private IConfiguration HostConfiguration()
    {
        var prefix = $"RELAYTEST{Guid.NewGuid():N}_";
        var settings = deployment.AppSettings().Concat(PlatformSettings).ToList();
        foreach (var (key, value) in settings)
            Environment.SetEnvironmentVariable(prefix + key, value);
        try
        {
            return new ConfigurationBuilder().AddEnvironmentVariables(prefix).Build();
        }
        finally
        {
            foreach (var (key, _) in settings)
                Environment.SetEnvironmentVariable(prefix + key, null);
        }
    }

    private static List<(string Function, JsonElement Binding)> Bindings()
    {
        using var metadata = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "functions.metadata")));
        return metadata.RootElement.EnumerateArray()
            .SelectMany(f => f.GetProperty("bindings").EnumerateArray().Select(b => (f.GetProperty("name").GetString()!, b.Clone())))
            .ToList();
    }

    [GeneratedRegex("%([^%]+)%")]
    private static partial Regex SettingToken();
}
