using System.Globalization;
using Microsoft.Data.Sqlite;

namespace AutoGlm.Edge.Journal;

/// <summary>What <see cref="JournalFile.Check"/> found in a journal file.</summary>
/// <param name="Exists">Whether the file exists (a missing one is simply created).</param>
/// <param name="Damage">Null when SQLite's <c>quick_check</c> passes; else what is wrong, in SQLite's words.</param>
/// <param name="Unfinished">Jobs accepted but not finished, or null when they could not be counted.</param>
public sealed record JournalCheck(bool Exists, string? Damage, long? Unfinished);

/// <summary>
/// The journal file on disk: checking it (SQLite <c>quick_check</c>), and moving a damaged one aside with its
/// <c>-wal</c> and <c>-shm</c> (<c>journal.db.corrupt-20261201T230000Z</c>) so the daemon can start on a new one.
/// </summary>
/// <remarks>Stateless; call it while no journal is open on the file (at start, or from <c>doctor</c>).</remarks>
public static partial class JournalFile
{
    /// <summary>What a moved-aside journal's name has after the journal's own name.</summary>
    public const string CorruptSuffix = ".corrupt-";

    private static readonly string[] Companions = ["-wal", "-shm"];

    // SQLite primary result codes (sqlite3.h) that mean the file itself is damaged.
    private const int SqliteCorrupt = 11;
    private const int SqliteNotADatabase = 26;

    /// <summary>Opens <paramref name="path"/> (never creating it), runs <c>PRAGMA quick_check</c> and counts the unfinished jobs.</summary>
    /// <exception cref="SqliteException">The file cannot be opened at all (permissions, a folder in its place): that is not damage.</exception>
    public static JournalCheck Check(string path)
    {
        if (!File.Exists(path))
        {
            return new JournalCheck(false, null, null);
        }

        var builder = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, Mode = SqliteOpenMode.ReadWrite };
        using var connection = new SqliteConnection(builder.ToString());
        string? damage;
        try
        {
            connection.Open();
            using var check = connection.CreateCommand();
            check.CommandText = "PRAGMA quick_check(5)";
            var problems = new List<string>();
            using (var reader = check.ExecuteReader())
            {
                while (reader.Read())
                {
                    // SQLite puts its findings on several lines ("*** in database main ***\nTree 2 page 9 …"); the log gets one.
                    problems.Add(string.Join(' ', reader.GetString(0).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));
                }
            }

            damage = problems is ["ok"] ? null : string.Join("; ", problems);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is SqliteCorrupt or SqliteNotADatabase)
        {
            damage = ex.Message;
        }

        return new JournalCheck(true, damage, CountUnfinished(connection));
    }

    /// <summary>
    /// Moves a damaged journal aside with its <c>-wal</c> and <c>-shm</c>, named after the UTC time
    /// <paramref name="now"/>; returns the new path of the database file.
    /// </summary>
    public static string MoveAside(string path, DateTimeOffset now)
    {
        var stamp = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var target = path + CorruptSuffix + stamp;
        for (var n = 1; File.Exists(target); n++)
        {
            target = $"{path}{CorruptSuffix}{stamp}-{n}";
        }

        File.Move(path, target);
        foreach (var companion in Companions)
        {
            if (File.Exists(path + companion))
            {
                File.Move(path + companion, target + companion);
            }
        }

        return target;
    }

    /// <summary>The journals moved aside next to <paramref name="path"/>, oldest first (their -wal/-shm not listed).</summary>
    public static IReadOnlyList<string> MovedAside(string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder))
        {
            return [];
        }

        return [.. Directory.EnumerateFiles(folder, Path.GetFileName(path) + CorruptSuffix + "*")
            .Where(f => !Companions.Any(c => f.EndsWith(c, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// Opens the journal for the daemon: a damaged file is moved aside (and said so in one log line, with how many
    /// unfinished jobs it held) and a new journal is started in its place.
    /// </summary>
    /// <exception cref="JournalException">The journal (or its replacement) cannot be opened and written.</exception>
    public static JobJournal Open(string path, bool fullSync, TimeProvider time, ILogger logger)
    {
        path = Path.GetFullPath(path);
        JournalCheck check;
        try
        {
            check = Check(path);
        }
        catch (SqliteException ex)
        {
            throw new JournalException(path, $"cannot be opened: {ex.Message}", ex);
        }

        if (check.Damage is { } damage)
        {
            string movedTo;
            try
            {
                movedTo = MoveAside(path, time.GetUtcNow());
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new JournalException(path, $"is damaged ({damage}) and cannot be moved aside: {ex.Message}", ex);
            }

            if (check.Unfinished is { } unfinished)
            {
                Log.MovedAside(logger, path, damage, movedTo, unfinished);
            }
            else
            {
                Log.MovedAsideUncounted(logger, path, damage, movedTo);
            }
        }

        try
        {
            return new JobJournal(path, fullSync);
        }
        catch (SqliteException ex)
        {
            // Passed the check but cannot be used (a race with another writer, or damage quick_check does not see).
            throw new JournalException(path, $"cannot be used: {ex.Message}", ex);
        }
    }

    private static long? CountUnfinished(SqliteConnection connection)
    {
        try
        {
            if (connection.State != System.Data.ConnectionState.Open)
            {
                return null;
            }

            using var count = connection.CreateCommand();

            // A table scan, not the partial index: the index may be what is damaged.
            count.CommandText = "SELECT COUNT(*) FROM jobs NOT INDEXED WHERE result IS NULL";
            return (long)count.ExecuteScalar()!;
        }
        catch (SqliteException)
        {
            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(4701, LogLevel.Error, "The job journal {Path} is damaged ({Damage}); moved it aside to {MovedTo} (with its -wal/-shm) and started a new one; it held {Unfinished} unfinished jobs, which will not run")]
        public static partial void MovedAside(ILogger logger, string path, string damage, string movedTo, long unfinished);

        [LoggerMessage(4702, LogLevel.Error, "The job journal {Path} is damaged ({Damage}); moved it aside to {MovedTo} (with its -wal/-shm) and started a new one; how many unfinished jobs it held could not be read")]
        public static partial void MovedAsideUncounted(ILogger logger, string path, string damage, string movedTo);
    }
}
