namespace FunctionsRelay.Domain.HubSpot;

/// <summary>
/// The version of each HubSpot API the relay calls, in one place (docs/hubspot.md, "API versions", says why each and
/// from which page). HubSpot's date-versioned APIs are current for 6 months and supported for 18; 2026-09 is current.
/// </summary>
public static class HubSpotApiVersions
{
    /// <summary>Media bridge events, media objects and the app's media bridge settings.</summary>
    public const string MediaBridge = "2026-09";

    /// <summary>Token issue, refresh and introspection (every secret in the form body, none in the query).</summary>
    public const string OAuth = "2026-09";

    /// <summary>CRM contacts: the batch read by email and the create.</summary>
    public const string CrmObjects = "2026-09";

    /// <summary>
    /// The contact of a utk: only the legacy contacts API answers it (<c>/contacts/v1/contact/utk/{utk}/profile</c>); no
    /// date-versioned equivalent is published, and legacy APIs are supported until September 2027.
    /// </summary>
    public const string ContactsByUtk = "v1";
}
