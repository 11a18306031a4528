using System.Collections;
using System.ComponentModel;
using System.Reflection;

namespace AutoGlm.Edge.Hosting;

/// <summary>
/// Reads the daemon's own configuration sections against the options types they bind to, before anything binds them:
/// a value that cannot become its key's type is an error naming the key, the value and what was expected (the binder
/// would throw a stack trace from deep inside the host's start), and a key that binds to nothing is reported by name.
/// </summary>
/// <remarks>
/// Uses the same <see cref="TypeConverter"/>s as <c>Microsoft.Extensions.Configuration.Binder</c>, so a value passes
/// here exactly when the binder takes it. Sections not listed (Logging, Kestrel, …) are not looked at.
/// </remarks>
public sealed class ConfigurationCheck
{
    private readonly IReadOnlyDictionary<string, Type[]> _sections;
    private readonly string _hint;

    /// <param name="sections">Each section name with the options types bound from it (<c>Runtime</c> feeds two).</param>
    /// <param name="hint">Where the settings are described, added to each unknown key.</param>
    public ConfigurationCheck(IReadOnlyDictionary<string, Type[]> sections, string hint = "see docs/configuration.md")
    {
        _sections = sections;
        _hint = hint;
    }

    /// <summary>Values that cannot be bound, each naming its key ("Mqtt:Port is 'abc', which is not a whole number").</summary>
    public List<string> Errors { get; } = [];

    /// <summary>Keys in a checked section that no setting takes ("Mqtt:Prot is not a setting (expected one of Broker, Host, …)").</summary>
    public List<string> UnknownKeys { get; } = [];

    /// <summary>Walks every checked section of <paramref name="configuration"/>, filling <see cref="Errors"/> and <see cref="UnknownKeys"/>.</summary>
    public ConfigurationCheck Run(IConfiguration configuration)
    {
        foreach (var (name, types) in _sections)
        {
            var section = configuration.GetSection(name);
            if (section.Exists())
            {
                WalkObject(section, types);
            }
        }

        return this;
    }

    /// <summary>Checks one section against one type (for a validator that owns a single section, such as <c>Sensors</c>).</summary>
    public static ConfigurationCheck For(IConfiguration configuration, string section, Type type, string hint) =>
        new ConfigurationCheck(new Dictionary<string, Type[]> { [section] = [type] }, hint).Run(configuration);

    private void WalkObject(IConfigurationSection section, Type[] types)
    {
        var properties = types
            .SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            .Where(IsBindable)
            .GroupBy(p => p.Name, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
        foreach (var child in section.GetChildren())
        {
            if (properties.TryGetValue(child.Key, out var property))
            {
                Walk(child, property.PropertyType);
            }
            else
            {
                UnknownKeys.Add($"{child.Path} is not a setting (expected one of {string.Join(", ", properties.Keys)}; {_hint})");
            }
        }
    }

    private void Walk(IConfigurationSection section, Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (IsLeaf(type))
        {
            if (section.Value is { Length: > 0 } value && !Converts(type, value))
            {
                Errors.Add($"{section.Path} is '{value}', which is not {Expected(type)}");
            }

            if (section.GetChildren().Any())
            {
                Errors.Add($"{section.Path} takes a single value, not a section (found {section.GetChildren().First().Path})");
            }

            return;
        }

        if (ItemType(type) is { } item)
        {
            foreach (var child in section.GetChildren())
            {
                Walk(child, item);
            }

            return;
        }

        if (section.Value is { Length: > 0 } scalar && !section.GetChildren().Any())
        {
            Errors.Add($"{section.Path} is a section of settings, not a value (got '{scalar}')");
            return;
        }

        WalkObject(section, [type]);
    }

    private static bool IsBindable(PropertyInfo property) =>
        property.GetIndexParameters().Length == 0
        && (property.SetMethod is { IsPublic: true } || (ItemType(property.PropertyType) is not null && property.GetMethod is { IsPublic: true }));

    private static bool IsLeaf(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
        || type == typeof(DateTimeOffset) || type == typeof(DateTime) || type == typeof(Uri) || type == typeof(Guid);

    /// <summary>The item type of a list, array or string-keyed dictionary; null for anything else.</summary>
    private static Type? ItemType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        if (type == typeof(string) || !typeof(IEnumerable).IsAssignableFrom(type) || !type.IsGenericType)
        {
            return null;
        }

        var arguments = type.GetGenericArguments();
        return arguments.Length switch
        {
            1 => arguments[0],
            2 when arguments[0] == typeof(string) => arguments[1],
            _ => null,
        };
    }

    private static bool Converts(Type type, string value)
    {
        try
        {
            TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException or NotSupportedException)
        {
            return false;
        }
    }

    private static string Expected(Type type) => type switch
    {
        _ when type.IsEnum => "one of " + string.Join(", ", Enum.GetNames(type)),
        _ when type == typeof(bool) => "true or false",
        _ when type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(byte) || type == typeof(uint) || type == typeof(ulong) =>
            "a whole number",
        _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) => "a number (with . as the decimal point)",
        _ when type == typeof(TimeSpan) => "a duration such as 00:00:30 (hh:mm:ss) or 1.00:00:00 (one day)",
        _ when type == typeof(Uri) => "a URI",
        _ => "a " + type.Name,
    };
}
