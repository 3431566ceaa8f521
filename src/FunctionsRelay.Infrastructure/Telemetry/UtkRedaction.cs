using System.Diagnostics;
using System.Text.RegularExpressions;
using OpenTelemetry;

namespace FunctionsRelay.Infrastructure.Telemetry;

/// <summary>
/// A viewer's utk is personal data: the contact look-up carries it in its path (<c>/contacts/v1/contact/utk/{utk}/profile</c>),
/// so every path or URL the relay writes down (HTTP client traces, its own log lines) has it replaced first.
/// </summary>
public static partial class UtkRedaction
{
    public const string Redacted = "REDACTED";

    private static readonly string[] UrlTags = ["url.full", "url.path", "http.url", "http.target", "url.original"];

    public static string Redact(string pathOrUrl) =>
        pathOrUrl.Contains("/utk/", StringComparison.OrdinalIgnoreCase) ? UtkSegment().Replace(pathOrUrl, "/utk/" + Redacted + "/") : pathOrUrl;

    /// <summary>Rewrites the URL tags and the name of each HTTP client span as it ends, before any exporter sees it.</summary>
    public sealed class Processor : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity activity)
        {
            foreach (var tag in UrlTags)
            {
                if (activity.GetTagItem(tag) is string value && Redact(value) is var redacted && !ReferenceEquals(redacted, value))
                    activity.SetTag(tag, redacted);
            }

            activity.DisplayName = Redact(activity.DisplayName);
        }
    }

    [GeneratedRegex("/utk/[^/?#]*/", RegexOptions.IgnoreCase)]
    private static partial Regex UtkSegment();
}
