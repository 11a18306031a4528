namespace AutoGlm.Edge.Tests.Support;

/// <summary>Waiting by polling with a bound, never by sleeping a guessed time.</summary>
public static class Poll
{
    /// <summary>Default bound: generous, since the machine running the tests may be slow and busy.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test naming <paramref name="what"/> when the bound passes.</summary>
    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        UntilAsync(() => Task.FromResult(condition()), what, timeout);

    /// <summary>The same for a condition that must itself wait (an HTTP request, a scrape).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var bound = timeout ?? DefaultTimeout;
        using var cancel = new CancellationTokenSource(bound);
        while (!await condition().ConfigureAwait(false))
        {
            if (cancel.IsCancellationRequested)
            {
                Assert.Fail($"timed out after {bound.TotalSeconds} s waiting for {what}");
            }

            await Task.Delay(25, CancellationToken.None);
        }
    }
}

/// <summary>Free loopback TCP ports and scratch folders.</summary>
public static class TestPaths
{
    /// <summary>A TCP port free on 127.0.0.1 right now.</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A new empty folder under the temp folder.</summary>
    public static string NewFolder(string name)
    {
        var path = Path.Combine(Path.GetTempPath(), "autoglm-edge-tests", $"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>The solution folder (holding AutoGlm.Edge.sln).</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AutoGlm.Edge.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("AutoGlm.Edge.sln not found above " + AppContext.BaseDirectory);
    }
}
