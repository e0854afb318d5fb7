import { availableParallelism } from 'node:os';
import { resolve, sep } from 'node:path';
import {
  abortError,
  type CheckResult,
  type Column,
  type ColumnBatch,
  type ConfigResult,
  createQueryStream,
  type DatasetSnapshot,
  defineCapabilities,
  type Engine,
  type EngineDeps,
  type EngineFactory,
  type ExecuteOptions,
  type FileTableBinding,
  isFileBinding,
  isLakegateError,
  LakegateError,
  positiveInteger,
  type QueryRequest,
  type QueryStream,
  throwIfAborted,
} from '@lakegate/engine-api';
import { AggregationPass } from './exec/aggregation-pass.js';
import { type BoundAggregateQuery, type BoundScan, bindAggregateQuery, bindScanQuery } from './exec/bind.js';
import { type FinishedGroups, finishRows, finishSchema, MergedGroups } from './exec/merge-groups.js';
import type { GroupingSetPlan, PartialGroups, PassPlan } from './exec/plan.js';
import { compileRowPredicate, TRUE } from './exec/row-eval.js';
import { type PassWork, WorkerPool } from './exec/worker-pool.js';
import type { LocalQuery, Predicate } from './query/aggregate-query.js';
import { parseLocalQuery } from './query/parse-query.js';
import {
  computeInterval,
  fileTimeSpans,
  type IntervalFile,
  type PassRunner,
  planAnswers,
  type RollupAnswer,
  type RollupComputer,
  type RollupDecline,
  type RollupIntervalRequest,
  type TimeSpan,
} from './rollups/rollup-computer.js';
import type { RollupDefinition } from './rollups/rollup-plan.js';
import { combineLayouts, type FileLayout, isLocalFormat, sniffFile } from './table/file-layout.js';
import { Interner } from './table/interner.js';
import { readLines, splitRanges } from './table/line-reader.js';
import { columnType, type LocalColumn, toBatchValue } from './table/local-types.js';
import { decoderCache, RowSlots } from './table/row-decoder.js';

export interface LocalAggConfig {
  /** Worker threads of a pass. Default: the machine's cores, at most 8. */
  readonly threads: number;
  /** Inputs smaller than this are aggregated on the calling thread (starting workers would cost more). */
  readonly inlineBytes: number;
  /** Bytes per range handed to a worker. */
  readonly rangeBytes: number;
  /** Results of at least this many groups are merged and finished by all workers, each taking a share. */
  readonly shareGroups?: number;
}

const BATCH_ROWS = 2048;
const SHARE_GROUPS = 16_384;
const SCAN_RANGE_BYTES = 1024 * 1024;
const LAYOUT_CACHE = 1024;

function parseLocalAggConfig(raw: unknown): ConfigResult<LocalAggConfig> {
  const input = (raw ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof input !== 'object' || Array.isArray(input)) return { ok: false, problems: ['must be an object'] };
  const known = ['threads', 'inlineBytes', 'rangeBytes', 'shareGroups'];
  for (const key of Object.keys(input)) if (!known.includes(key)) problems.push(`${key}: unknown setting`);
  const positive = (key: string, fallback: number): number => positiveInteger(input, key, fallback, problems);
  const config = {
    threads: positive('threads', Math.min(8, availableParallelism())),
    inlineBytes: positive('inlineBytes', 4 * 1024 * 1024),
    rangeBytes: positive('rangeBytes', 16 * 1024 * 1024),
    shareGroups: positive('shareGroups', SHARE_GROUPS),
  };
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config };
}

/** Everything execute() needs once the SQL is parsed, bound and the files' layouts are known. */
type Prepared =
  | { readonly shape: 'scan'; readonly bound: BoundScan; readonly work: PassWork[]; readonly bytes: number }
  | {
      readonly shape: 'aggregate';
      readonly bound: BoundAggregateQuery;
      readonly work: PassWork[];
      readonly bytes: number;
    };

/**
 * The query with the dataset's row filter ANDed into its WHERE, so that no row the filter rejects reaches a
 * group or a result. A filter outside local-agg's subset declines the query (DuckDB then answers it); the
 * filter's text never appears in a message.
 */
function withRowFilter(query: LocalQuery, rowFilter: string): LocalQuery {
  const filter = (() => {
    try {
      const parsed = parseLocalQuery(`SELECT * FROM t WHERE ${rowFilter}`);
      return parsed.shape === 'scan' && parsed.limit === undefined ? parsed.where : undefined;
    } catch {
      return undefined;
    }
  })();
  if (!filter) throw new LakegateError('UNSUPPORTED_QUERY', "local-agg cannot apply this dataset's row filter.");
  const where: Predicate = query.where ? { kind: 'and', left: filter, right: query.where } : filter;
  return { ...query, where };
}

/** local-agg reads its own subset of SQL text and has no parameters to bind values to. */
const NO_PARAMETERS = 'local-agg does not bind parameters ($1, ...).';

/**
 * local-agg: a pure TypeScript engine for the aggregate subset of SQL over CSV, TSV and NDJSON snapshots. One pass
 * reads each file's bytes once, decodes only the needed fields, and aggregates into per-group typed arrays on
 * worker threads; their partial states merge exactly. Anything outside the subset is declined in `check()`.
 */
export class LocalAggEngine implements Engine, RollupComputer {
  readonly id = 'local-agg';
  readonly capabilities = defineCapabilities({
    generalSql: false,
    formats: Object.freeze(['csv', 'tsv', 'ndjson'] as const),
  });
  readonly #config: LocalAggConfig;
  readonly #deps: EngineDeps | undefined;
  readonly #pool: WorkerPool;
  readonly #active = new Set<AbortController>();
  readonly #layouts = new Map<string, Promise<FileLayout>>();
  /** Rollups plan their passes over the same cached layouts and run them on the same worker threads as queries. */
  readonly #rollups: PassRunner = {
    describe: (snapshot) => this.#describeSnapshot(snapshot),
    run: async (pass, work, signal) => {
      if (this.#closed) throw new LakegateError('ENGINE_CLOSED', 'The engine is closed.');
      return this.#pool.run(pass, work, signal);
    },
  };
  #closed = false;

  constructor(config: LocalAggConfig, deps?: EngineDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#pool = new WorkerPool(config.threads);
  }

  #layout(path: string, etag: string, format: FileLayout['format']): Promise<FileLayout> {
    const key = `${path}\0${etag}`;
    let layout = this.#layouts.get(key);
    if (!layout) {
      layout = sniffFile(path, format);
      layout.catch(() => this.#layouts.delete(key));
      if (this.#layouts.size >= LAYOUT_CACHE) this.#layouts.delete(this.#layouts.keys().next().value as string);
      this.#layouts.set(key, layout);
    }
    return layout;
  }

  /**
   * The columns of a CSV, TSV or NDJSON snapshot and the layout of each of its files, sniffed once per file version
   * (rollups use it too, to plan passes over a source).
   */
  async #describeSnapshot(
    snapshot: DatasetSnapshot,
  ): Promise<{ columns: readonly LocalColumn[]; layouts: readonly FileLayout[] }> {
    const format = snapshot.format;
    if (!isLocalFormat(format))
      throw new LakegateError(
        'UNSUPPORTED_QUERY',
        `local-agg reads CSV, TSV and NDJSON; "${snapshot.dataset}" is ${format}.`,
      );
    const layouts = await Promise.all(snapshot.files.map((f) => this.#layout(f.path, f.etag, format)));
    return { columns: combineLayouts(layouts), layouts };
  }

  /** Files must lie in the tenant's own folders: the engine's own check, whatever the caller bound. */
  #assertOwned(request: QueryRequest, binding: FileTableBinding): void {
    const roots = this.#deps?.storage.tenantDirectories(request.tenant).map((d) => resolve(d));
    if (!roots) return;
    for (const file of binding.snapshot.files) {
      const path = resolve(file.path);
      if (!roots.some((root) => path === root || path.startsWith(root + sep)))
        throw new LakegateError('FORBIDDEN', `Dataset "${binding.name}" is outside the tenant's storage.`);
    }
  }

  async #prepare(request: QueryRequest): Promise<Prepared> {
    const parsed = parseLocalQuery(request.sql);
    const written = [...parsed.qualifiers, parsed.table].join('.');
    const qualified =
      parsed.qualifiers.length === 0 ||
      (request.qualifiers ?? []).some(
        (q) =>
          q.length === parsed.qualifiers.length &&
          q.every((part, i) => part.toLowerCase() === parsed.qualifiers[i]?.toLowerCase()),
      );
    const binding = qualified
      ? request.tables.find((t) => t.name.toLowerCase() === parsed.table.toLowerCase())
      : undefined;
    if (!binding) throw new LakegateError('UNKNOWN_TABLE', `Table "${written}" does not exist.`);
    if (!isFileBinding(binding))
      throw new LakegateError(
        'UNSUPPORTED_QUERY',
        `local-agg reads datasets of files; "${binding.name}" is a table held by another engine.`,
      );
    const query = binding.rowFilter ? withRowFilter(parsed, binding.rowFilter) : parsed;
    const { snapshot } = binding;
    if (snapshot.tenant !== request.tenant)
      throw new LakegateError('FORBIDDEN', `Dataset "${binding.name}" belongs to another tenant.`);
    this.#assertOwned(request, binding);
    const { columns, layouts } = await this.#describeSnapshot(snapshot);
    for (const layout of layouts) {
      if (layout.unsupported.length > 0 && query.shape === 'scan' && query.columns === '*')
        throw new LakegateError('UNSUPPORTED_QUERY', `local-agg cannot read column "${layout.unsupported[0]}".`);
    }
    const byPath = new Map(snapshot.files.map((f, i) => [f.path, layouts[i] as FileLayout]));
    const files = snapshot.files.map((f) => ({ path: f.path, size: f.size }));
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    // Only work for the worker threads has its last ranges cut finer (for them to end together).
    const workOf = (rangeBytes: number, workers = 0): PassWork[] =>
      splitRanges(files, (p) => byPath.get(p) as FileLayout, rangeBytes, workers).map((range) => ({
        range,
        layout: byPath.get(range.path) as FileLayout,
      }));
    if (query.shape === 'scan')
      return { shape: 'scan', bound: bindScanQuery(query, columns), work: workOf(SCAN_RANGE_BYTES), bytes };
    const bound = bindAggregateQuery(query, columns);
    const unsupported = layouts.flatMap((l) => l.unsupported).map((n) => n.toLowerCase());
    for (const index of bound.pass.needed) {
      const name = (columns[index] as LocalColumn).name.toLowerCase();
      if (unsupported.includes(name))
        throw new LakegateError('UNSUPPORTED_QUERY', `local-agg cannot read column "${name}".`);
    }
    const inline = bytes < this.#config.inlineBytes;
    const work = inline ? workOf(SCAN_RANGE_BYTES) : workOf(this.#config.rangeBytes, this.#config.threads);
    return { shape: 'aggregate', bound, work, bytes };
  }

  async check(request: QueryRequest): Promise<CheckResult> {
    if (request.parameters?.length) return { supported: false, reason: NO_PARAMETERS };
    try {
      await this.#prepare(request);
      return { supported: true };
    } catch (error) {
      return { supported: false, reason: isLakegateError(error) ? error.message : 'local-agg cannot read the data.' };
    }
  }

  async execute(request: QueryRequest, { signal }: ExecuteOptions): Promise<QueryStream> {
    if (this.#closed) throw new LakegateError('ENGINE_CLOSED', 'The engine is closed.');
    throwIfAborted(signal);
    if (request.parameters?.length) throw new LakegateError('UNSUPPORTED_QUERY', NO_PARAMETERS);
    const prepared = await this.#prepare(request);
    throwIfAborted(signal);
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    this.#active.add(controller);
    const maxRows = request.maxRows ?? Number.POSITIVE_INFINITY;
    const source =
      prepared.shape === 'scan'
        ? this.#scan(prepared.bound, prepared.work, maxRows, controller.signal)
        : this.#aggregate(prepared, maxRows, controller.signal);
    return createQueryStream(source.schema, {
      async next(): Promise<ColumnBatch | undefined> {
        if (controller.signal.aborted) throw abortError(controller.signal);
        const batch = await source.next();
        if (controller.signal.aborted) throw abortError(controller.signal);
        return batch;
      },
      close: () => {
        signal.removeEventListener('abort', onAbort);
        controller.abort(new LakegateError('QUERY_CANCELLED', 'The query was closed.'));
        this.#active.delete(controller);
      },
    });
  }

  /** Streams the rows of a scan, one range (about a megabyte) at a time, yielding to the event loop between. */
  #scan(
    bound: BoundScan,
    work: readonly PassWork[],
    maxRows: number,
    signal: AbortSignal,
  ): { schema: Column[]; next(): Promise<ColumnBatch | undefined> } {
    const interners = bound.columns.map((c, i) =>
      c.type === 'varchar' && bound.needed.includes(i) ? new Interner() : undefined,
    );
    const slots = new RowSlots(bound.columns.length);
    const where = bound.where ? compileRowPredicate(bound.where, slots, interners) : undefined;
    const limit = Math.min(bound.limit ?? Number.POSITIVE_INFINITY, maxRows);
    const types = bound.output.map((c) => (bound.columns[c] as LocalColumn).type);
    const schema = bound.output.map((_, i) => ({
      name: bound.names[i] as string,
      type: columnType(types[i] as LocalColumn['type']),
    }));
    const pending: unknown[][] = [];
    let produced = 0;
    let next = 0;
    const decoderFor = decoderCache(bound.columns, bound.needed, interners, slots);
    const take = (): ColumnBatch => {
      const rows = pending.splice(0, BATCH_ROWS);
      return { rowCount: rows.length, columns: schema.map((_, i) => rows.map((row) => row[i])) };
    };
    return {
      schema,
      async next() {
        while (pending.length < BATCH_ROWS && produced < limit && next < work.length) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (signal.aborted) throw abortError(signal);
          const { range, layout } = work[next++] as PassWork;
          const decoder = decoderFor(layout);
          readLines(range, layout, (bytes, start, end) => {
            if (produced >= limit) return;
            decoder.decode(bytes, start, end);
            if (where && where() !== TRUE) return;
            produced++;
            pending.push(
              bound.output.map((c, i) => {
                if (slots.nulls[c] === 1) return null;
                const interner = interners[c];
                return interner
                  ? interner.string(slots.ids[c] as number)
                  : toBatchValue(types[i] as LocalColumn['type'], slots.nums[c] as number);
              }),
            );
          });
        }
        return pending.length > 0 ? take() : undefined;
      },
    };
  }

  /** Runs the pass (inline for small inputs, else on the workers), merges the partials, then yields the result. */
  #aggregate(
    prepared: Extract<Prepared, { shape: 'aggregate' }>,
    maxRows: number,
    signal: AbortSignal,
  ): { schema: Column[]; next(): Promise<ColumnBatch | undefined> } {
    const { pass, finish } = prepared.bound;
    const schema = finishSchema(finish);
    let result: AsyncIterator<ColumnBatch> | undefined;
    const compute = async (): Promise<AsyncIterator<ColumnBatch>> => {
      const set = pass.sets[0] as GroupingSetPlan;
      let shares: FinishedGroups[];
      const merge = (partials: readonly PartialGroups[]): FinishedGroups[] => {
        const merged = new MergedGroups(set);
        for (const partial of partials) merged.add(partial);
        return [merged.finished(finish)];
      };
      if (prepared.bytes < this.#config.inlineBytes)
        shares = merge([(await runInline(pass, prepared.work, signal))[0] as PartialGroups]);
      else if (set.dims.length === 0 || this.#pool.size < 2)
        shares = merge((await this.#pool.run(pass, prepared.work, signal)).partials.map((p) => p[0] as PartialGroups));
      else {
        // Each worker splits its groups in shares by key; with many groups, every worker then merges and finishes
        // one share of all of them, and with few, this thread merges them all without another round trip.
        const byThread = (await this.#pool.run(pass, prepared.work, signal, this.#pool.size)).partials;
        const groups = byThread.flat().reduce((n, p) => n + p.size, 0);
        shares =
          groups >= (this.#config.shareGroups ?? SHARE_GROUPS)
            ? await this.#pool.finishShares(set, finish, byThread, signal)
            : merge(byThread.flat());
      }
      // Converted to engine-api values a batch at a time, as the caller reads.
      const rows = finishRows(finish, shares, maxRows);
      let offset = 0;
      return {
        async next(): Promise<IteratorResult<ColumnBatch>> {
          if (offset >= rows.rowCount) return { done: true, value: undefined };
          const end = Math.min(rows.rowCount, offset + BATCH_ROWS);
          const batch = { rowCount: end - offset, columns: rows.columns(offset, end) };
          offset = end;
          return { done: false, value: batch };
        },
      };
    };
    return {
      schema,
      async next() {
        result ??= await compute();
        const next = await result.next();
        return next.done ? undefined : next.value;
      },
    };
  }

  rollupTimeSpans(snapshot: DatasetSnapshot, timeColumn: string, signal: AbortSignal): Promise<(TimeSpan | null)[]> {
    return fileTimeSpans(this.#rollups, snapshot, timeColumn, signal);
  }

  computeRollupInterval(request: RollupIntervalRequest, signal: AbortSignal): Promise<IntervalFile[]> {
    return computeInterval(this.#rollups, request, signal);
  }

  planRollupAnswers(
    sql: string,
    snapshot: DatasetSnapshot,
    definitions: readonly RollupDefinition[],
  ): Promise<(RollupAnswer | RollupDecline)[]> {
    return planAnswers(this.#rollups, sql, snapshot, definitions);
  }

  stats() {
    return { activeQueries: this.#active.size };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new LakegateError('QUERY_CANCELLED', 'The query was cancelled because the engine is closing.');
    for (const controller of this.#active) controller.abort(reason);
    await this.#pool.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A pass on the calling thread, a range at a time, yielding between ranges so aborts and other requests land. */
async function runInline(plan: PassPlan, work: readonly PassWork[], signal: AbortSignal): Promise<PartialGroups[]> {
  const pass = new AggregationPass(plan);
  for (const { range, layout } of work) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (signal.aborted) throw abortError(signal);
    pass.consume(range, layout);
  }
  return pass.export();
}

export const localAggEngineFactory: EngineFactory<LocalAggConfig> = {
  id: 'local-agg',
  parseConfig: parseLocalAggConfig,
  async create(config, deps) {
    return new LocalAggEngine(config, deps);
  },
};
