import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { LatencyHistograms } from './latency-histograms.js';

const BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
const exporter = (producers: LatencyHistograms[] = []) =>
  new PrometheusExporter({
    preventServerStart: true,
    withoutScopeInfo: true,
    withoutTargetInfo: true,
    metricProducers: producers,
  });
const render = async (reader: PrometheusExporter) => serializer.serialize((await reader.collect()).resourceMetrics);

/** A deterministic stream of numbers in [0, 1). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('LatencyHistograms', () => {
  it('exports what the SDK histogram exports for the same records', async () => {
    const sdkReader = exporter();
    const provider = new MeterProvider({ readers: [sdkReader] });
    const meter = provider.getMeter('lakegate');
    const histograms = new LatencyHistograms(BOUNDS);
    const ownReader = exporter([histograms]);
    const ownProvider = new MeterProvider({ readers: [ownReader] });
    const options = { unit: 's', advice: { explicitBucketBoundaries: BOUNDS } };
    const sdkRequests = meter.createHistogram('requests_seconds', { description: 'Requests', ...options });
    const sdkWaits = meter.createHistogram('waits_seconds', { description: 'Waits', ...options });
    meter.createHistogram('unused_seconds', { description: 'Never recorded', ...options });
    const requests = histograms.create('requests_seconds', 'Requests', ['route', 'status', 'tenant']);
    const waits = histograms.create('waits_seconds', 'Waits', ['tenant']);
    histograms.create('unused_seconds', 'Never recorded', ['tenant']);

    const next = random(7);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
    for (let i = 0; i < 5000; i++) {
      // Values on every bound, just either side of one, far past the last, zero, and negative (both drop those).
      const seconds = pick([
        () => pick(BOUNDS),
        () => pick(BOUNDS) * (1 + 1e-12),
        () => pick(BOUNDS) * (1 - 1e-12),
        () => next() * 6,
        () => 100 + next() * 1000,
        () => 0,
        () => -next(),
      ])();
      const attributes = {
        route: pick(['/v1/query', '/v1/sessions']),
        status: pick(['200', '429']),
        tenant: pick(['a', 'b', 'c']),
      };
      sdkRequests.record(seconds, attributes);
      requests.record(seconds, attributes);
      sdkWaits.record(seconds / 10, { tenant: attributes.tenant });
      waits.record(seconds / 10, { tenant: attributes.tenant });
    }

    const expected = await render(sdkReader);
    expect(expected).toContain('requests_seconds_bucket{route="/v1/query",status="429",tenant="b",le="0.005"}');
    expect(await render(ownReader)).toBe(expected);
    await provider.shutdown();
    await ownProvider.shutdown();
  });

  it('drops values that are not finite, as they would spoil the sum of their series for good', async () => {
    const histograms = new LatencyHistograms(BOUNDS);
    const reader = exporter([histograms]);
    const provider = new MeterProvider({ readers: [reader] });
    const waits = histograms.create('waits_seconds', 'Waits', ['tenant']);
    waits.record(Number.NaN, { tenant: 'a' });
    waits.record(Number.POSITIVE_INFINITY, { tenant: 'a' });
    waits.record(0.02, { tenant: 'a' });
    const text = await render(reader);
    expect(text).toContain('waits_seconds_count{tenant="a"} 1');
    expect(text).toContain('waits_seconds_sum{tenant="a"} 0.02');
    expect(text).toContain('waits_seconds_bucket{tenant="a",le="0.01"} 0');
    expect(text).toContain('waits_seconds_bucket{tenant="a",le="0.025"} 1');
    await provider.shutdown();
  });
});
