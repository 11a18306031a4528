namespace AutoGlm.Edge.Hosting;

/// <summary>The daemon's configuration sources, shared by the host and by <c>doctor</c> so both read the same values.</summary>
public static class EdgeConfiguration
{
    /// <summary>The folder of <c>*.json</c> files: <c>CONFIGURATION_DIRECTORY</c> under systemd, else <c>/etc/autoglm</c>.</summary>
    public static string Directory() =>
        Environment.GetEnvironmentVariable("CONFIGURATION_DIRECTORY")?.Split(':')[0] is { Length: > 0 } fromSystemd ? fromSystemd : "/etc/autoglm";

    /// <summary>
    /// Adds, after what <paramref name="configuration"/> already holds (appsettings.json): <c>/etc/autoglm/*.json</c> in name
    /// order, <c>AUTOGLM__</c> variables, then <paramref name="args"/> (<c>--Section:Key=value</c>).
    /// </summary>
    public static void AddSources(IConfigurationBuilder configuration, string[] args)
    {
        var directory = Directory();
        if (System.IO.Directory.Exists(directory))
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(directory, "*.json").Order(StringComparer.Ordinal))
            {
                configuration.AddJsonFile(file, optional: true, reloadOnChange: false);
            }
        }

        configuration.AddEnvironmentVariables(EdgeHost.EnvironmentPrefix);
        configuration.AddCommandLine(args);
    }
}
