using AutoGlm.Edge.Mqtt;
using Microsoft.Data.Sqlite;

namespace AutoGlm.Edge.Journal;

/// <summary>
/// The job journal: every accepted job and every result, in SQLite (WAL) under the state folder, so that a crash
/// between receiving a job and publishing its result loses nothing.
/// </summary>
/// <remarks>
/// <para>
/// Thread-safe: one connection, every call under one lock (calls are short single-statement transactions).
/// A row's <c>key</c> is the job id for jobs that parsed, or a generated <c>invalid:…</c> key for payloads that did
/// not, so those can never collide with a real id. Owns its connection; dispose it to close the database.
/// </para>
/// <para>
/// When a write fails (a full disk: SQLite answers <c>SQLITE_FULL</c> or an I/O error and rolls the statement back)
/// <see cref="WriteProblem"/> says so until a write works again. <see cref="Add"/> then throws, so the caller does not
/// take the job; a result (<see cref="Complete"/>) or a published mark (<see cref="MarkPublished"/>) that cannot be
/// written is kept in memory instead, so results are still published, and written by <see cref="ProbeWrite"/> once
/// the disk has room again (until then a crash would run those jobs again at the next start).
/// </para>
/// </remarks>
public sealed class JobJournal : IDisposable
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            received_at INTEGER NOT NULL,
            priority INTEGER NOT NULL,
            request BLOB,
            reply_topic TEXT NOT NULL,
            correlation BLOB,
            result BLOB,
            error_code TEXT,
            published INTEGER NOT NULL DEFAULT 0,
            finished_at INTEGER
        );
        CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs(seq) WHERE result IS NULL;
        CREATE INDEX IF NOT EXISTS jobs_unpublished ON jobs(seq) WHERE result IS NOT NULL AND published = 0;
        CREATE INDEX IF NOT EXISTS jobs_finished_at ON jobs(finished_at) WHERE published = 1;
        CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, data BLOB);
        """;

    /// <summary>How much a write probe writes (and deletes again): room for a typical job, not just one small page.</summary>
    private const int ProbeBytes = 64 * 1024;

    private readonly SqliteConnection _connection;
    private readonly Lock _gate = new();

    // Results and published marks that could not be written (a full disk), by row; written by ProbeWrite.
    private readonly Dictionary<long, DeferredResult> _deferredResults = [];
    private readonly HashSet<long> _deferredPublished = [];
    private volatile string? _writeProblem;

    /// <summary>Opens (creating if needed) the journal at <paramref name="path"/> and checks that it can be written.</summary>
    /// <param name="path">The database file; its folder is created.</param>
    /// <param name="fullSync">Whether each commit waits for the disk (<c>synchronous=FULL</c>) rather than the OS (<c>NORMAL</c>).</param>
    /// <exception cref="JournalException">The folder cannot be created or the file cannot be opened and written.</exception>
    /// <exception cref="SqliteException">The file is not a journal (damaged, or not a database); see <see cref="JournalFile"/>.</exception>
    public JobJournal(string path, bool fullSync = true)
    {
        Path = System.IO.Path.GetFullPath(path);
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new JournalException(Path, $"its folder cannot be created: {ex.Message}", ex);
        }

        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        try
        {
            _connection.Open();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is SqliteCantOpen or SqliteReadOnly or SqlitePermission)
        {
            _connection.Dispose();
            throw new JournalException(Path, $"it cannot be opened: {ex.Message}", ex);
        }

        try
        {
            // The WAL is checkpointed every 256 pages (1 MB, not SQLite's 4 MB) and cut back to 4 MB after a burst: on a
            // nearly full disk a big WAL is what fills it, and then the database cannot grow to take it in.
            Execute($"PRAGMA journal_mode=WAL; PRAGMA synchronous={(fullSync ? "FULL" : "NORMAL")}; PRAGMA busy_timeout=5000; PRAGMA wal_autocheckpoint=256; PRAGMA journal_size_limit=4194304;");
            Execute(Schema);

            // SQLite opens a file it may not write read-only without saying so; find out now, not at the first job.
            using var probe = Command("INSERT OR REPLACE INTO probe (id, data) VALUES (0, NULL)");
            probe.ExecuteNonQuery();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is SqliteCantOpen or SqliteReadOnly or SqlitePermission)
        {
            _connection.Dispose();
            throw new JournalException(Path, $"it cannot be written: {ex.Message}", ex);
        }
        catch (SqliteException)
        {
            _connection.Dispose();
            throw;
        }
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>
    /// Null while the journal can be written; else why the last write failed (a full disk, an I/O error), until a write
    /// (a job, or <see cref="ProbeWrite"/>) works again.
    /// </summary>
    public string? WriteProblem => _writeProblem;

    /// <summary>
    /// Journals a new job, or reports the row already under its key. A finished duplicate is queued to be
    /// published again, to the duplicate's reply target, with the stored result.
    /// </summary>
    /// <exception cref="SqliteException">The journal could not be written (see <see cref="WriteProblem"/>); the job is not journaled.</exception>
    public AddOutcome Add(NewJob job)
    {
        lock (_gate)
        {
            if (_deferredResults.Values.FirstOrDefault(d => d.Key == job.Key) is { } deferred)
            {
                // Finished while the disk was full: its result is only in memory; send it again to the new target.
                _deferredResults[deferred.Seq] = deferred with { ReplyTopic = job.ReplyTopic, Correlation = job.Correlation, Published = false };
                return AddOutcome.AlreadyFinished;
            }

            return Write(() => AddRow(job));
        }
    }

    private AddOutcome AddRow(NewJob job)
    {
        using var transaction = _connection.BeginTransaction();
        using (var find = Command("SELECT seq, result, error_code, published FROM jobs WHERE key = $key", transaction))
        {
            find.Parameters.AddWithValue("$key", job.Key);
            using var reader = find.ExecuteReader();
            if (reader.Read())
            {
                var seq = reader.GetInt64(0);
                var finished = !reader.IsDBNull(1);
                var errorCode = reader.IsDBNull(2) ? null : reader.GetString(2);
                var published = reader.GetInt64(3) != 0;
                reader.Close();
                if (!finished)
                {
                    transaction.Commit();
                    return AddOutcome.AlreadyPending;
                }

                // An id refused as overloaded may be sent again: that refusal was about the moment, not the job.
                if (errorCode == ErrorCodes.Overloaded && published)
                {
                    using var delete = Command("DELETE FROM jobs WHERE seq = $seq", transaction);
                    delete.Parameters.AddWithValue("$seq", seq);
                    delete.ExecuteNonQuery();
                }
                else
                {
                    using var again = Command("UPDATE jobs SET published = 0, reply_topic = $topic, correlation = $correlation WHERE seq = $seq", transaction);
                    again.Parameters.AddWithValue("$seq", seq);
                    again.Parameters.AddWithValue("$topic", job.ReplyTopic);
                    again.Parameters.AddWithValue("$correlation", (object?)job.Correlation ?? DBNull.Value);
                    again.ExecuteNonQuery();
                    transaction.Commit();
                    return AddOutcome.AlreadyFinished;
                }
            }
        }

        using var insert = Command(
            """
            INSERT INTO jobs (key, received_at, priority, request, reply_topic, correlation, result, error_code, finished_at)
            VALUES ($key, $received, $priority, $request, $topic, $correlation, $result, $error, $finished)
            """,
            transaction);
        insert.Parameters.AddWithValue("$key", job.Key);
        insert.Parameters.AddWithValue("$received", job.ReceivedAt.ToUnixTimeMilliseconds());
        insert.Parameters.AddWithValue("$priority", job.Priority);
        insert.Parameters.AddWithValue("$request", (object?)job.Request ?? DBNull.Value);
        insert.Parameters.AddWithValue("$topic", job.ReplyTopic);
        insert.Parameters.AddWithValue("$correlation", (object?)job.Correlation ?? DBNull.Value);
        insert.Parameters.AddWithValue("$result", (object?)job.Result ?? DBNull.Value);
        insert.Parameters.AddWithValue("$error", (object?)job.ErrorCode ?? DBNull.Value);
        insert.Parameters.AddWithValue("$finished", job.Result is null ? DBNull.Value : job.ReceivedAt.ToUnixTimeMilliseconds());
        insert.ExecuteNonQuery();
        transaction.Commit();
        return AddOutcome.Added;
    }

    /// <summary>
    /// Stores a job's result (JSON) so it can be published; <paramref name="errorCode"/> is null on success. When the
    /// journal cannot be written the result is kept in memory (published all the same) and written later.
    /// </summary>
    /// <returns>False when the job is unknown or already finished (its first result stands).</returns>
    public bool Complete(string key, byte[] result, string? errorCode, DateTimeOffset finishedAt)
    {
        lock (_gate)
        {
            if (_deferredResults.Values.Any(d => d.Key == key))
            {
                return false;
            }

            try
            {
                return Write(() =>
                {
                    using var update = Command("UPDATE jobs SET result = $result, error_code = $error, finished_at = $finished WHERE key = $key AND result IS NULL");
                    update.Parameters.AddWithValue("$key", key);
                    update.Parameters.AddWithValue("$result", result);
                    update.Parameters.AddWithValue("$error", (object?)errorCode ?? DBNull.Value);
                    update.Parameters.AddWithValue("$finished", finishedAt.ToUnixTimeMilliseconds());
                    return update.ExecuteNonQuery() == 1;
                });
            }
            catch (SqliteException)
            {
                // Reading still works on a full disk: find the row, and keep its result until it can be written.
                using var find = Command("SELECT seq, reply_topic, correlation FROM jobs WHERE key = $key AND result IS NULL");
                find.Parameters.AddWithValue("$key", key);
                using var reader = find.ExecuteReader();
                if (!reader.Read())
                {
                    return false;
                }

                var seq = reader.GetInt64(0);
                _deferredResults[seq] = new DeferredResult(seq, key, reader.GetString(1), reader.IsDBNull(2) ? null : (byte[])reader[2], result, errorCode, finishedAt, Published: false);
                return true;
            }
        }
    }

    /// <summary>Records that the result of row <paramref name="seq"/> reached the broker (in memory while the journal cannot be written).</summary>
    public void MarkPublished(long seq)
    {
        lock (_gate)
        {
            if (_deferredResults.TryGetValue(seq, out var deferred))
            {
                _deferredResults[seq] = deferred with { Published = true };
                return;
            }

            try
            {
                Write(() =>
                {
                    using var update = Command("UPDATE jobs SET published = 1 WHERE seq = $seq");
                    update.Parameters.AddWithValue("$seq", seq);
                    return update.ExecuteNonQuery();
                });
            }
            catch (SqliteException)
            {
                _deferredPublished.Add(seq);
            }
        }
    }

    /// <summary>
    /// Tries to write: checkpoints and truncates the WAL, writes what is kept in memory (results, published marks),
    /// then a probe of a typical job's size, deleted again. Clears <see cref="WriteProblem"/> when it works; returns whether it did.
    /// </summary>
    public bool ProbeWrite()
    {
        lock (_gate)
        {
            try
            {
                Write(() =>
                {
                    // On a small disk the WAL itself fills it: it is checkpointed only at 1000 pages (4 MB). Copying it
                    // into the database and truncating it gives back the room of every page version it holds.
                    using (var checkpoint = Command("PRAGMA wal_checkpoint(TRUNCATE)"))
                    {
                        checkpoint.ExecuteNonQuery();
                    }

                    using (var transaction = _connection.BeginTransaction())
                    {
                        foreach (var deferred in _deferredResults.Values)
                        {
                            using var update = Command("UPDATE jobs SET result = $result, error_code = $error, finished_at = $finished, published = $published WHERE seq = $seq AND result IS NULL", transaction);
                            update.Parameters.AddWithValue("$seq", deferred.Seq);
                            update.Parameters.AddWithValue("$result", deferred.Result);
                            update.Parameters.AddWithValue("$error", (object?)deferred.ErrorCode ?? DBNull.Value);
                            update.Parameters.AddWithValue("$finished", deferred.FinishedAt.ToUnixTimeMilliseconds());
                            update.Parameters.AddWithValue("$published", deferred.Published ? 1 : 0);
                            update.ExecuteNonQuery();
                        }

                        foreach (var seq in _deferredPublished)
                        {
                            using var update = Command("UPDATE jobs SET published = 1 WHERE seq = $seq", transaction);
                            update.Parameters.AddWithValue("$seq", seq);
                            update.ExecuteNonQuery();
                        }

                        using var probe = Command("INSERT OR REPLACE INTO probe (id, data) VALUES (1, zeroblob($size))", transaction);
                        probe.Parameters.AddWithValue("$size", ProbeBytes);
                        probe.ExecuteNonQuery();
                        transaction.Commit();
                    }

                    _deferredResults.Clear();
                    _deferredPublished.Clear();
                    using var delete = Command("DELETE FROM probe WHERE id = 1");
                    return delete.ExecuteNonQuery();
                });
                return true;
            }
            catch (SqliteException)
            {
                return false;
            }
        }
    }

    /// <summary>Jobs accepted but not finished (to run again at start), oldest first.</summary>
    public IReadOnlyList<JournaledJob> Unfinished()
    {
        lock (_gate)
        {
            using var select = Command("SELECT seq, key, received_at, priority, request FROM jobs WHERE result IS NULL ORDER BY seq");
            using var reader = select.ExecuteReader();
            var jobs = new List<JournaledJob>();
            while (reader.Read())
            {
                jobs.Add(new JournaledJob(
                    reader.GetInt64(0),
                    reader.GetString(1),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                    (int)reader.GetInt64(3),
                    reader.IsDBNull(4) ? [] : (byte[])reader[4]));
            }

            return jobs;
        }
    }

    /// <summary>Finished results not yet published, oldest first, at most <paramref name="limit"/>.</summary>
    public IReadOnlyList<PendingResult> Unpublished(int limit = 64)
    {
        lock (_gate)
        {
            using var select = Command("SELECT seq, key, reply_topic, correlation, result FROM jobs WHERE result IS NOT NULL AND published = 0 ORDER BY seq LIMIT $limit");
            select.Parameters.AddWithValue("$limit", limit);
            using var reader = select.ExecuteReader();
            var results = new List<PendingResult>();
            while (reader.Read())
            {
                var seq = reader.GetInt64(0);
                if (!_deferredPublished.Contains(seq))
                {
                    results.Add(new PendingResult(seq, reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : (byte[])reader[3], (byte[])reader[4]));
                }
            }

            results.AddRange(_deferredResults.Values.Where(d => !d.Published).Take(Math.Max(0, limit - results.Count))
                .Select(d => new PendingResult(d.Seq, d.Key, d.ReplyTopic, d.Correlation, d.Result)));
            return results;
        }
    }

    /// <summary>The stored result of a job, or null while it is unknown or unfinished.</summary>
    public byte[]? Result(string key)
    {
        lock (_gate)
        {
            if (_deferredResults.Values.FirstOrDefault(d => d.Key == key) is { } deferred)
            {
                return deferred.Result;
            }

            using var select = Command("SELECT result FROM jobs WHERE key = $key");
            select.Parameters.AddWithValue("$key", key);
            return select.ExecuteScalar() as byte[];
        }
    }

    /// <summary>Deletes finished, published jobs that finished before <paramref name="before"/>; returns how many (0 while the journal cannot be written).</summary>
    public int Prune(DateTimeOffset before)
    {
        lock (_gate)
        {
            try
            {
                return Write(() =>
                {
                    using var delete = Command("DELETE FROM jobs WHERE published = 1 AND finished_at < $before");
                    delete.Parameters.AddWithValue("$before", before.ToUnixTimeMilliseconds());
                    return delete.ExecuteNonQuery();
                });
            }
            catch (SqliteException)
            {
                return 0;
            }
        }
    }

    /// <summary>Rows in the journal (finished or not).</summary>
    public long Count()
    {
        lock (_gate)
        {
            using var count = Command("SELECT COUNT(*) FROM jobs");
            return (long)count.ExecuteScalar()!;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _connection.Dispose();
        }
    }

    // SQLite primary result codes (sqlite3.h) for a file that cannot be opened or written at all.
    private const int SqliteReadOnly = 8;
    private const int SqliteCantOpen = 14;
    private const int SqlitePermission = 3;

    /// <summary>Runs a write under the lock, keeping <see cref="WriteProblem"/> up to date; rethrows what SQLite threw.</summary>
    private T Write<T>(Func<T> write)
    {
        try
        {
            var result = write();
            _writeProblem = null;
            return result;
        }
        catch (SqliteException ex)
        {
            _writeProblem = ex.Message;
            throw;
        }
    }

    private void Execute(string sql)
    {
        using var command = Command(sql);
        command.ExecuteNonQuery();
    }

    private SqliteCommand Command(string sql, SqliteTransaction? transaction = null)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }
}

/// <summary>A result kept in memory because the journal could not be written.</summary>
internal sealed record DeferredResult(long Seq, string Key, string ReplyTopic, byte[]? Correlation, byte[] Result, string? ErrorCode, DateTimeOffset FinishedAt, bool Published);

/// <summary>What <see cref="JobJournal.Add"/> found.</summary>
public enum AddOutcome
{
    /// <summary>A new row: the job is accepted (or, with a result, its error is queued for publishing).</summary>
    Added,

    /// <summary>The key is already journaled and not finished: its one result will come.</summary>
    AlreadyPending,

    /// <summary>The key already has a result; it is queued to be published again to the new reply target.</summary>
    AlreadyFinished,
}

/// <summary>A job as the intake journals it.</summary>
/// <param name="Key">The job id, or a generated <c>invalid:…</c> key for a payload that did not parse.</param>
/// <param name="ReceivedAt">When it arrived (deadlines count from here, across restarts).</param>
/// <param name="Priority">Higher runs first.</param>
/// <param name="Request">The parsed job as JSON, to run again after a restart; null for intake errors.</param>
/// <param name="ReplyTopic">Where the result goes.</param>
/// <param name="Correlation">MQTT 5 correlation data to echo.</param>
/// <param name="Result">The result already known at intake (an error), or null.</param>
/// <param name="ErrorCode">The error code of <paramref name="Result"/>, or null.</param>
public sealed record NewJob(
    string Key,
    DateTimeOffset ReceivedAt,
    int Priority,
    byte[]? Request,
    string ReplyTopic,
    byte[]? Correlation,
    byte[]? Result = null,
    string? ErrorCode = null);

/// <summary>An accepted, unfinished job read back from the journal.</summary>
public sealed record JournaledJob(long Seq, string Key, DateTimeOffset ReceivedAt, int Priority, byte[] Request);

/// <summary>A finished result waiting to be published.</summary>
public sealed record PendingResult(long Seq, string Key, string ReplyTopic, byte[]? Correlation, byte[] Result);
