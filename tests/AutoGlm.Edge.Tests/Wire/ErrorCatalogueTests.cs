using System.Reflection;
using AutoGlm.Cluster;
using AutoGlm.Edge.Http;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Wire;
using AutoGlm.Runtime;

namespace AutoGlm.Edge.Tests.Wire;

/// <summary>Every engine and cluster error code is answered on both doors, from one table.</summary>
public sealed class ErrorCatalogueTests
{
    private static readonly HashSet<string> MqttCodes = [.. typeof(ErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetValue(null)!)];

    [Fact]
    public void For_EveryRuntimeCode_AnMqttCodeOfTheContractAndAnErrorStatus()
    {
        foreach (var code in Enum.GetValues<RuntimeErrorCode>())
        {
            var error = ErrorCatalogue.For(code);

            Assert.Contains(error.MqttCode, MqttCodes);
            Assert.InRange(error.HttpStatus, 400, 599);
            Assert.Equal(error.HttpStatus >= 500 ? "server_error" : "invalid_request_error", error.HttpType);
        }

        Assert.True(ErrorCatalogue.For(RuntimeErrorCode.Internal).IsFault);
        Assert.False(ErrorCatalogue.For(RuntimeErrorCode.Overloaded).IsFault);
        Assert.Equal(ErrorCodes.InvalidJob, ErrorCatalogue.For(RuntimeErrorCode.InvalidRequest).MqttCode);
    }

    [Fact]
    public void For_EveryClusterCode_RemoteCodesWith503()
    {
        foreach (var code in Enum.GetValues<ClusterErrorCode>())
        {
            var error = ErrorCatalogue.For(code);

            Assert.Contains(error.MqttCode, MqttCodes);
            Assert.Equal(503, error.HttpStatus);
            Assert.Equal(new ClusterException(code, "x").WireCode, error.MqttCode);
        }

        // Asking again helps when no node could take the request, not when none is configured.
        Assert.Equal(5, ErrorCatalogue.For(ClusterErrorCode.RemoteUnavailable).RetryAfterSeconds);
        Assert.Null(ErrorCatalogue.For(ClusterErrorCode.RemoteNotConfigured).RetryAfterSeconds);
    }

    [Fact]
    public void FromRuntime_InternalFailure_SaysNothingOfTheInside()
    {
        var answer = ApiError.FromRuntime(new RuntimeException(RuntimeErrorCode.Internal, "secret detail at /srv/model"));

        Assert.Equal(500, answer.Status);
        Assert.DoesNotContain("secret", answer.Message, StringComparison.Ordinal);
    }
}
