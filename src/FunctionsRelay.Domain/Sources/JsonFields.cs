using System.Globalization;
using System.Text.Json;
using FunctionsRelay.Domain.Beacons;

namespace FunctionsRelay.Domain.Sources;

/// <summary>
/// The field readers every source shares: each reads one field of a JSON object against the beacon limits, and on a
/// wrong value notes an error that names the field and the kind of value it got (never the value: it may be personal
/// data), and gives null. A request with any error is refused whole.
/// </summary>
internal sealed class JsonFields(BeaconLimits limits, long latestTs)
{
    /// <summary>Timestamps before 2000-01-01 are almost always seconds sent where milliseconds belong.</summary>
    private const long EarliestTs = 946_684_800_000;

    private const int MaxErrorsReported = 50;

    private const int MaxEmailLength = 254;

    private readonly List<BeaconError> _errors = [];

    public IReadOnlyList<BeaconError> Errors => _errors;

    public BeaconLimits Limits => limits;

    public void Error(string field, string message)
    {
        if (_errors.Count < MaxErrorsReported)
            _errors.Add(new BeaconError(field, message));
    }

    /// <summary>One @ with text before it and a dotted domain after it, no spaces, controls or address-list punctuation.</summary>
    public static bool IsEmail(string text)
    {
        var at = text.IndexOf('@');
        return at > 0 && at == text.LastIndexOf('@') && text.IndexOf('.', at) is var dot && dot > at + 1 && dot < text.Length - 1
            && !text.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '<' or '>' or ',' or ';' or '"' or '(' or ')' or '[' or ']' or '\\' or '/');
    }

    public bool TryGetObject(JsonElement item, string path, ReadOnlySpan<byte> name, out JsonElement value)
    {
        if (!item.TryGetProperty(name, out value) || value.ValueKind == JsonValueKind.Null)
            return false;
        if (value.ValueKind == JsonValueKind.Object)
            return true;
        Error(Name(path, name), $"must be an object (got {Describe(value)})");
        return false;
    }

    public static bool Has(JsonElement item, ReadOnlySpan<byte> name) =>
        item.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    public string? SessionId(JsonElement item, string path, ReadOnlySpan<byte> name)
    {
        if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            Error(Name(path, name), $"is required: a string of 1 to {limits.MaxSessionIdLength} characters");
            return null;
        }

        if (Text(value, path, name) is not { } text)
            return null;
        if (text.Length == 0 || text.Length > limits.MaxSessionIdLength || string.IsNullOrWhiteSpace(text))
        {
            Error(Name(path, name), $"must be 1 to {limits.MaxSessionIdLength} characters, not blank (got {text.Length})");
            return null;
        }

        if (ContainsControlCharacter(text))
        {
            Error(Name(path, name), "must not contain control characters");
            return null;
        }

        return text;
    }

    /// <summary>A string value's text; an error for any other kind of value, or a string no .NET string can hold.</summary>
    private string? Text(JsonElement value, string path, ReadOnlySpan<byte> name)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            Error(Name(path, name), $"must be a string (got {Describe(value)})");
            return null;
        }

        var text = TextOf(value);
        if (text is null)
            Error(Name(path, name), "is not valid Unicode text");
        return text;
    }

    /// <summary>
    /// A string that must be one of <paramref name="choices"/> (exactly, as UTF-8, tried in order); any other value is an
    /// error saying it must be <paramref name="allowed"/>.
    /// </summary>
    public T? OneOf<T>(JsonElement value, string field, IReadOnlyList<(byte[] Text, T Value)> choices, string allowed)
        where T : struct
    {
        if (value.ValueKind == JsonValueKind.String)
        {
            foreach (var (text, choice) in choices)
            {
                if (value.ValueEquals(text))
                    return choice;
            }
        }

        Error(field, $"must be {allowed} (got {Describe(value)})");
        return null;
    }

    /// <summary>As <see cref="OneOf{T}"/>, for a field that may be left out (or null).</summary>
    public T? OptionalOneOf<T>(JsonElement item, string path, ReadOnlySpan<byte> name, IReadOnlyList<(byte[] Text, T Value)> choices, string allowed)
        where T : struct =>
        item.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? OneOf(value, Name(path, name), choices, allowed) : null;

    /// <summary>What <see cref="char.IsControl(char)"/> says of any of its characters (C0 and C1 controls), in vector steps.</summary>
    public static bool ContainsControlCharacter(string text) =>
        text.AsSpan().IndexOfAnyInRange('\u0000', '\u001f') >= 0 || text.AsSpan().IndexOfAnyInRange('\u007f', '\u009f') >= 0;

    public string? OptionalString(JsonElement item, string path, ReadOnlySpan<byte> name)
    {
        if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (Text(value, path, name) is not { } text)
            return null;
        if (text.Length > limits.MaxStringLength)
        {
            Error(Name(path, name), $"is {text.Length} characters; at most {limits.MaxStringLength} are accepted");
            return null;
        }

        return text.Length == 0 ? null : text;
    }

    /// <summary>An email address, lower-cased; an invalid one is refused without its text, which is personal data.</summary>
    public string? Email(JsonElement item, string path, ReadOnlySpan<byte> name)
    {
        if (OptionalString(item, path, name) is not { } text)
            return null;
        var email = text.Trim();
        if (email.Length <= MaxEmailLength && IsEmail(email))
            return email.ToLowerInvariant();
        Error(Name(path, name), $"is not an email address (local-part@domain, at most {MaxEmailLength} characters)");
        return null;
    }

    public string? OptionalLink(JsonElement item, string path, ReadOnlySpan<byte> name)
    {
        if (OptionalString(item, path, name) is not { } text)
            return null;
        if (MediaLinks.Problem(text, limits.AllowHttpLinks) is not { } problem)
            return text;
        Error(Name(path, name), problem);
        return null;
    }

    public long? RequiredPositiveInteger(JsonElement item, string path, ReadOnlySpan<byte> name)
    {
        if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            Error(Name(path, name), "is required: a positive integer");
            return null;
        }

        return Integer(value, path, name, min: 1);
    }

    public long? OptionalInteger(JsonElement item, string path, ReadOnlySpan<byte> name, long min)
    {
        if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return Integer(value, path, name, min);
    }

    private long? Integer(JsonElement value, string path, ReadOnlySpan<byte> name, long min)
    {
        if (!TryReadInt64(value, out var parsed) || parsed < min)
        {
            Error(Name(path, name), $"must be an integer >= {min} (got {Describe(value)})");
            return null;
        }

        return parsed;
    }

    public long? Timestamp(JsonElement item, string path, ReadOnlySpan<byte> name, bool required)
    {
        if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
                Error(Name(path, name), "is required: the client's time in milliseconds since the Unix epoch");
            return null;
        }

        var ts = Integer(value, path, name, min: 0);
        if (ts is null)
            return null;
        if (ts < EarliestTs)
        {
            Error(Name(path, name), "must be milliseconds since the Unix epoch (got a time before 2000-01-01: seconds?)");
            return null;
        }

        if (ts > latestTs)
        {
            Error(Name(path, name), $"is more than {limits.MaxFutureSkew.TotalHours:0.#} h in the future");
            return null;
        }

        return ts;
    }

    public double? Duration(JsonElement item, string path, ReadOnlySpan<byte> name)
    {
        var duration = Seconds(item, path, name, required: false);
        if (duration is 0)
        {
            Error(Name(path, name), "must be greater than 0 (leave it out while it is unknown)");
            return null;
        }

        return duration;
    }

    public double? Seconds(JsonElement item, string path, ReadOnlySpan<byte> name, bool required) =>
        Number(item, path, name, required, scale: 1, unit: "seconds");

    public double? Milliseconds(JsonElement item, string path, ReadOnlySpan<byte> name, bool required) =>
        Number(item, path, name, required, scale: 1000, unit: "milliseconds");

    private double? Number(JsonElement item, string path, ReadOnlySpan<byte> name, bool required, double scale, string unit)
    {
        if (!item.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
                Error(Name(path, name), $"is required: a finite number >= 0 ({unit})");
            return null;
        }

        if (!TryReadDouble(value, out var parsed) || !double.IsFinite(parsed) || parsed < 0)
        {
            Error(Name(path, name), $"must be a finite number >= 0 ({unit}; got {Describe(value)})");
            return null;
        }

        var seconds = parsed / scale;
        if (seconds > limits.MaxSeconds)
        {
            Error(Name(path, name), $"must be at most {limits.MaxSeconds * scale:0.#} {unit} (got {Describe(value)})");
            return null;
        }

        return seconds;
    }

    /// <summary>A JSON string's text, or null where it escapes a lone surrogate that no .NET string can hold as text.</summary>
    public static string? TextOf(JsonElement value)
    {
        try
        {
            return value.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    // mParticle sends numbers as strings; native beacons may too.
    public static bool TryReadInt64(JsonElement value, out long parsed)
    {
        parsed = 0;
        return value.ValueKind switch
        {
            JsonValueKind.Number => value.TryGetInt64(out parsed),
            JsonValueKind.String => long.TryParse(TextOf(value), NumberStyles.None, CultureInfo.InvariantCulture, out parsed),
            _ => false,
        };
    }

    public static bool TryReadDouble(JsonElement value, out double parsed)
    {
        parsed = 0;
        return value.ValueKind switch
        {
            JsonValueKind.Number => value.TryGetDouble(out parsed),
            JsonValueKind.String => double.TryParse(TextOf(value), NumberStyles.Float, CultureInfo.InvariantCulture, out parsed),
            _ => false,
        };
    }

    public static string Name(string path, ReadOnlySpan<byte> name) => Name(path, System.Text.Encoding.UTF8.GetString(name));

    public static string Name(string path, string name) =>
        path.Length == 0 ? name : name.Length == 0 ? path : $"{path}.{name}";

    /// <summary>
    /// The kind of a refused value, never the value: a field may hold an email or a utk (a mis-mapped mParticle
    /// output puts one where a contact id belongs), and error texts are answered, logged and counted.
    /// </summary>
    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!.Length is var length && length == 1 ? "a string of 1 character" : $"a string of {length} characters",
        JsonValueKind.Number => "a number",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.True or JsonValueKind.False => "true or false",
        _ => "null",
    };
}
