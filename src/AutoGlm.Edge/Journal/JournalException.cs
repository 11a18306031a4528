namespace AutoGlm.Edge.Journal;

/// <summary>
/// The job journal cannot be opened or written at start: its folder cannot be created, or the file cannot be opened
/// or written. The message is one line naming the file and the setting that chose it.
/// </summary>
public sealed class JournalException : Exception
{
    public JournalException(string path, string problem, Exception? inner = null)
        : base($"The job journal {path} (Journal:Path, default journal.db in the state folder: STATE_DIRECTORY or AUTOGLM_STATE_DIR) {problem}", inner)
    {
        Path = path;
    }

    /// <summary>The journal file.</summary>
    public string Path { get; }
}
