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

/** A version of a file, as fingerprints name it: its path and ETag. */
export const fileVersion = (file: SourceFile): string => `${file.path}\0${file.etag}`;

const spanKey = (file: SourceFile, timeColumn: string): string => `${fileVersion(file)}\0${timeColumn.toLowerCase()}`;

/**
 * Which source files hold rows of which intervals. Each file's time span is computed once per file version (a
 * light pass of the compute engine), so that an interval reads only the files that overlap it and its record can
 * name exactly the files it read.
 */
export class SourceIndex {
  readonly #spans = new BoundedCache<string, TimeSpan | null>(CACHE_ENTRIES);
  /**
   * The spans of each snapshot's files, by time column: every tick asks for each context's, and a snapshot (which
   * never changes) stays the same object until the dataset changes.
   */
  readonly #bySnapshot = new WeakMap<DatasetSnapshot, Map<string, readonly (TimeSpan | null)[]>>();

  /** Each file's time span, in the snapshot's order; the engine runs (within its limits) only for files not seen. */
  async spans(
    engine: ComputeEngine,
    snapshot: DatasetSnapshot,
    timeColumn: string,
    limits: RunLimits,
  ): Promise<readonly (TimeSpan | null)[]> {
    const column = timeColumn.toLowerCase();
    const known = this.#bySnapshot.get(snapshot)?.get(column);
    if (known) return known;
    const spans = snapshot.files.every((f) => this.#spans.has(spanKey(f, timeColumn)))
      ? snapshot.files.map((f) => this.#spans.get(spanKey(f, timeColumn)) ?? null)
      : await engine.run((computer, signal) => this.spansWith(computer, snapshot, timeColumn, signal), limits);
    const byColumn = this.#bySnapshot.get(snapshot) ?? new Map<string, readonly (TimeSpan | null)[]>();
    byColumn.set(column, spans);
    this.#bySnapshot.set(snapshot, byColumn);
    return spans;
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
    // Where each file's intervals begin, and where they end (the interval after its last): a walk over the
    // intervals changes the set of files it reads only there. A tick asks this for every interval of a rollup's
    // history, and an hour's file is read by twelve 5-minute intervals.
    const changes: { readonly at: number; readonly file: number; readonly adds: boolean }[] = [];
    snapshot.files.forEach((_, file) => {
      const span = spans[file];
      if (!span) return;
      const first = Math.max(from, Math.floor(span.minMs / intervalMs) * intervalMs);
      const last = Math.min(to - intervalMs, Math.floor(span.maxMs / intervalMs) * intervalMs);
      if (first <= last) changes.push({ at: first, file, adds: true }, { at: last + intervalMs, file, adds: false });
    });
    changes.sort((a, b) => a.at - b.at);
    const reading = new Set<number>();
    // Each set of files is named and hashed once.
    const hashed = new Map<string, string>();
    const inputs = new Map<number, string>();
    let hash: string | undefined;
    let next = 0;
    for (let start = changes[0]?.at ?? to; start < to; start += intervalMs) {
      let changed = false;
      for (let change = changes[next]; change && change.at <= start; change = changes[++next]) {
        if (change.adds) reading.add(change.file);
        else reading.delete(change.file);
        changed = true;
      }
      if (changed) hash = reading.size === 0 ? undefined : SourceIndex.#fingerprint(snapshot, reading, hashed);
      if (hash !== undefined) inputs.set(start, hash);
    }
    return inputs;
  }

  /** The fingerprint of the files read: their names and ETags, in name order. */
  static #fingerprint(snapshot: DatasetSnapshot, reading: ReadonlySet<number>, hashed: Map<string, string>): string {
    const files = [...reading].sort((a, b) => a - b);
    const key = files.join(',');
    let hash = hashed.get(key);
    if (hash === undefined) {
      const names = files.map((i) => fileVersion(snapshot.files[i] as SourceFile));
      hash = fingerprint(names.sort().join('\n'));
      hashed.set(key, hash);
    }
    return hash;
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
