using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Journal;

/// <summary>The <c>Journal</c> section: where jobs are journaled and how long finished ones are kept.</summary>
public sealed class JournalOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Journal";

    /// <summary>The SQLite database file. Default (empty): <c>journal.db</c> in the state folder.</summary>
    public string? Path { get; set; }

    /// <summary>How long a finished and published job (and its result, for duplicate ids) is kept. Default 7 days.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often finished jobs older than <see cref="Retention"/> are deleted. Default 10 minutes.</summary>
    public TimeSpan PruneInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// While the journal cannot be written (a full disk), how often a small write is tried, so that taking jobs (and
    /// readiness) resumes by itself once there is room. Default 2 seconds.
    /// </summary>
    public TimeSpan WriteProbeInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// SQLite <c>synchronous</c> mode: <c>Full</c> (default: a journaled job survives a power cut) or <c>Normal</c>
    /// (survives a crash of the process, faster on slow SD cards).
    /// </summary>
    public string Synchronous { get; set; } = "Full";
}

/// <summary>Checks <see cref="JournalOptions"/> at start, naming every bad key.</summary>
internal sealed class JournalOptionsValidator : IValidateOptions<JournalOptions>
{
    public ValidateOptionsResult Validate(string? name, JournalOptions options)
    {
        var problems = new List<string>();
        if (options.Retention < TimeSpan.Zero)
        {
            problems.Add($"Journal:Retention must not be negative (got {options.Retention})");
        }

        if (options.PruneInterval <= TimeSpan.Zero)
        {
            problems.Add($"Journal:PruneInterval must be positive (got {options.PruneInterval})");
        }

        if (options.WriteProbeInterval <= TimeSpan.Zero)
        {
            problems.Add($"Journal:WriteProbeInterval must be positive (got {options.WriteProbeInterval})");
        }

        if (!options.Synchronous.Equals("Full", StringComparison.OrdinalIgnoreCase) && !options.Synchronous.Equals("Normal", StringComparison.OrdinalIgnoreCase))
        {
            problems.Add($"Journal:Synchronous must be Full or Normal (got '{options.Synchronous}')");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
