using System.Diagnostics.Metrics;
using Prometheus;

namespace AutoGlm.Edge.Metrics;

/// <summary>Publishes this host's <see cref="EdgeMetrics"/> into its own prometheus-net registry, served on <c>/metrics</c>.</summary>
/// <remarks>
/// The adapter picks instruments by their <see cref="Meter"/> instance, not by name, so several hosts in one process
/// (tests, benchmarks) each export only their own numbers. Histograms use the bucket boundaries the instruments
/// advise. Owns the adapter's listener; thread-safe.
/// </remarks>
public sealed class PrometheusExport : IDisposable
{
    private readonly IDisposable _adapter;

    public PrometheusExport(EdgeMetrics metrics)
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        _adapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            Registry = Registry,
            MetricFactory = Prometheus.Metrics.WithCustomRegistry(Registry),
            InstrumentFilterPredicate = instrument => ReferenceEquals(instrument.Meter, metrics.Meter),
            ResolveHistogramBuckets = instrument => instrument is Histogram<double> { Advice.HistogramBucketBoundaries: { } buckets }
                ? [.. buckets]
                : MeterAdapterOptions.DefaultHistogramBuckets,

            // The adapter forgets series not updated for this long (at most a day); a quiet device's counters then
            // restart from zero, which Prometheus reads as a counter reset.
            MetricsExpireAfter = TimeSpan.FromDays(1),
        });
    }

    /// <summary>The registry <c>/metrics</c> serves.</summary>
    public CollectorRegistry Registry { get; }

    public void Dispose() => _adapter.Dispose();
}
