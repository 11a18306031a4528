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
    case "prefix-cache":
        // prefix-cache [--preset tiny|small] [--rounds N]: TTFT with a cached 1,000-token system prompt, 10-turn agent loop on/off
        return await PrefixCacheBench.RunAsync(args[1..]);
    case "memory":
        Console.WriteLine($"memory read bandwidth: {MemoryBandwidth.MeasureReadGbPerSecond():F1} GB/s ({Environment.ProcessorCount} threads, median of 7 passes over 1 GiB)");
        return 0;
    case "decode-profile":
        DecodeProfile.Run(args[1], int.Parse(args[2]), int.Parse(args[3]), int.Parse(args[4]), int.Parse(args[5]), args.ElementAtOrDefault(6));
        return 0;
    case "compare":
        // compare <preset> <work-dir> <prompt-tokens> <gen-tokens> <runs> <streams>
        return SideBySide.Compare(args[1], args[2], int.Parse(args[3]), int.Parse(args[4]), int.Parse(args[5]), int.Parse(args[6]));
    case "run-one":
        return SideBySide.RunOne(args[1], args[2], int.Parse(args[3]), int.Parse(args[4]), int.Parse(args[5]));
    default:
        Console.Error.WriteLine("usage: AutoGlm.Bench media [--runs N] | prefix-cache [--preset tiny|small --rounds N] | mqtt [--samples N --intake N --sync Full|Normal] | http [--model DIR --requests N --max-tokens N --concurrency 1,4,8] | memory | compare <tiny|small> <work-dir> <prompt-tokens> <gen-tokens> <runs> <streams> | decode-profile <package> <prompt> <steps> <max-len> <batch> [profile-prefix]");
        return 2;
}
