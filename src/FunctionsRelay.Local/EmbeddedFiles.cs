using System.Reflection;

namespace FunctionsRelay.Local;

/// <summary>The pages and scripts the local host serves from its own assembly.</summary>
internal static class EmbeddedFiles
{
    public static string Read(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"{name} is not embedded in the local host");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
