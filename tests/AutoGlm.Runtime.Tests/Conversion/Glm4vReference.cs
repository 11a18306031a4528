using System.Diagnostics;
using System.Text.Json;

namespace AutoGlm.Runtime.Tests.Conversion;

/// <summary>Runs <c>glm4v_reference.py</c> (Debian's Python, PyTorch and PIL): GLM-4.1V's processor and vision tower as transformers writes them.</summary>
internal static class Glm4vReference
{
    private const string Python = "/usr/bin/python3";

    private static string Script => Path.Combine(AppContext.BaseDirectory, "Conversion", "glm4v_reference.py");

    /// <summary>The processor's <c>smart_resize</c> of an image of this size: (height, width).</summary>
    public static (int Height, int Width) SmartResize(int height, int width, long minPixels = 12544, long maxPixels = 9633792)
    {
        var size = JsonSerializer.Deserialize<int[]>(Run($"smart-resize {height} {width} --min {minPixels} --max {maxPixels}"))!;
        return (size[0], size[1]);
    }

    /// <summary>The processor's <c>pixel_values</c> of an image file and its patch grid (rows, columns).</summary>
    public static (float[] Pixels, int Rows, int Columns) Preprocess(string image, long minPixels = 12544, long maxPixels = 9633792)
    {
        var output = image + ".pixels.f32";
        using var json = JsonDocument.Parse(Run($"preprocess \"{image}\" \"{output}\" --min {minPixels} --max {maxPixels}"));
        var grid = json.RootElement.GetProperty("grid");
        var pixels = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(output)).ToArray();
        return (pixels, grid[1].GetInt32(), grid[2].GetInt32());
    }

    /// <summary>Writes a tiny GLM-4.1V checkpoint with a real vision tower.</summary>
    public static void MakeCheckpoint(string directory, int seed = 7) => Run($"make \"{directory}\" --seed {seed}");

    /// <summary>The vision tower's output rows for pixel values written to <paramref name="pixelsFile"/>.</summary>
    /// <param name="directory">The checkpoint.</param>
    /// <param name="pixelsFile">float32 pixel values as the processor lays them out.</param>
    /// <param name="rows">Patch rows.</param>
    /// <param name="columns">Patch columns.</param>
    /// <param name="int4Block">When positive, the linears an INT4 package rounds are first rounded by the converter's rule at this block.</param>
    public static double[][] Vision(string directory, string pixelsFile, int rows, int columns, int int4Block = 0) =>
        JsonSerializer.Deserialize<double[][]>(Run($"vision \"{directory}\" \"{pixelsFile}\" --grid {rows},{columns} --int4 {int4Block}"))!;

    /// <summary><c>get_rope_index</c>'s three position streams for a prompt with images of these patch grids.</summary>
    public static long[][] RopeIndex(IReadOnlyList<int> tokens, IReadOnlyList<(int Rows, int Columns)> grids, int imageToken) =>
        JsonSerializer.Deserialize<long[][]>(Run($"rope-index --tokens {string.Join(',', tokens)} --grids \"{string.Join(';', grids.Select(g => $"{g.Rows},{g.Columns}"))}\" --image-token {imageToken}"))!;

    /// <summary>The logits of positions <paramref name="first"/>.. of a prompt holding one image.</summary>
    public static double[][] Logits(string directory, string pixelsFile, int rows, int columns, IReadOnlyList<int> tokens, int first) =>
        JsonSerializer.Deserialize<double[][]>(Run($"forward \"{directory}\" \"{pixelsFile}\" --grid {rows},{columns} --tokens {string.Join(',', tokens)} --first {first}"))!;

    private static string Run(string arguments)
    {
        if (!File.Exists(Python))
        {
            throw new InvalidOperationException($"{Python} is missing: the GLM-4.1V tests need Debian's python3-torch and python3-pil (scripts/test.sh installs them)");
        }

        var start = new ProcessStartInfo(Python, $"\"{Script}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"glm4v_reference.py {arguments} did not finish in 3 minutes");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"glm4v_reference.py {arguments} failed with exit code {process.ExitCode}: {stderr.Result}");
        }

        return stdout.Result;
    }
}
