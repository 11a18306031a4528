using System.Net;
using AutoGlm.Edge.Mqtt;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>What <c>Mqtt:Host</c>, the credentials and <c>Mqtt:AllowedResponseTopics</c> may say, checked at start.</summary>
public sealed class MqttListenerOptionsTests
{
    private static IReadOnlyList<string> Problems(MqttOptions options)
    {
        var result = new MqttOptionsValidator().Validate(null, options);
        return result.Failed ? [.. result.Failures] : [];
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1", null, "127.0.0.1")]
    [InlineData("::1", null, "::1", "::1")]
    [InlineData("localhost", "127.0.0.1", "::1", "127.0.0.1")]
    [InlineData("127.0.0.1;::1", "127.0.0.1", "::1", "127.0.0.1")]
    [InlineData("[::1], 127.0.0.2", "127.0.0.2", "::1", "127.0.0.2")]
    [InlineData("0.0.0.0", "0.0.0.0", null, "127.0.0.1")]
    [InlineData("::", null, "::", "::1")]
    public void Parse_Host_GivesTheListenersAndTheHostToConnectTo(string host, string? v4, string? v6, string connect)
    {
        var addresses = BrokerAddresses.Parse(host, out var problem);

        Assert.Null(problem);
        Assert.NotNull(addresses);
        Assert.Equal(v4, addresses.V4?.ToString());
        Assert.Equal(v6, addresses.V6?.ToString());
        Assert.Equal(connect, addresses.ConnectHost);
    }

    [Fact]
    public void Validate_Default_EmbeddedOnIPv4LoopbackOnly()
    {
        var options = new MqttOptions();

        Assert.Empty(Problems(options));
        Assert.Equal(new BrokerAddresses(IPAddress.Loopback, null), options.EmbeddedAddresses);
        Assert.Equal("127.0.0.1", options.ConnectHost);
    }

    [Theory]
    [InlineData("broker.lan", "'broker.lan' is not an IP address")]
    [InlineData("127.0.0.1;10.0.0.1", "two IPv4 addresses")]
    [InlineData("::1;fe80::1", "two IPv6 addresses")]
    [InlineData(";", "names no address")]
    public void Validate_EmbeddedHostNotAddresses_NamesMqttHost(string host, string problem)
    {
        var problems = Problems(new MqttOptions { Host = host });

        var only = Assert.Single(problems);
        Assert.StartsWith($"Mqtt:Host '{host}'", only, StringComparison.Ordinal);
        Assert.Contains(problem, only, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ExternalBrokerHostName_IsFine()
    {
        var options = new MqttOptions { Broker = "external", Host = "broker.lan" };

        Assert.Empty(Problems(options));
        Assert.Equal("broker.lan", options.ConnectHost);
    }

    [Theory]
    [InlineData("0.0.0.0", "0.0.0.0")]
    [InlineData("::", "::")]
    [InlineData("127.0.0.1;::", "::")]
    [InlineData("192.168.1.20", "192.168.1.20")]
    public void Validate_NonLoopbackWithoutCredentials_RefusedNamingTheKeys(string host, string named)
    {
        var only = Assert.Single(Problems(new MqttOptions { Host = host }));

        Assert.Contains($"listen on {named}, which is not loopback", only, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Username", only, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Password", only, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NonLoopbackWithCredentials_IsFine()
    {
        Assert.Empty(Problems(new MqttOptions { Host = "0.0.0.0", Username = "edge", Password = "s3cret" }));
    }

    [Theory]
    [InlineData("edge", null)]
    [InlineData(null, "s3cret")]
    public void Validate_EmbeddedHalfCredentials_Refused(string? user, string? password)
    {
        var only = Assert.Single(Problems(new MqttOptions { Username = user, Password = password }));

        Assert.Contains("Mqtt:Username and Mqtt:Password go together", only, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_BadAllowedResponseTopic_NamesItsIndex()
    {
        var only = Assert.Single(Problems(new MqttOptions { AllowedResponseTopics = ["reply/#", "reply/#/x"] }));

        Assert.StartsWith("Mqtt:AllowedResponseTopics:1 'reply/#/x' is not an MQTT topic filter", only, StringComparison.Ordinal);
    }
}
