using System.Buffers.Binary;
using System.Diagnostics;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Modalities;
using Microsoft.Extensions.AI;
using SkiaSharp;

namespace AutoGlm.Bench;

/// <summary>
/// What images and audio cost on this machine: preprocessing (decode, orient, resize, normalize; WAV, resample,
/// log-mel) of camera-sized inputs, the adapter's first load, and time to first token of a text prompt against the
/// same prompt with an image or a clip, alternated in one run.
/// </summary>
internal static class MediaBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var runs = args.Length > 1 && args[0] == "--runs" ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20;
        var directory = Path.Combine(Path.GetTempPath(), "autoglm-bench-media");
        var manifest = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, directory);
        var limits = new MediaLimits();
        var images = new ImagePreprocessor(manifest.Adapters!.Vision!, limits);
        var audio = new AudioPreprocessor(manifest.Adapters.Audio!, limits);

        var photo1080 = Photo(1920, 1080);
        var photo480 = Photo(640, 480);
        var clip = Wav44kStereo(10);
        Console.WriteLine($"inputs: 1920×1080 JPEG {photo1080.Length / 1024} KiB, 640×480 JPEG {photo480.Length / 1024} KiB, 10 s 44.1 kHz stereo WAV {clip.Length / 1024} KiB; {Environment.ProcessorCount} cores, median of {runs}");
        Report("prepare 1920×1080 JPEG (decode, resize to 64², normalize)", Median(runs, () => images.Prepare(photo1080)));
        Report("prepare 640×480 JPEG", Median(runs, () => images.Prepare(photo480)));
        Report("prepare 10 s WAV (read, 44.1→16 kHz, 80-band log-mel)", Median(runs, () => audio.Prepare(clip)));

        using var engine = LocalEngine.Load(directory, new EngineOptions { MaxBatchSize = 1 });
        var text = new ChatMessage[] { new(ChatRole.User, "What is going on at the front door right now?") };
        ChatMessage[] With(byte[] data, string type) => [new(ChatRole.User, [new DataContent(data, type), new TextContent("What is going on at the front door right now?")])];
        await FirstTokenAsync(engine, text);
        var rssBefore = Process.GetCurrentProcess().WorkingSet64;
        var coldImage = await FirstTokenAsync(engine, With(photo480, "image/jpeg"));
        var coldAudio = await FirstTokenAsync(engine, With(clip, "audio/wav"));
        var rssAfter = Process.GetCurrentProcess().WorkingSet64;
        Console.WriteLine($"first image request (vision adapter loads): TTFT {coldImage:F1} ms; first audio request (audio adapter loads): TTFT {coldAudio:F1} ms");
        Console.WriteLine($"adapters report {engine.Adapters.Sum(a => a.MemoryBytes) / 1024} KiB of weights; process RSS grew {(rssAfter - rssBefore) / 1024} KiB across both first loads");

        var imageRequest = engine.CreateRequest(With(photo480, "image/jpeg"), null, CancellationToken.None);
        var clipRequest = engine.CreateRequest(With(clip, "audio/wav"), null, CancellationToken.None);
        Report("vision encoder alone (synthetic, 1 tile → 16 rows)", Median(runs, () => imageRequest.Media[0].Encode()));
        Report($"audio encoder alone (synthetic, 10 s → {clipRequest.Media[0].Rows} rows)", Median(runs, () => clipRequest.Media[0].Encode()));

        List<double> plain = [], image = [], sound = [];
        for (var i = 0; i < runs; i++)
        {
            plain.Add(await FirstTokenAsync(engine, text));
            image.Add(await FirstTokenAsync(engine, With(photo480, "image/jpeg")));
            sound.Add(await FirstTokenAsync(engine, With(clip, "audio/wav")));
        }

        var textMs = Median(plain);
        Console.WriteLine($"TTFT median, warm adapters: text {textMs:F1} ms; + 640×480 image {Median(image):F1} ms ({Median(image) / textMs:F2}×); + 10 s clip {Median(sound):F1} ms ({Median(sound) / textMs:F2}×)");
        return 0;
    }

    private static async Task<double> FirstTokenAsync(LocalEngine engine, ChatMessage[] messages)
    {
        var started = Stopwatch.GetTimestamp();
        await foreach (var update in engine.GetStreamingResponseAsync(messages, new ChatOptions { MaxOutputTokens = 1, Temperature = 0 }))
        {
            _ = update;
        }

        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private static double Median(int runs, Action action)
    {
        action();
        var samples = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var started = Stopwatch.GetTimestamp();
            action();
            samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        return Median(samples);
    }

    private static double Median(List<double> samples)
    {
        samples.Sort();
        return samples[samples.Count / 2];
    }

    private static void Report(string what, double ms) => Console.WriteLine($"{what}: {ms:F2} ms");

    /// <summary>A camera-like JPEG: gradients and a few hundred shapes, so it compresses like a photo rather than a flat test card.</summary>
    private static byte[] Photo(int width, int height)
    {
        var random = new Random(5);
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            using var sky = new SKPaint { Shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(0, height), [SKColors.SkyBlue, SKColors.DarkOliveGreen], SKShaderTileMode.Clamp) };
            canvas.DrawRect(0, 0, width, height, sky);
            using var paint = new SKPaint { IsAntialias = true };
            for (var i = 0; i < 400; i++)
            {
                paint.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256), 160);
                canvas.DrawCircle(random.Next(width), random.Next(height), random.Next(4, width / 12), paint);
            }
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 85);
        return data.ToArray();
    }

    private static byte[] Wav44kStereo(int seconds)
    {
        const int rate = 44100;
        var frames = rate * seconds;
        var bytes = new byte[44 + (frames * 4)];
        "RIFF"u8.CopyTo(bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), bytes.Length - 8);
        "WAVEfmt "u8.CopyTo(bytes.AsSpan(8));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(16), 16);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(20), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(22), 2);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(24), rate);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(28), rate * 4);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(32), 4);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(34), 16);
        "data"u8.CopyTo(bytes.AsSpan(36));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(40), frames * 4);
        for (var i = 0; i < frames; i++)
        {
            var sample = (short)(8000 * Math.Sin(2 * Math.PI * (300 + (200 * Math.Sin(i / 20000.0))) * i / rate));
            BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(44 + (i * 4)), sample);
            BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(46 + (i * 4)), sample);
        }

        return bytes;
    }
}
