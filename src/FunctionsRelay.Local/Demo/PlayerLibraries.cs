namespace FunctionsRelay.Local.Demo;

/// <summary>
/// The players the demo page can switch to, as npm installed them in the repository (package.json: video.js, hls.js, shaka-player):
/// served from its node_modules, so the demo runs offline. A machine without them gets a 404 that says what to run.
/// </summary>
public static class PlayerLibraries
{
    private static readonly Dictionary<string, (string Path, string ContentType)> Files = new(StringComparer.Ordinal)
    {
        ["video.min.js"] = ("video.js/dist/video.min.js", "text/javascript; charset=utf-8"),
        ["video-js.min.css"] = ("video.js/dist/video-js.min.css", "text/css; charset=utf-8"),
        ["hls.min.js"] = ("hls.js/dist/hls.min.js", "text/javascript; charset=utf-8"),
        ["shaka-player.compiled.js"] = ("shaka-player/dist/shaka-player.compiled.js", "text/javascript; charset=utf-8"),
    };

    private static readonly Lazy<string?> NodeModules = new(FindNodeModules);

    public static IResult Serve(string name)
    {
        if (!Files.TryGetValue(name, out var file))
            return Results.NotFound($"the demo serves {string.Join(", ", Files.Keys)}; not {name}");
        var path = NodeModules.Value is { } folder ? Path.Combine(folder, file.Path) : null;
        return path is not null && File.Exists(path)
            ? Results.File(path, file.ContentType)
            : Results.NotFound($"{file.Path} is not installed: run `npm ci` in the repository, then restart the relay");
    }

    /// <summary>The repository's node_modules: above the working folder (dotnet run) or the build output.</summary>
    private static string? FindNodeModules()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
            {
                var candidate = Path.Combine(folder.FullName, "node_modules");
                if (Directory.Exists(Path.Combine(candidate, "video.js")) || Directory.Exists(Path.Combine(candidate, "hls.js")))
                    return candidate;
            }
        }

        return null;
    }
}
