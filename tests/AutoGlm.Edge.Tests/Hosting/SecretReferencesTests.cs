using AutoGlm.Edge.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Tests.Hosting;

public sealed class SecretReferencesTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("secrets-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static ConfigurationManager Configuration(params (string Key, string Value)[] values)
    {
        var configuration = new ConfigurationManager();
        configuration.AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value)));
        return configuration;
    }

    [Fact]
    public void Resolve_FileReference_ReadsTheFileWithoutTrailingNewline()
    {
        var file = Path.Combine(_directory, "mqtt-password");
        File.WriteAllText(file, "p4ss\n");
        var configuration = Configuration(("Mqtt:Password", "file:" + file));

        SecretReferences.Resolve(configuration);

        Assert.Equal("p4ss", configuration["Mqtt:Password"]);
    }

    [Fact]
    public void Resolve_EnvReference_ReadsTheVariable()
    {
        var name = "AUTOGLM_TEST_SECRET_" + Environment.ProcessId;
        Environment.SetEnvironmentVariable(name, "k3y");
        try
        {
            var configuration = Configuration(("Http:ApiKeys:0", "env:" + name), ("Cluster:Nodes:0:ApiKey", "env:" + name));

            SecretReferences.Resolve(configuration);

            Assert.Equal("k3y", configuration["Http:ApiKeys:0"]);
            Assert.Equal("k3y", configuration["Cluster:Nodes:0:ApiKey"]);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void Resolve_NonSecretKey_LeftAlone()
    {
        var configuration = Configuration(("Runtime:ModelPath", "file:/not/a/secret"), ("Mqtt:Password", "plain"));

        SecretReferences.Resolve(configuration);

        Assert.Equal("file:/not/a/secret", configuration["Runtime:ModelPath"]);
        Assert.Equal("plain", configuration["Mqtt:Password"]);
    }

    [Fact]
    public void Resolve_MissingReferences_ThrowNamingEveryKey()
    {
        var configuration = Configuration(("Mqtt:Password", "file:" + Path.Combine(_directory, "absent")), ("Http:ApiKeys:1", "env:AUTOGLM_TEST_NEVER_SET_9"));

        var error = Assert.Throws<OptionsValidationException>(() => SecretReferences.Resolve(configuration));

        Assert.Equal(2, error.Failures.Count());
        Assert.Contains(error.Failures, f => f.StartsWith("Mqtt:Password", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Http:ApiKeys:1", StringComparison.Ordinal));
    }
}
