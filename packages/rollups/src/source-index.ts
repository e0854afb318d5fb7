import type { DatasetSnapshot } from '@lakegate/engine-api';
import type { RollupComputer, TimeSpan } from '@lakegate/engine-local-agg';
import { BoundedCache } from './bounded-cache.js';
import type { ComputeEngine, RunLimits } from './dependencies.js';
import { fingerprint, type RollupContext } from './rollup-context.js';

type SourceFile = DatasetSnapshot['files'][number];

/** Files whose spans are kept: every file of every source, at thousands of tenants with dozens of files each. */
const CACHE_ENTRIES = 500_000;

/** Whether a file whose rows span `span` may hold rows of `[startMs, endMs)`. */
export const overlaps = (span: TimeSpan | null | undefined, startMs: number, endMs: number): boolean =>
  !!span && span.maxMs >= startMs && span.minMs < endMs;

const spanKey = (file: SourceFile, timeColumn: string): string =>
  `${file.path}\0${file.etag}\0${timeColumn.toLowerCase()}`;

/**
 * Which source files hold rows of which intervals. Each file's time span is computed once per file version (a
 * light pass of the compute engine), so that an interval reads only the files that overlap it and its record can
 * name exactly the files it read.
 */
export class SourceIndex {
  readonly #spans = new BoundedCache<string, TimeSpan | null>(CACHE_ENTRIES);

  /** Each file's time span, in the snapshot's order; the engine runs (within its limits) only for files not seen. */
  async spans(
    engine: ComputeEngine,
    snapshot: DatasetSnapshot,
    timeColumn: string,
    limits: RunLimits,
  ): Promise<(TimeSpan | null)[]> {
    if (snapshot.files.every((f) => this.#spans.has(spanKey(f, timeColumn))))
      return snapshot.files.map((f) => this.#spans.get(spanKey(f, timeColumn)) ?? null);
    return engine.run((computer, signal) => this.spansWith(computer, snapshot, timeColumn, signal), limits);
  }

  /** {@link spans} with a computer at hand, inside work the engine already runs. */
  async spansWith(
    computer: RollupComputer,
    snapshot: DatasetSnapshot,
    timeColumn: string,
    signal: AbortSignal,
  ): Promise<(TimeSpan | null)[]> {
    const found = new Map<string, TimeSpan | null>();
    const missing: SourceFile[] = [];
    for (const file of snapshot.files) {
      const key = spanKey(file, timeColumn);
      if (this.#spans.has(key)) found.set(key, this.#spans.get(key) ?? null);
      else missing.push(file);
    }
    if (missing.length > 0) {
      const computed = await computer.rollupTimeSpans({ ...snapshot, files: missing }, timeColumn, signal);
      for (const [i, file] of missing.entries()) {
        const key = spanKey(file, timeColumn);
        found.set(key, this.#spans.set(key, computed[i] ?? null));
      }
    }
    return snapshot.files.map((f) => found.get(spanKey(f, timeColumn)) ?? null);
  }

  /** For each interval start of `[from, to)`, the fingerprint of the files that overlap it. */
  static inputsByInterval(
    context: RollupContext,
    snapshot: DatasetSnapshot,
    spans: readonly (TimeSpan | null)[],
    from: number,
    to: number,
  ): Map<number, string> {
    const { intervalMs } = context;
    // The files of each interval, by their place in the snapshot.
    const files = new Map<number, number[]>();
    snapshot.files.forEach((_, i) => {
      const span = spans[i];
      if (!span) return;
      const first = Math.max(from, Math.floor(span.minMs / intervalMs) * intervalMs);
      const last = Math.min(to - intervalMs, Math.floor(span.maxMs / intervalMs) * intervalMs);
      for (let start = first; start <= last; start += intervalMs) {
        const list = files.get(start);
        if (list) list.push(i);
        else files.set(start, [i]);
      }
    });
    // Neighbouring intervals read the same files (an hour's file, twelve 5-minute intervals): each set of files is
    // named and hashed once, and a tick asks this for every interval of a rollup's history.
    const hashed = new Map<string, string>();
    const inputs = new Map<number, string>();
    for (const [start, list] of files) {
      const key = list.join(',');
      let hash = hashed.get(key);
      if (hash === undefined) {
        const names = list.map((i) => {
          const file = snapshot.files[i] as SourceFile;
          return `${file.path}\0${file.etag}`;
        });
        hash = fingerprint(names.sort().join('\n'));
        hashed.set(key, hash);
      }
      inputs.set(start, hash);
    }
    return inputs;
  }

  /**
   * The files an audit of `[start, end)` counts rows in: those that overlap it, or every file when none does (the
   * count then says how many rows the source holds there, rather than nothing being counted).
   */
  static forAudit(
    snapshot: DatasetSnapshot,
    spans: readonly (TimeSpan | null)[],
    start: number,
    end: number,
  ): DatasetSnapshot {
    const read = SourceIndex.overlapping(snapshot, spans, start, end);
    return read.files.length > 0 ? read : snapshot;
  }

  /** The snapshot with only the files that overlap `[start, end)` (possibly none). */
  static overlapping(
    snapshot: DatasetSnapshot,
    spans: readonly (TimeSpan | null)[],
    start: number,
    end: number,
  ): DatasetSnapshot {
    return { ...snapshot, files: snapshot.files.filter((_, i) => overlaps(spans[i], start, end)) };
  }
}
