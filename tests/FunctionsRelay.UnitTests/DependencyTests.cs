using System.Text.RegularExpressions;

namespace FunctionsRelay.UnitTests;

/// <summary>
/// The architecture as rules over the code: the domain does no I/O, storage knows nothing of HubSpot, the rooms that
/// handle sessions and deliver them know nothing of HTTP endpoints, and only the hosts know Azure Functions. A rule
/// broken names the file and line that broke it.
/// </summary>
public sealed class DependencyTests
{
    private static readonly string Root = FindRoot();

    public static TheoryData<string, string, string> Rules => new()
    {
        // room (a folder under src/), what it may not name, why
        { "FunctionsRelay.Domain", @"\bSystem\.(IO|Net)\b|\bAzure\b|Microsoft\.(Extensions|AspNetCore|Azure)|\bHttpClient\b|\bFile\.|\bDirectory\.|\b(DateTime|DateTimeOffset)\.(Utc)?Now\b|\bEnvironment\.|\bRandom\.Shared\b", "the domain is pure: no I/O, no clock, no randomness of its own" },
        { "FunctionsRelay.Domain/Sources", @"FunctionsRelay\.Domain\.(Sessions|HubSpot)\b", "a source turns a body into beacons; what sessions make of them, and what HubSpot is sent, is not its business" },
        { "FunctionsRelay.Infrastructure/Storage", @"FunctionsRelay\.Infrastructure\.(HubSpot|Http|Processing|Ingest)\b|Microsoft\.AspNetCore\.(Http|Builder|Routing)|\bHttpClient\b", "storage keeps rows and messages; it knows nothing of HubSpot, endpoints or processing" },
        { "FunctionsRelay.Infrastructure/Processing", @"FunctionsRelay\.Infrastructure\.Http\b|Microsoft\.AspNetCore\.(Http|Builder|Routing)|\bHttpRequest\b|\bIResult\b", "sessions and their delivery know nothing of the HTTP endpoints" },
        { "FunctionsRelay.Infrastructure/Delivery", @"FunctionsRelay\.Infrastructure\.(Http|Processing|Ingest)\b|Microsoft\.AspNetCore\.(Http|Builder|Routing)|\bHttpRequest\b|\bIResult\b", "delivery knows nothing of the HTTP endpoints, and sessions call it, not the other way round" },
        { "FunctionsRelay.Infrastructure/HubSpot", @"FunctionsRelay\.Infrastructure\.(Http|Processing|Ingest)\b|Microsoft\.AspNetCore\.(Http|Builder|Routing)", "the HubSpot client serves delivery; it knows nothing of endpoints, processing or ingest" },
        { "FunctionsRelay.Infrastructure/Privacy", @"FunctionsRelay\.Infrastructure\.(Http|Ingest)\b|Microsoft\.AspNetCore\.(Http|Builder|Routing)", "erasing a viewer is the same from the webhook, the queue and the command line" },
        { "FunctionsRelay.Infrastructure", @"Microsoft\.Azure\.Functions|Microsoft\.Azure\.WebJobs", "only the hosts know Azure Functions: the services are the same under every host" },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void A_room_names_nothing_it_must_not(string room, string forbidden, string why)
    {
        var pattern = new Regex(forbidden, RegexOptions.CultureInvariant);
        var broken = SourceFiles(room)
            .SelectMany(file => File.ReadLines(file).Select((line, index) => (file, line, index)))
            .Where(hit => !IsComment(hit.line) && pattern.IsMatch(hit.line))
            .Select(hit => $"{Path.GetRelativePath(Root, hit.file)}:{hit.index + 1}: {hit.line.Trim()}")
            .ToList();

        Assert.True(broken.Count == 0, $"{why}:\n{string.Join('\n', broken)}");
    }

    [Fact]
    public void The_domain_project_references_no_package_and_no_other_project()
    {
        var project = File.ReadAllText(Path.Combine(Root, "src", "FunctionsRelay.Domain", "FunctionsRelay.Domain.csproj"));

        Assert.DoesNotContain("<PackageReference", project, StringComparison.Ordinal);
        Assert.DoesNotContain("<ProjectReference", project, StringComparison.Ordinal);
        Assert.All(
            typeof(FunctionsRelay.Domain.Sources.BeaconParser).Assembly.GetReferencedAssemblies(),
            reference => Assert.Matches("^(System|Microsoft\\.Win32|netstandard|mscorlib)(\\.|$)", reference.Name!));
    }

    [Fact]
    public void The_rules_read_the_code_they_name()
    {
        // A rule over a folder that moved would pass on nothing.
        Assert.All(Rules.Select(rule => (string)rule[0]), room => Assert.NotEmpty(SourceFiles(room)));
        Assert.Contains(SourceFiles("FunctionsRelay.Infrastructure/Processing"), file => file.EndsWith("SessionProcessor.cs", StringComparison.Ordinal));
        Assert.Contains(SourceFiles("FunctionsRelay.Infrastructure/Delivery"), file => file.EndsWith("OutboxDeliverer.cs", StringComparison.Ordinal));
        Assert.Contains(SourceFiles("FunctionsRelay.Domain/Sources"), file => file.EndsWith("MParticleEvents.cs", StringComparison.Ordinal));
    }

    private static bool IsComment(string line) => line.TrimStart() is var text && (text.StartsWith("//", StringComparison.Ordinal) || text.StartsWith('*'));

    private static IEnumerable<string> SourceFiles(string room) =>
        Directory.EnumerateFiles(Path.Combine(Root, "src", room), "*.cs", SearchOption.AllDirectories)
            .Where(file => !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "FunctionsRelay.sln")))
                return directory.FullName;
        }

        throw new InvalidOperationException("FunctionsRelay.sln not found above " + AppContext.BaseDirectory);
    }
}
