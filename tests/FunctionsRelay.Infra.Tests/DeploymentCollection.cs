namespace FunctionsRelay.Infra.Tests;

/// <summary>The tests that read one evaluated deployment: it is built once for all of them.</summary>
[CollectionDefinition(Name)]
public sealed class DeploymentCollection : ICollectionFixture<DeploymentTests.Deployment>
{
    public const string Name = "deployment";
}
