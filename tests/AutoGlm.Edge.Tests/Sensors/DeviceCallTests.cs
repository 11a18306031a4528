using AutoGlm.Edge.Sensors;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>
/// The calls the V4L2 camera and ALSA microphone make into their blocking drivers, with a driver call that does not
/// return (a stalled camera or sound card): the capture times out on the fake clock, and the device makes no second call
/// until the first has returned.
/// </summary>
public sealed class DeviceCallTests
{
    private const string Key = "Sensors:Devices:0:Device";
    private static readonly DateTimeOffset Start = new(2026, 11, 25, 15, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task RunAsync_DriverCallNeverReturns_TimesOutNamingTheDevice_RefusesUntilItReturns()
    {
        var time = new FakeTimeProvider(Start);
        var calls = new BlockingDeviceCalls($"camera /dev/video7 ({Key})", "capture", Key, TimeSpan.FromSeconds(10), time);
        using var stalled = new ManualResetEventSlim();
        var entered = 0;

        var first = calls.RunAsync(
            () =>
            {
                Interlocked.Increment(ref entered);
                stalled.Wait();
                return [1];
            },
            CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(10));

        var timedOut = await Assert.ThrowsAsync<SensorException>(() => first);
        Assert.Equal(Key, timedOut.ConfigKey);
        Assert.StartsWith($"camera /dev/video7 ({Key}) failed to capture: the driver did not return within 10 s", timedOut.Message, StringComparison.Ordinal);
        Assert.Contains("Sensors:Devices:0:CaptureTimeout", timedOut.Message, StringComparison.Ordinal);
        Assert.True(calls.IsStuck);

        var refused = await Assert.ThrowsAsync<SensorException>(() => calls.RunAsync(() => [2], CancellationToken.None));
        Assert.Contains("timed out at 15:00:10Z has still not returned", refused.Message, StringComparison.Ordinal);

        stalled.Set();
        await Poll.UntilAsync(() => !calls.IsStuck, "the stalled call to return");
        Assert.Equal([3], await calls.RunAsync(() => [3], CancellationToken.None));
        Assert.Equal(1, Volatile.Read(ref entered));
        Assert.True(calls.Dispose());
    }

    [Fact]
    public async Task RunAsync_Cancelled_WhileTheDriverIsStuck_ReturnsAtOnce_AndDisposeLeavesTheDeviceAlone()
    {
        var calls = new BlockingDeviceCalls($"microphone 'default' ({Key})", "record", Key, TimeSpan.FromSeconds(15), new FakeTimeProvider(Start));
        using var stalled = new ManualResetEventSlim();
        using var stopping = new CancellationTokenSource();

        var recording = calls.RunAsync(
            () =>
            {
                stalled.Wait();
                return [];
            },
            stopping.Token);
        await stopping.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => recording);
        Assert.False(calls.Dispose());
        stalled.Set();
    }
}
