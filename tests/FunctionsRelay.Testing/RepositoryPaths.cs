namespace FunctionsRelay.Testing;

/// <summary>The checkout the tests run from: the folder holding FunctionsRelay.sln above the test binaries.</summary>
public static class RepositoryPaths
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FunctionsRelay.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException("FunctionsRelay.sln not found above " + AppContext.BaseDirectory);
    }
}
