namespace FunctionsRelay.Infrastructure;

/// <summary>Where the relay is reached from the internet: <c>Relay__PublicBaseUrl</c>, else <c>HubSpot__RedirectUri</c>'s scheme and host.</summary>
public static class PublicAddress
{
    /// <summary>The public URL of one of the relay's routes (<c>https://relay.example.com/api/{route}</c>), or null when its address is not known.</summary>
    public static string? ApiUrl(RelayOptions relay, HubSpotOptions hubSpot, string route) =>
        Uri.TryCreate(string.IsNullOrWhiteSpace(relay.PublicBaseUrl) ? hubSpot.RedirectUri : relay.PublicBaseUrl, UriKind.Absolute, out var address)
            ? $"{address.GetLeftPart(UriPartial.Authority)}/api/{route}"
            : null;
}
