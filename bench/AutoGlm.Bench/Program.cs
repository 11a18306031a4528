using AutoGlm.Bench;

switch (args.FirstOrDefault())
{
    case "http":
        // http [--model DIR] [--requests N] [--max-tokens N] [--concurrency 1,4,8]
        return await HttpOverhead.RunAsync(args[1..]);
    case "mqtt":
        // mqtt [--samples N] [--intake N] [--sync Full|Normal]: see MqttBench.cs
        return await MqttBench.RunAsync(args[1..]);
    case "media":
        // media [--runs N]: image and audio preprocessing, adapter first load, TTFT with and without media
        return await MediaBench.RunAsync(args[1..]);
    case "vision":
        // vision <GLM-4.1V checkpoint or package> <work-dir> <screenshot|frame> [runs]: preprocessing, tower, image tokens, TTFT, peak RSS
        return await VisionBench.RunAsync(args[1..]);
    case "prefix-cache":
        // prefix-cache [--preset tiny|small] [--rounds N]: TTFT with a cached 1,000-token system prompt, 10-turn agent loop on/off
        return await PrefixCacheBench.RunAsync(args[1..]);
    case "memory":
        Console.WriteLine($"memory read bandwidth: {MemoryBandwidth.MeasureReadGbPerSecond():F1} GB/s ({Environment.ProcessorCount} threads, median of 7 passes over 1 GiB)");
        return 0;
    case "decode-profile":
        // decode-profile <package> <prompt> <steps> <max-len> <batch> [profile-prefix] [--no-arena] [session.key=value]...
        DecodeProfile.Run(args[1], int.Parse(args[2]), int.Parse(args[3]), int.Parse(args[4]), int.Parse(args[5]), args[6..]);
        return 0;
    case "compare":
        // compare <preset> <work-dir> <prompt-tokens> <gen-tokens> <runs> <streams, e.g. 2,4,8>
        return SideBySide.Compare(args[1], args[2], int.Parse(args[3]), int.Parse(args[4]), int.Parse(args[5]), [.. args[6].Split(',').Select(int.Parse)]);
    case "run-one":
        // run-one <engine|engine-nospin|genai|llama> <package, GenAI folder or GGUF> <prompt-tokens> <gen-tokens> <streams> [arrival spacing ms]
        return SideBySide.RunOne(args[1], args[2], int.Parse(args[3]), int.Parse(args[4]), int.Parse(args[5]), args.Length > 6 ? double.Parse(args[6], System.Globalization.CultureInfo.InvariantCulture) : 25);
    case "hot-path":
        // hot-path <package> [iterations]: sampling over the vocabulary and the embedding lookup, each alone
        return HotPathBench.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : 300);
    case "agree":
        // agree <package> <gguf>: the engine's decoder and llama.cpp on the same prompt, logits and greedy tokens
        return SideBySide.Agree(args[1], args[2]);
    case "gguf":
        // gguf <package> <out.gguf> [preset]: the package's INT4 weights as GGUF Q4_0 for llama.cpp
        Console.WriteLine($"{GgufExport.Export(AutoGlm.Runtime.Building.SyntheticModelSpec.Preset(args.ElementAtOrDefault(3) ?? "small"), args[1], args[2]) / 1e6:F0} MB of tensors written to {args[2]}");
        return 0;
    default:
        Console.Error.WriteLine("usage: AutoGlm.Bench media [--runs N] | vision <checkpoint|package> <work-dir> <screenshot|frame> [runs] | prefix-cache [--preset tiny|small --rounds N] | mqtt [--samples N --intake N --sync Full|Normal] | http [--model DIR --requests N --max-tokens N --concurrency 1,4,8] | memory | compare <tiny|small> <work-dir> <prompt-tokens> <gen-tokens> <runs> <2,4,8> | hot-path <package> [iterations] | gguf <package> <out.gguf> [preset] | agree <package> <gguf> | decode-profile <package> <prompt> <steps> <max-len> <batch> [profile-prefix]");
        return 2;
}
