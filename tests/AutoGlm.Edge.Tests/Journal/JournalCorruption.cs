using AutoGlm.Edge.Journal;

namespace AutoGlm.Edge.Tests.Journal;

/// <summary>The three ways a journal file was found broken: cut short, a garbage header, garbage pages in the middle.</summary>
public static class JournalCorruption
{
    public const string Truncated = "truncated";
    public const string GarbageHeader = "garbage header";
    public const string GarbageMiddle = "garbage in the middle";

    public static TheoryData<string> All => new() { Truncated, GarbageHeader, GarbageMiddle };

    /// <summary>Writes a journal with <paramref name="unfinished"/> unfinished jobs (small rows, so every page is a b-tree page) and closes it.</summary>
    public static void WriteJournal(string path, int unfinished)
    {
        using var journal = new JobJournal(path);
        var request = System.Text.Encoding.UTF8.GetBytes("""{"id":"x","messages":[{"role":"user","content":"an unfinished job from before the damage"}]}""");
        for (var i = 0; i < unfinished; i++)
        {
            journal.Add(new NewJob($"old{i:D4}", DateTimeOffset.UnixEpoch, 0, request, "t", null));
        }
    }

    /// <summary>Damages the (closed) journal at <paramref name="path"/> the way <paramref name="kind"/> says.</summary>
    public static void Damage(string path, string kind)
    {
        var length = new FileInfo(path).Length;
        Assert.True(length > 64 * 1024, $"the journal is only {length} bytes; too small to damage in the middle");
        var random = new Random(7);
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        switch (kind)
        {
            case Truncated:
                file.SetLength(length / 3 + 1000);
                break;
            case GarbageHeader:
                var header = new byte[100];
                random.NextBytes(header);
                file.Write(header);
                break;
            case GarbageMiddle:
                // Whole pages in the middle, not the header: SQLite opens the file, and only a check finds the damage.
                const int page = 4096;
                var pages = new byte[8 * page];
                random.NextBytes(pages);
                file.Position = length / 2 / page * page;
                file.Write(pages);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown corruption");
        }
    }
}
