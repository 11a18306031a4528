using System.Diagnostics;
using System.Globalization;
using AutoGlm.Runtime.Conversion;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Modalities;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.AI;
using SkiaSharp;

namespace AutoGlm.Bench;

/// <summary>
/// GLM-4.1V's vision side on one image: preprocessing (decode, smart_resize, PIL-exact bicubic, normalize, patches),
/// the vision tower alone, image tokens, time to first token of a prompt holding the image, and the process's peak
/// RSS. One image per process, so the peak is that image's.
/// </summary>
internal static class VisionBench
{
    /// <summary><c>vision &lt;checkpoint or package&gt; &lt;work-dir&gt; &lt;screenshot|frame&gt; [runs]</c>.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var source = args[0];
        var work = args[1];
        var kind = args[2];
        var runs = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 3;
        var package = File.Exists(Path.Combine(source, ModelPackage.ManifestFileName)) ? source : Path.Combine(work, "package");
        if (!File.Exists(Path.Combine(package, ModelPackage.ManifestFileName)))
        {
            var started = Stopwatch.GetTimestamp();
            CheckpointConverter.Convert(source, package, new ConversionOptions());
            Console.WriteLine($"converted {source} (INT4) in {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s");
        }

        var (data, type, label) = kind == "screenshot" ? (Screenshot(1080, 2400), "image/png", "1080×2400 PNG screenshot") : (Frame(640, 480), "image/jpeg", "640×480 JPEG frame");
        using var engine = LocalEngine.Load(package, new EngineOptions { MaxBatchSize = 1 });
        var info = engine.Package.Manifest.Adapters!.Vision!;
        var preprocessor = new ImagePreprocessor(info, new MediaLimits());
        var samples = new List<double>();
        PreparedImage? prepared = null;
        for (var i = 0; i <= runs; i++)
        {
            var started = Stopwatch.GetTimestamp();
            prepared = preprocessor.Prepare(data);
            if (i > 0)
            {
                samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }

        var grid = prepared!.Grid!;
        var vision = engine.Package.Manifest.Architecture;
        Console.WriteLine($"{label}: {data.Length / 1024} KiB; resized to {grid.Rows * info.Smart!.PatchSize}×{grid.Columns * info.Smart.PatchSize} ({grid.Rows}×{grid.Columns} patches) → {grid.Tokens} image tokens; {Environment.ProcessorCount} cores");
        Console.WriteLine($"preprocessing: {Median(samples):F1} ms (median of {runs})");

        ChatMessage[] messages = [new(ChatRole.User, [new TextContent("Where is the settings button? "), new DataContent(data, type), new TextContent(" Answer with one action.")])];
        var request = engine.CreateRequest(messages, null, CancellationToken.None);
        var segment = request.Media[0];
        var load = Stopwatch.GetTimestamp();
        segment.Encode();
        Console.WriteLine($"vision tower, first run (session load included): {Stopwatch.GetElapsedTime(load).TotalMilliseconds:F0} ms");
        samples.Clear();
        for (var i = 0; i < runs; i++)
        {
            var started = Stopwatch.GetTimestamp();
            segment.Encode();
            samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        Console.WriteLine($"vision tower alone: {Median(samples):F0} ms (median of {runs}; {grid.Patches} patches through {info.Model})");
        samples.Clear();
        for (var i = 0; i < runs; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await foreach (var update in engine.GetStreamingResponseAsync(messages, new ChatOptions { MaxOutputTokens = 1, Temperature = 0 }))
            {
                _ = update;
            }

            samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        Console.WriteLine($"TTFT (preprocess + tower + prefill of {request.PromptTokens.Count} tokens, {vision.Layers}-layer decoder of width {vision.HiddenSize}): {Median(samples):F0} ms (median of {runs})");
        Console.WriteLine($"peak RSS: {EngineBenchmark.PeakRssMb():F0} MB");
        return 0;
    }

    private static double Median(List<double> samples)
    {
        samples.Sort();
        return samples.Count == 0 ? double.NaN : samples[samples.Count / 2];
    }

    /// <summary>A phone-screen-like PNG: a status bar, list rows with icons and text-like strokes.</summary>
    private static byte[] Screenshot(int width, int height)
    {
        var random = new Random(3);
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var paint = new SKPaint { IsAntialias = true };
            paint.Color = new SKColor(30, 30, 30);
            canvas.DrawRect(0, 0, width, 80, paint);
            for (var row = 0; row < 18; row++)
            {
                var y = 120 + (row * 125);
                paint.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                canvas.DrawRoundRect(40, y, 90, 90, 20, 20, paint);
                paint.Color = new SKColor(60, 60, 60);
                for (var x = 170; x < width - 80; x += random.Next(14, 40))
                {
                    canvas.DrawRect(x, y + 20, random.Next(6, 24), 26, paint);
                }

                paint.Color = new SKColor(225, 225, 225);
                canvas.DrawRect(0, y + 110, width, 2, paint);
            }
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var encoded = image.Encode(SKEncodedImageFormat.Png, 100);
        return encoded.ToArray();
    }

    private static byte[] Frame(int width, int height)
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
        using var encoded = image.Encode(SKEncodedImageFormat.Jpeg, 85);
        return encoded.ToArray();
    }
}
