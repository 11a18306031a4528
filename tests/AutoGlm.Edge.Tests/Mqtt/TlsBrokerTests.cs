using System.Diagnostics;
using System.Globalization;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>
/// The daemon against a Mosquitto that takes only TLS with a client certificate and a password: certificates made
/// by openssl for this test, jobs and results carried by the real mosquitto_pub and mosquitto_sub over the same TLS.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class TlsBrokerTests
{
    [Fact]
    public async Task ExternalBroker_TlsWithClientCertificateAndPassword_JobIsAnswered()
    {
        var folder = TestPaths.NewFolder("mosquitto-tls");
        await MakeCertificatesAsync(folder);
        await RunAsync("mosquitto_passwd", "-c", "-b", Path.Combine(folder, "passwd"), "edge", "s3cret");
        File.SetUnixFileMode(Path.Combine(folder, "passwd"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        await using var broker = await MosquittoBroker.StartAsync(
            $"""
            allow_anonymous false
            password_file {folder}/passwd
            cafile {folder}/ca.pem
            certfile {folder}/server.pem
            keyfile {folder}/server.key
            require_certificate true
            """,
            folder);
        var deviceId = "tls" + Guid.NewGuid().ToString("N")[..8];
        var port = broker.Port.ToString(CultureInfo.InvariantCulture);
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Broker"] = "external",
            ["Mqtt__Port"] = port,
            ["Mqtt__DeviceId"] = deviceId,
            ["Mqtt__UseTls"] = "true",
            ["Mqtt__CaCertificatePath"] = Path.Combine(folder, "ca.pem"),
            ["Mqtt__ClientCertificatePath"] = Path.Combine(folder, "client.pem"),
            ["Mqtt__ClientKeyPath"] = Path.Combine(folder, "client.key"),
            ["Mqtt__Username"] = "edge",
            ["Mqtt__Password"] = "s3cret",
        });
        await daemon.StartAsync();

        string[] tls = ["-h", "127.0.0.1", "-p", port, "-V", "mqttv5", "--cafile", Path.Combine(folder, "ca.pem"), "--cert", Path.Combine(folder, "client.pem"), "--key", Path.Combine(folder, "client.key"), "-u", "edge", "-P", "s3cret"];
        var id = "tls-" + Guid.NewGuid().ToString("N")[..8];
        using var sub = Process.Start(new ProcessStartInfo("mosquitto_sub", [.. tls, "-q", "1", "-C", "1", "-W", "60", "-t", $"autoglm/{deviceId}/results/{id}"]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        var output = sub.StandardOutput.ReadToEndAsync();

        // mosquitto_sub has no "subscribed" signal; publish until its subscription is in place and a result arrives.
        await Poll.UntilAsync(
            () =>
            {
                if (!output.IsCompleted)
                {
                    RunAsync("mosquitto_pub", [.. tls, "-q", "1", "-t", $"autoglm/{deviceId}/jobs", "-m", $"{{\"id\":\"{id}\",\"prompt\":\"Hello over TLS\",\"max_tokens\":4}}"]).GetAwaiter().GetResult();
                }

                return output.Wait(TimeSpan.FromMilliseconds(500));
            },
            "a result over TLS",
            TimeSpan.FromSeconds(60));

        var result = System.Text.Json.JsonDocument.Parse(await output).RootElement;
        Assert.Equal(id, result.GetProperty("id").GetString());
        Assert.InRange(result.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), 1, 4);
        Assert.False(result.TryGetProperty("error", out var error) && error.ValueKind != System.Text.Json.JsonValueKind.Null, "the job failed: " + result);
    }

    private static async Task MakeCertificatesAsync(string folder)
    {
        string F(string name) => Path.Combine(folder, name);
        await RunAsync("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=autoglm-test-ca", "-keyout", F("ca.key"), "-out", F("ca.pem"));
        File.WriteAllText(F("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        await RunAsync("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", F("server.key"), "-out", F("server.csr"));
        await RunAsync("openssl", "x509", "-req", "-in", F("server.csr"), "-CA", F("ca.pem"), "-CAkey", F("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", F("server.ext"), "-out", F("server.pem"));
        await RunAsync("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=edge", "-keyout", F("client.key"), "-out", F("client.csr"));
        await RunAsync("openssl", "x509", "-req", "-in", F("client.csr"), "-CA", F("ca.pem"), "-CAkey", F("ca.key"), "-CAcreateserial", "-days", "2", "-out", F("client.pem"));

        // Mosquitto started as root drops to its own user, which must be able to read the server key.
        foreach (var file in Directory.EnumerateFiles(folder))
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} failed: {await error}");
    }
}
