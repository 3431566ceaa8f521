using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace FunctionsRelay.Cli;

/// <summary>
/// The options the verbs share, each read and checked by the parser: a wrong value is a wrong command line (exit 2),
/// found before anything is read or changed. An option's value never starts with <c>--</c>: <c>--email --apply</c> is
/// an email missing, not an email named "--apply".
/// </summary>
internal static class CliOptions
{
    public static Option<long?> Id(string name, string description, bool required = false) => new(name)
    {
        Description = description,
        Required = required,
        CustomParser = result => ValueOf(result, name) is { } text
            ? long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0 ? id : Refuse<long?>(result, $"{name} must be a positive integer")
            : null,
    };

    public static Option<long?> Portal(bool required = false) => Id("--portal", "the HubSpot account (portal) id", required);

    public static Option<string?> Text(string name, string description) => Value(name, description, text => text, "");

    /// <summary>An option whose value <paramref name="read"/> turns into <typeparamref name="T"/>, or refuses (null) with <paramref name="problem"/>.</summary>
    public static Option<T?> Value<T>(string name, string description, Func<string, T?> read, string problem)
        where T : class => new(name)
    {
        Description = description,
        CustomParser = result => ValueOf(result, name) is { } text ? read(text) ?? Refuse<T>(result, problem) : null,
    };

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    public static Option<bool> Apply(string what) => Flag("--apply", what + "; without it nothing changes");

    public static Option<DateTimeOffset?> Date(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result => ValueOf(result, name) is { } text
            ? DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date)
                ? date
                : Refuse<DateTimeOffset?>(result, "--since and --until must be dates (2026-11-01) or times (2026-11-01T12:00Z)")
            : null,
    };

    public static Option<TimeSpan?> Grace() => new("--grace")
    {
        Description = "how long the one replaced stays valid (7.00:00:00 when not given)",
        CustomParser = result => ValueOf(result, "--grace") is { } text
            ? TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var grace) && grace >= TimeSpan.Zero ? grace : Refuse<TimeSpan?>(result, "--grace must be a time span such as 7.00:00:00")
            : null,
    };

    /// <summary>Refuses a command line that gives both options.</summary>
    public static void Exclusive(this Command command, Option first, Option second) =>
        command.Validators.Add(result =>
        {
            if (result.GetResult(first) is not null && result.GetResult(second) is not null)
                result.AddError($"{first.Name} and {second.Name} exclude each other");
        });

    /// <summary>Refuses a command line that does not give the option (with the verb's own sentence).</summary>
    public static void Needs(this Command command, Option option, string problem) =>
        command.Validators.Add(result =>
        {
            if (result.GetResult(option) is null)
                result.AddError(problem);
        });

    private static string? ValueOf(ArgumentResult result, string name)
    {
        if (result.Tokens.Count == 0)
            return null;
        var text = result.Tokens[0].Value;
        return text.StartsWith("--", StringComparison.Ordinal) ? Refuse<string>(result, $"{name} needs a value ('{text}' is an option)") : text;
    }

    public static T? Refuse<T>(ArgumentResult result, string problem)
    {
        result.AddError(problem);
        return default;
    }
}
