import { type Attributes, type HrTime, ValueType } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  type CollectionResult,
  DataPointType,
  type HistogramMetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

/** One series of a histogram: a set of label values and what was recorded with them. */
interface Series {
  readonly attributes: Attributes;
  /** Per bucket: values at most its bound, and above the previous one; the last counts those above every bound. */
  readonly counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

/**
 * A cumulative histogram of latencies with fixed labels. Every request records two or three of these, so a series
 * is found by its label values joined in the declared order, where the SDK's histogram sorts and serializes each
 * attributes object it is given (a few µs per record, on every request).
 */
export class LatencyHistogram<Label extends string> {
  readonly #series = new Map<string, Series>();
  readonly #startTime: HrTime = hrTime();

  constructor(
    readonly name: string,
    readonly description: string,
    readonly labels: readonly Label[],
    readonly boundaries: readonly number[],
  ) {}

  /** Records `seconds` with these label values. A negative or non-finite value is dropped, as the SDK drops it. */
  record(seconds: number, attributes: Readonly<Record<Label, string>>): void {
    if (!(seconds >= 0) || seconds === Number.POSITIVE_INFINITY) return;
    const { labels, boundaries } = this;
    let key = attributes[labels[0] as Label] ?? '';
    for (let i = 1; i < labels.length; i++) key += `\0${attributes[labels[i] as Label] ?? ''}`;
    let series = this.#series.get(key);
    if (!series) {
      const copy: Record<string, string> = {};
      for (const label of labels) copy[label] = attributes[label] ?? '';
      series = {
        attributes: copy,
        counts: new Array<number>(boundaries.length + 1).fill(0),
        sum: 0,
        count: 0,
        min: seconds,
        max: seconds,
      };
      this.#series.set(key, series);
    }
    // The first bound the value does not exceed (Prometheus' `le`).
    let bucket = 0;
    while (bucket < boundaries.length && seconds > (boundaries[bucket] as number)) bucket++;
    series.counts[bucket] = (series.counts[bucket] as number) + 1;
    series.sum += seconds;
    series.count++;
    if (seconds < series.min) series.min = seconds;
    if (seconds > series.max) series.max = seconds;
  }

  /** Every series so far, as the SDK's exporters read a cumulative histogram. */
  metricData(endTime: HrTime): HistogramMetricData {
    return {
      descriptor: { name: this.name, description: this.description, unit: 's', valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: [...this.#series.values()].map((series) => ({
        attributes: series.attributes,
        startTime: this.#startTime,
        endTime,
        value: {
          buckets: { boundaries: [...this.boundaries], counts: [...series.counts] },
          sum: series.sum,
          count: series.count,
          min: series.min,
          max: series.max,
        },
      })),
    };
  }
}

/** The gateway's latency histograms, handed to a metric reader as one more producer of its metrics. */
export class LatencyHistograms implements MetricProducer {
  readonly #histograms: LatencyHistogram<string>[] = [];

  constructor(readonly boundaries: readonly number[]) {}

  create<Label extends string>(name: string, description: string, labels: readonly Label[]): LatencyHistogram<Label> {
    const histogram = new LatencyHistogram(name, description, labels, this.boundaries);
    this.#histograms.push(histogram as LatencyHistogram<string>);
    return histogram;
  }

  async collect(): Promise<CollectionResult> {
    const endTime = hrTime();
    return {
      resourceMetrics: {
        // The reader keeps its SDK's resource and takes only the scope's metrics from here.
        resource: undefined as never,
        scopeMetrics: [
          {
            scope: { name: 'lakegate' },
            // Series recorded so far only, as the SDK exports a histogram.
            metrics: this.#histograms.map((h) => h.metricData(endTime)).filter((m) => m.dataPoints.length > 0),
          },
        ],
      },
      errors: [],
    };
  }
}
