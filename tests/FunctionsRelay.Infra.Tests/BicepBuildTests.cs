using System.Text.Json.Nodes;
using FunctionsRelay.Testing;

namespace FunctionsRelay.Infra.Tests;

public sealed class BicepBuildTests
{
    public static TheoryData<string> BicepFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(BicepCli.InfraFolder, "*.bicep", SearchOption.AllDirectories).Order())
            data.Add(Path.GetRelativePath(BicepCli.InfraFolder, file));
        return data;
    }

    [Theory]
    [MemberData(nameof(BicepFiles))]
    public async Task Every_bicep_file_builds_with_no_error_and_no_warning(string file)
    {
        // bicepconfig.json turns the linter's rules to errors, so a lint finding fails the build too.
        var result = await BicepCli.RunAsync(BicepCli.InfraFolder, "build", file, "--stdout");

        Assert.True(result.ExitCode == 0, result.Diagnostics);
        Assert.Equal("", result.Diagnostics);
        Assert.NotNull(JsonNode.Parse(result.Output)!["resources"]);
    }

    [Fact]
    public async Task Main_parameters_file_gives_every_parameter_without_a_default_from_the_azd_environment()
    {
        var build = await BicepCli.RunAsync(BicepCli.InfraFolder, "build", "main.bicep", "--stdout");
        var template = JsonNode.Parse(build.Output)!.AsObject();
        var azdParameters = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(BicepCli.InfraFolder, "main.parameters.json")))!["parameters"]!.AsObject();

        var required = template["parameters"]!.AsObject().Where(p => p.Value!["defaultValue"] is null).Select(p => p.Key).ToList();
        Assert.Contains("hubSpotClientSecret", required);
        Assert.All(required, name => Assert.True(azdParameters.ContainsKey(name), $"main.parameters.json does not set {name}"));
        Assert.Equal("securestring", template["parameters"]!["hubSpotClientSecret"]!["type"]!.GetValue<string>());
        Assert.Equal("${AZURE_ENV_NAME}", azdParameters["environmentName"]!["value"]!.GetValue<string>());
        Assert.Equal("${AZURE_LOCATION}", azdParameters["location"]!["value"]!.GetValue<string>());
        Assert.Equal("${AZURE_PRINCIPAL_ID}", azdParameters["principalId"]!["value"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_region_is_one_azd_asks_for_and_one_that_offers_flex_consumption()
    {
        var build = await BicepCli.RunAsync(BicepCli.InfraFolder, "build", "main.bicep", "--stdout");
        var parameters = JsonNode.Parse(build.Output)!["parameters"]!;

        Assert.Equal("location", parameters["location"]!["metadata"]!["azd"]!["type"]!.GetValue<string>());
        var regions = parameters["location"]!["allowedValues"]!.AsArray().Select(r => r!.GetValue<string>()).ToList();
        Assert.Contains("westeurope", regions);
        Assert.Contains("eastus", regions);
        Assert.DoesNotContain("westus", regions); // no Flex Consumption there
        Assert.Equal(40, parameters["maximumInstanceCount"]!["minValue"]!.GetValue<int>());
    }

    [Fact]
    public void Azure_yaml_deploys_the_functions_project_as_the_relay_service()
    {
        var azureYaml = File.ReadAllLines(Path.Combine(RepositoryPaths.Root, "azure.yaml")).Select(l => l.Trim()).ToList();
        Assert.Contains("relay:", azureYaml);
        Assert.Contains("project: ./src/FunctionsRelay.Functions", azureYaml);
        Assert.Contains("host: function", azureYaml);
        Assert.Contains("language: dotnet", azureYaml);
        Assert.True(File.Exists(Path.Combine(RepositoryPaths.Root, "src", "FunctionsRelay.Functions", "FunctionsRelay.Functions.csproj")));
    }
}
