namespace AutoGlm.Edge.Fleet;

/// <summary>One problem in a fleet manifest, at a 1-based line and column of the file.</summary>
/// <param name="Line">1-based line; 0 when the problem has no position (an empty file).</param>
/// <param name="Column">1-based column.</param>
/// <param name="Message">What is wrong, naming the manifest key.</param>
public sealed record FleetError(int Line, int Column, string Message)
{
    /// <summary><c>line:column: message</c>, as <c>fleet validate</c> prints it after the file name.</summary>
    public override string ToString() => $"{Line}:{Column}: {Message}";
}

/// <summary>A position in the manifest, taken from the YAML parser's marks.</summary>
public readonly record struct SourceMark(int Line, int Column)
{
    internal static SourceMark From(YamlDotNet.Core.Mark mark) => new((int)mark.Line, (int)mark.Column);

    /// <summary>An error at this position.</summary>
    public FleetError Error(string message) => new(Line, Column, message);
}
