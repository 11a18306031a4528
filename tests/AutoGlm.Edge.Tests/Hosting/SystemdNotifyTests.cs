using System.Net.Sockets;
using System.Text;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Hosting;

/// <summary>The systemd notify protocol, over a real unix datagram socket given to the daemon as <c>NOTIFY_SOCKET</c>.</summary>
public sealed class SystemdNotifyTests
{
    [Fact]
    public async Task Daemon_WithNotifySocket_SendsReadyWatchdogStoppingInOrder()
    {
        var folder = TestPaths.NewFolder("notify");
        var socketPath = Path.Combine(folder, "notify.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));
        var messages = new List<string>();
        using var stop = new CancellationTokenSource();
        var receiving = Task.Run(async () =>
        {
            var buffer = new byte[4096];
            try
            {
                while (true)
                {
                    var count = await socket.ReceiveAsync(buffer, SocketFlags.None, stop.Token);
                    lock (messages)
                    {
                        messages.AddRange(Encoding.UTF8.GetString(buffer, 0, count).Split('\n', StringSplitOptions.RemoveEmptyEntries));
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // The test is done listening.
            }
        });
        List<string> Seen()
        {
            lock (messages)
            {
                return [.. messages];
            }
        }

        var port = TestPaths.FreePort();
        await using var daemon = new DaemonProcess(
            TestPaths.NewFolder("state"),
            new Dictionary<string, string> { ["Mqtt__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture), ["Mqtt__DeviceId"] = "notify" },
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = socketPath, ["WATCHDOG_USEC"] = "4000000" });

        await daemon.StartAsync();
        await Poll.UntilAsync(() => Seen().Contains("READY=1"), "READY=1");
        await Poll.UntilAsync(() => Seen().Contains("WATCHDOG=1"), "WATCHDOG=1");
        var exitCode = await daemon.TerminateAsync();
        await Poll.UntilAsync(() => Seen().Contains("STOPPING=1"), "STOPPING=1", TimeSpan.FromSeconds(10));
        await stop.CancelAsync();
        await receiving;

        var seen = Seen();
        Assert.Equal(0, exitCode);
        Assert.True(seen.IndexOf("READY=1") < seen.IndexOf("WATCHDOG=1"), string.Join(" | ", seen));
        Assert.True(seen.LastIndexOf("WATCHDOG=1") < seen.IndexOf("STOPPING=1"), string.Join(" | ", seen));
        Assert.Contains(seen, m => m.StartsWith("STATUS=", StringComparison.Ordinal));
        Assert.True(seen.IndexOf("READY=1") > seen.FindIndex(m => m.StartsWith("STATUS=taking jobs", StringComparison.Ordinal)), "READY=1 came before the MQTT subscription: " + string.Join(" | ", seen));
        daemon.AssertNoUnexpectedErrors();
    }
}
