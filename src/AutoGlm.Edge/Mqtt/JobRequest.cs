using System.Text.Json.Serialization;

namespace AutoGlm.Edge.Mqtt;

/// <summary>A job after validation: what the intake journals and the runner executes.</summary>
/// <remarks>Serialized (source-generated JSON) into the journal so a job runs the same after a restart.</remarks>
public sealed record JobRequest
{
    /// <summary>The job id: 1–128 characters of <c>A–Z a–z 0–9 . _ : -</c>.</summary>
    public required string Id { get; init; }

    /// <summary>The conversation; a <c>prompt</c> becomes one user message.</summary>
    public required IReadOnlyList<JobMessage> Messages { get; init; }

    public int? MaxTokens { get; init; }

    public float? Temperature { get; init; }

    public float? TopP { get; init; }

    public long? Seed { get; init; }

    public bool? EnableThinking { get; init; }

    /// <summary>Whether token deltas go to <c>…/results/&lt;id&gt;/stream</c>.</summary>
    public bool Stream { get; init; }

    /// <summary><c>auto</c>, <c>local</c> or <c>remote</c>.</summary>
    public string Route { get; init; } = "auto";

    /// <summary>Milliseconds from arrival until the job is answered <c>timeout</c>.</summary>
    public int? DeadlineMs { get; init; }

    /// <summary>0 low, 1 normal, 2 high.</summary>
    public int Priority { get; init; } = JobPriority.Normal;

    /// <summary>Images (JPEG, PNG, WebP, GIF, BMP), sniffed at intake, in the order sent.</summary>
    public IReadOnlyList<JobMedia> Images { get; init; } = [];

    /// <summary>Audio clips (WAV), sniffed at intake, in the order sent.</summary>
    public IReadOnlyList<JobMedia> Audios { get; init; } = [];
}

/// <summary>One message of a job's conversation.</summary>
public sealed record JobMessage(string Role, string Content);

/// <summary>Media bytes with the type their magic numbers showed.</summary>
public sealed record JobMedia(string MediaType, byte[] Data);

/// <summary>Job priorities (<c>priority</c>: <c>low</c>, <c>normal</c>, <c>high</c>).</summary>
public static class JobPriority
{
    public const int Low = 0;
    public const int Normal = 1;
    public const int High = 2;

    /// <summary>The value of a wire name, or null.</summary>
    public static int? Parse(string name) => name switch
    {
        "low" => Low,
        "normal" => Normal,
        "high" => High,
        _ => null,
    };
}

/// <summary>Why a payload was refused, as an error result will say.</summary>
/// <param name="Code">One of <see cref="ErrorCodes"/>.</param>
/// <param name="Message">What was wrong, naming the field.</param>
public sealed record JobError(string Code, string Message);

/// <summary>JSON for the journal.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(JobRequest))]
internal sealed partial class JobJsonContext : JsonSerializerContext;
