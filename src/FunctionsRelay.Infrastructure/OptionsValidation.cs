using System.Text.RegularExpressions;
using FunctionsRelay.Domain.Beacons;
using FunctionsRelay.Domain.Sessions;
using FunctionsRelay.Infrastructure.Protection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Infrastructure;

/// <summary>
/// What the relay's settings must be, checked when a host starts (<c>ValidateOnStart</c>): a bad value stops the app with
/// a message naming the setting, instead of failing later on the first beacon or event that needs it.
/// </summary>
internal static partial class OptionsValidation
{
    public static ValidateOptionsResult Of(params string?[] failures) =>
        failures.Where(f => f is not null).ToList() is { Count: > 0 } found ? ValidateOptionsResult.Fail(found!) : ValidateOptionsResult.Success;

    public static string? Positive(TimeSpan value, string setting) => value > TimeSpan.Zero ? null : $"{setting} must be longer than zero (got {value})";

    public static string? AtLeast(long value, long minimum, string setting) => value >= minimum ? null : $"{setting} must be at least {minimum} (got {value})";

    /// <summary>Azure Storage: queues 3-63 lowercase letters, digits and single hyphens; tables 3-63 letters and digits, not starting with a digit.</summary>
    public static string? QueueName(string name, string setting) =>
        QueueNamePattern().IsMatch(name) && !name.Contains("--", StringComparison.Ordinal) && name.Length <= 63 - "-poison".Length
            ? null
            : $"{setting} must be a queue name of 3 to 56 lowercase letters, digits and single hyphens (got '{name}')";

    public static string? TableName(string name, string setting) =>
        TableNamePattern().IsMatch(name) ? null : $"{setting} must be a table name of 3 to 63 letters and digits, starting with a letter (got '{name}')";

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    private static partial Regex QueueNamePattern();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]{2,62}$")]
    private static partial Regex TableNamePattern();
}

internal sealed class RelayOptionsValidation : IValidateOptions<RelayOptions>
{
    public ValidateOptionsResult Validate(string? name, RelayOptions options) => OptionsValidation.Of(
        OptionsValidation.QueueName(options.BeaconQueue, "Relay__BeaconQueue"),
        OptionsValidation.QueueName(options.ScheduleQueue, "Relay__ScheduleQueue"),
        options.ScheduleQueue != options.BeaconQueue ? null : "Relay__ScheduleQueue must not be the beacon queue",
        OptionsValidation.TableName(options.SessionsTable, "Relay__SessionsTable"),
        OptionsValidation.TableName(options.TokensTable, "Relay__TokensTable"),
        OptionsValidation.TableName(options.DeadLettersTable, "Relay__DeadLettersTable"),
        OptionsValidation.TableName(options.MediaObjectsTable, "Relay__MediaObjectsTable"),
        OptionsValidation.TableName(options.PoisonedTable, "Relay__PoisonedTable"),
        OptionsValidation.TableName(options.KeysTable, "Relay__KeysTable"),
        OptionsValidation.TableName(options.MetricsTable, "Relay__MetricsTable"),
        OptionsValidation.TableName(options.QuotasTable, "Relay__QuotasTable"),
        OptionsValidation.TableName(options.ScheduleTable, "Relay__ScheduleTable"),
        options.ScheduledCheckTableAfter >= TimeSpan.Zero ? null : $"Relay__ScheduledCheckTableAfter must be zero (every check on the queue) or more (got {options.ScheduledCheckTableAfter})",
        OptionsValidation.Positive(options.ScheduleSweepInterval, "Relay__ScheduleSweepInterval"),
        OptionsValidation.AtLeast(options.MaxNewHeldSessionsPerPortalPerHour, 0, "Relay__MaxNewHeldSessionsPerPortalPerHour"),
        OptionsValidation.Positive(options.MetricsInterval, "Relay__MetricsInterval"),
        OptionsValidation.AtLeast(options.StorageRetries, 0, "Relay__StorageRetries"),
        OptionsValidation.AtLeast(options.RetentionDays, 1, "Relay__RetentionDays"),
        options.UndeliveredRetentionDays == 0 || options.UndeliveredRetentionDays >= options.RetentionDays
            ? null
            : $"Relay__UndeliveredRetentionDays must be 0 (kept until an operator replays them) or at least Relay__RetentionDays ({options.RetentionDays}) (got {options.UndeliveredRetentionDays})",
        OptionsValidation.Positive(options.StorageRetryDelay, "Relay__StorageRetryDelay"),
        OptionsValidation.Positive(options.DeliveryLease, "Relay__DeliveryLease"),
        options.BacklogWarningAfter >= TimeSpan.Zero ? null : $"Relay__BacklogWarningAfter must be zero (no warning) or more (got {options.BacklogWarningAfter})",
        OptionsValidation.AtLeast(options.NewMediaPerPortalPerDay, 0, "Relay__NewMediaPerPortalPerDay"),
        OptionsValidation.AtLeast(options.NewMediaPerPortalPerHour, 0, "Relay__NewMediaPerPortalPerHour"),
        OptionsValidation.Positive(options.MediaObjectWaitLimit, "Relay__MediaObjectWaitLimit"),
        OptionsValidation.AtLeast(options.MaxSessionsPerViewerPerHour, 1, "Relay__MaxSessionsPerViewerPerHour"),
        OptionsValidation.AtLeast(options.MaxUnknownViewersPerSourcePerHour, 0, "Relay__MaxUnknownViewersPerSourcePerHour"),
        OptionsValidation.AtLeast(options.MaxContactsCreatedPerPortalPerDay, 0, "Relay__MaxContactsCreatedPerPortalPerDay"),
        options.HoldAnonymousFor >= TimeSpan.Zero ? null : $"Relay__HoldAnonymousFor must be zero (no hold) or more (got {options.HoldAnonymousFor})",
        options.AnonymousCheckInterval > TimeSpan.Zero && options.AnonymousCheckInterval <= TimeSpan.FromHours(1)
            ? null
            : $"Relay__AnonymousCheckInterval must be more than zero and at most 01:00:00 (got {options.AnonymousCheckInterval})",
        string.IsNullOrWhiteSpace(options.KeyRingKeyUri) || KeyRingKey.TryParse(options.KeyRingKeyUri, out _)
            ? null
            : $"Relay__KeyRingKeyUri must be the https URL of a Key Vault key, https://<vault>.vault.azure.net/keys/<name> (got '{options.KeyRingKeyUri}')",
        string.IsNullOrWhiteSpace(options.PublicBaseUrl) || Uri.TryCreate(options.PublicBaseUrl, UriKind.Absolute, out _)
            ? null
            : $"Relay__PublicBaseUrl must be an absolute URL (got '{options.PublicBaseUrl}')");
}

internal sealed class HubSpotOptionsValidation : IValidateOptions<HubSpotOptions>
{
    public ValidateOptionsResult Validate(string? name, HubSpotOptions options) => OptionsValidation.Of(
        OptionsValidation.AtLeast(options.BudgetSlice, 1, "HubSpot__BudgetSlice"),
        string.IsNullOrWhiteSpace(options.ClientId) != string.IsNullOrWhiteSpace(options.ClientSecret)
            ? "HubSpot__ClientId and HubSpot__ClientSecret go together: set both (to send to HubSpot) or neither (dry run)"
            : null,
        options.AllowedPortals.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).All(p => long.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) && id > 0)
            ? null
            : "HubSpot__AllowedPortals must be HubSpot account ids separated by commas",
        options.RequestsPerTenSeconds is >= 1 and <= 110 ? null : $"HubSpot__RequestsPerTenSeconds must be 1 to 110, HubSpot's limit (got {options.RequestsPerTenSeconds})",
        OptionsValidation.Positive(options.RequestTimeout, "HubSpot__RequestTimeout"),
        OptionsValidation.Positive(options.NoTokenRetryDelay, "HubSpot__NoTokenRetryDelay"),
        OptionsValidation.Positive(options.OutageRetryDelay, "HubSpot__OutageRetryDelay"),
        OptionsValidation.Positive(options.RefreshInterval, "HubSpot__RefreshInterval"),
        options.GiveUpWithoutTokenAfter >= options.NoTokenRetryDelay
            ? null
            : "HubSpot__GiveUpWithoutTokenAfter must be at least HubSpot__NoTokenRetryDelay");
}

internal sealed class SessionOptionsValidation : IValidateOptions<SessionOptions>
{
    public ValidateOptionsResult Validate(string? name, SessionOptions options) => OptionsValidation.Of(
        OptionsValidation.Positive(options.IdleTimeout, "Sessions__IdleTimeout"),
        OptionsValidation.Positive(options.EndGracePeriod, "Sessions__EndGracePeriod"),
        options.ReorderWindow >= TimeSpan.Zero ? null : "Sessions__ReorderWindow must not be negative",
        OptionsValidation.AtLeast(options.MaxSpans, 1, "Sessions__MaxSpans"),
        OptionsValidation.AtLeast(options.MaxLogEntries, 1, "Sessions__MaxLogEntries"));
}

internal sealed class BeaconLimitsValidation : IValidateOptions<BeaconLimits>
{
    public ValidateOptionsResult Validate(string? name, BeaconLimits options) => OptionsValidation.Of(
        OptionsValidation.AtLeast(options.MaxBodyBytes, 1, "Beacons__MaxBodyBytes"),
        OptionsValidation.AtLeast(options.MaxBeaconsPerRequest, 1, "Beacons__MaxBeaconsPerRequest"),
        OptionsValidation.AtLeast(options.MaxSessionsPerRequest, 1, "Beacons__MaxSessionsPerRequest"),
        OptionsValidation.AtLeast(options.MaxStringLength, 1, "Beacons__MaxStringLength"),
        OptionsValidation.AtLeast(options.MaxSessionIdLength, 1, "Beacons__MaxSessionIdLength"),
        options.MaxSeconds > 0 ? null : "Beacons__MaxSeconds must be more than 0",
        OptionsValidation.AtLeast(options.MaxJsonDepth, 4, "Beacons__MaxJsonDepth"),
        OptionsValidation.AtLeast(options.RequestsPerMinutePerAddress, 1, "Beacons__RequestsPerMinutePerAddress"),
        OptionsValidation.AtLeast(options.RequestsPerMinutePerPortal, 1, "Beacons__RequestsPerMinutePerPortal"),
        options.DefaultPortalId is null or > 0 ? null : "Beacons__DefaultPortalId must be a positive portal id");
}
