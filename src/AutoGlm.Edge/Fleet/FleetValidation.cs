namespace AutoGlm.Edge.Fleet;

/// <summary>A whole manifest checked: its parse errors and every device's merged-settings errors, in file order.</summary>
/// <param name="Manifest">The manifest, or null when the file is not a YAML mapping.</param>
/// <param name="Errors">Every problem found; empty when the manifest is valid.</param>
public sealed record FleetValidation(FleetManifest? Manifest, IReadOnlyList<FleetError> Errors)
{
    /// <summary>Whether nothing is wrong.</summary>
    public bool IsValid => Manifest is not null && Errors.Count == 0;

    /// <summary>Parses and checks <paramref name="yaml"/>, reporting every error at once.</summary>
    public static FleetValidation Of(string yaml)
    {
        var (manifest, errors) = FleetParser.Parse(yaml);
        var all = errors.ToList();
        if (manifest is not null)
        {
            all.AddRange(manifest.Devices.SelectMany(d => FleetResolver.Check(FleetResolver.Resolve(manifest, d))));
        }

        return new FleetValidation(manifest, [.. all.OrderBy(e => e.Line).ThenBy(e => e.Column)]);
    }
}
