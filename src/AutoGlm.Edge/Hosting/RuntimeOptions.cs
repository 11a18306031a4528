using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Hosting;

/// <summary>The <c>Runtime</c> section beyond <see cref="EngineOptions"/> (which binds from the same section).</summary>
public sealed class RuntimeOptions
{
    public const string Section = "Runtime";

    /// <summary>The model package folder. Default (empty): the built-in tiny synthetic model in the state folder.</summary>
    public string? ModelPath { get; set; }
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

/// <summary>Checks <see cref="RuntimeOptions"/> at start.</summary>
internal sealed class RuntimeOptionsValidator : IValidateOptions<RuntimeOptions>
{
    public ValidateOptionsResult Validate(string? name, RuntimeOptions options) =>
        string.IsNullOrWhiteSpace(options.ModelPath) || Directory.Exists(options.ModelPath)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"Runtime:ModelPath '{options.ModelPath}' is not a folder");
}
