using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Hosting;

/// <summary>The <c>Runtime</c> section beyond <see cref="EngineOptions"/> (which binds from the same section).</summary>
public sealed class RuntimeOptions
{
    public const string Section = "Runtime";

    /// <summary>The model package folder. Default (empty): the built-in tiny synthetic model in the state folder.</summary>
    public string? ModelPath { get; set; }

    /// <summary>
    /// What answers: <c>onnx</c> (default) loads the model package into this process's own runtime; <c>openai</c> loads
    /// nothing and serves every request through an OpenAI-compatible engine at <see cref="OpenAi"/> (vLLM with tensor
    /// parallelism on a heavy node).
    /// </summary>
    public string Backend { get; set; } = RuntimeBackends.Onnx;

    /// <summary>
    /// The devices (GPU ids) to run the model on: one engine replica, with its own session and KV cache, per device,
    /// behind one dispatcher that sends each request to the replica with the fewest outstanding requests. Default
    /// empty: one engine on <c>Runtime:DeviceId</c>. On the CPU provider replicas share the same cores and only make
    /// sense for tests.
    /// </summary>
    public List<int> Devices { get; set; } = [];

    /// <summary>The OpenAI-compatible engine behind <c>Backend=openai</c> (<c>Runtime:OpenAi</c>).</summary>
    public OpenAiBackendOptions OpenAi { get; set; } = new();

    /// <summary>Whether this daemon fronts an OpenAI-compatible engine instead of running its own.</summary>
    public bool IsOpenAi => string.Equals(Backend, RuntimeBackends.OpenAi, StringComparison.OrdinalIgnoreCase);
}

/// <summary>The names of <see cref="RuntimeOptions.Backend"/>.</summary>
public static class RuntimeBackends
{
    public const string Onnx = "onnx";
    public const string OpenAi = "openai";
}

/// <summary><c>Runtime:OpenAi</c>: the engine a <c>Backend=openai</c> daemon serves through.</summary>
public sealed class OpenAiBackendOptions
{
    /// <summary>Its OpenAI base URL, ending in <c>/v1</c> (<c>http://127.0.0.1:8001/v1</c>). Required with <c>Backend=openai</c>.</summary>
    public string? Url { get; set; }

    /// <summary>The bearer key it requires (vLLM <c>--api-key</c>); a secret reference (<c>env:</c>, <c>file:</c>) like every key. Default none.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The model id it serves (vLLM <c>--served-model-name</c>); also what this daemon's <c>/v1/models</c> lists. Required with <c>Backend=openai</c>.</summary>
    public string? Model { get; set; }

    /// <summary>
    /// Its readiness path, relative to the server root (the URL less <c>/v1</c>): this daemon's <c>/health/ready</c>
    /// answers 200 only while it does. Default <c>/health</c> (vLLM's).
    /// </summary>
    public string HealthPath { get; set; } = "/health";

    /// <summary>Network timeout of one request to it. Default 10 min.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>Checks <see cref="EngineOptions"/> at start, reporting every bad key at once.</summary>
internal sealed class EngineOptionsValidator : IValidateOptions<EngineOptions>
{
    public ValidateOptionsResult Validate(string? name, EngineOptions options)
    {
        var problems = options.Validate().ToList();
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}

/// <summary>Checks <see cref="RuntimeOptions"/> at start, reporting every bad key at once.</summary>
internal sealed class RuntimeOptionsValidator : IValidateOptions<RuntimeOptions>
{
    public ValidateOptionsResult Validate(string? name, RuntimeOptions options)
    {
        var problems = Problems(options).ToList();
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static IEnumerable<string> Problems(RuntimeOptions options)
    {
        if (!string.Equals(options.Backend, RuntimeBackends.Onnx, StringComparison.OrdinalIgnoreCase) && !options.IsOpenAi)
        {
            yield return $"Runtime:Backend must be onnx or openai (got '{options.Backend}')";
        }

        if (options.IsOpenAi)
        {
            if (!Uri.TryCreate(options.OpenAi.Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                yield return $"Runtime:OpenAi:Url must be an absolute http or https URL such as http://127.0.0.1:8001/v1 when Runtime:Backend is openai (got '{options.OpenAi.Url}')";
            }

            if (string.IsNullOrWhiteSpace(options.OpenAi.Model))
            {
                yield return "Runtime:OpenAi:Model must name the model the engine serves (vLLM --served-model-name) when Runtime:Backend is openai";
            }

            if (string.IsNullOrWhiteSpace(options.OpenAi.HealthPath) || !options.OpenAi.HealthPath.StartsWith('/'))
            {
                yield return $"Runtime:OpenAi:HealthPath must be a path starting with / such as /health (got '{options.OpenAi.HealthPath}')";
            }

            if (options.OpenAi.Timeout <= TimeSpan.Zero)
            {
                yield return $"Runtime:OpenAi:Timeout must be positive (got {options.OpenAi.Timeout})";
            }
        }
        if (options.Devices.Any(d => d < 0) || options.Devices.Distinct().Count() != options.Devices.Count)
        {
            yield return $"Runtime:Devices must be distinct device ids, none negative (got [{string.Join(", ", options.Devices)}])";
        }

        if (options.IsOpenAi && options.Devices.Count > 0)
        {
            yield return "Runtime:Devices has no meaning with Runtime:Backend=openai (the backend engine places the model itself); remove it";
        }

        if (!options.IsOpenAi && !string.IsNullOrWhiteSpace(options.ModelPath) && !Directory.Exists(options.ModelPath))
        {
            yield return $"Runtime:ModelPath '{options.ModelPath}' is not a folder";
        }
    }
}
