using AutoGlm.Bench;

// Benchmarks whose figures go into docs/benchmarks.md. One mode per file.
return args.FirstOrDefault() switch
{
    "mqtt" => await MqttBench.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: AutoGlm.Bench <mode> [options]");
    Console.Error.WriteLine("  mqtt   daemon latency over MQTT vs a plain Mosquitto round trip, and the sustained intake rate (see MqttBench.cs)");
    return 2;
}
