namespace FunctionsRelay.Functions.Tests;

/// <summary>The tests that share this assembly's Azurite.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<Azurite>
{
    public const string Name = "Azurite";
}
