using System.Globalization;
using System.Text.Json;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>
/// The embedded broker with an independent client library, Eclipse Paho (Python, Debian's <c>python3-paho-mqtt</c>):
/// an empty client id at MQTT 3.1.1 and 5, a job published at QoS 2 and answered, and a will delivered when a client dies.
/// </summary>
public sealed class PahoClientTests(EmbeddedDaemonFixture fixture) : IClassFixture<EmbeddedDaemonFixture>
{
    [PahoTheory]
    [InlineData("311")]
    [InlineData("5")]
    public void PahoClient_EmptyClientIdQos2JobAndAWill_AllWork(string protocol)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Mqtt", "paho_client.py");

        var run = ProcessRunner.Run("/usr/bin/python3", [script, fixture.Port.ToString(CultureInfo.InvariantCulture), fixture.Prefix, protocol], timeoutSeconds: 180);

        Assert.True(run.ExitCode == 0, run.ToString());
        using var outcome = JsonDocument.Parse(run.Output.Trim().Split('\n')[^1]);
        var got = outcome.RootElement;
        Assert.Equal(0, got.GetProperty("connack").GetInt32());
        Assert.True(got.GetProperty("published").GetBoolean(), run.Output);
        Assert.True(got.TryGetProperty("result", out var result), "no result: " + run.Output);
        Assert.False(result.TryGetProperty("error", out _), run.Output);
        Assert.Equal(1, got.GetProperty("result_qos").GetInt32()); // results go out at QoS 1: the subscription's 2 is capped by the publish's 1
        Assert.Equal("gone", got.GetProperty("will").GetString());
        fixture.Daemon.AssertNoUnexpectedErrors();
    }
}

/// <summary>A theory skipped, saying why, where Debian's python3-paho-mqtt is not installed (scripts/test.sh installs it).</summary>
public sealed class PahoTheoryAttribute : TheoryAttribute
{
    public PahoTheoryAttribute()
    {
        if (ProcessRunner.Run("/usr/bin/python3", ["-c", "import paho.mqtt.client"]).ExitCode != 0)
        {
            Skip = "python3-paho-mqtt is not installed (apt-get install python3-paho-mqtt; scripts/test.sh does)";
        }
    }
}
