import {
  type ColumnType,
  columnsStream,
  type DatasetSnapshot,
  isLakegateError,
  LakegateError,
  type QueryRequest,
  type QueryStream,
  type Schema,
  type TableBinding,
  toLakegateError,
} from '@lakegate/engine-api';
import type { SnapshotLease, Storage } from '@lakegate/storage';
import type { Admission } from '../admission/admission.js';
import type { GatewayConfig } from '../config/config.js';
import type { EngineRegistry } from '../engines/engine-registry.js';
import type { ManagedEngine } from '../engines/managed-engine.js';
import type { Logger } from '../logging/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { QueryOverview } from '../observability/query-overview.js';
import { NO_TRACE, type TraceScope } from '../observability/tracing.js';
import { quoteIdentifier } from '../sql/sql-lexer.js';
import { type PreparedQuery, prepareHeldQuery, prepareTenantQuery } from '../sql/tenant-query.js';
import type { QueryHistory } from '../state/query-history.js';
import { EngineRouter } from './engine-router.js';
import { type Encodings, ResultCache } from './result-cache.js';
import { CATALOG, TenantCatalog } from './tenant-catalog.js';

/** Answers aggregations from precomputed rollups (aggregate awareness), when one fits. */
export interface RollupAnswerer {
  /** The engine that computed the rollups, as metrics and logs name it. */
  readonly engineId: string;
  /** Notes that `tenant` queried now: rollups compute only for tenants with traffic. */
  noteQuery(tenant: string): void;
  tryAnswer(
    tenant: string,
    sql: string,
    snapshot: DatasetSnapshot,
    maxRows: number,
  ): Promise<
    | {
        readonly rollup: string;
        readonly result: {
          readonly schema: Schema;
          readonly columns: readonly (readonly unknown[])[];
          readonly rowCount: number;
        };
      }
    | undefined
  >;
}

/** A query running now, as the console lists it. */
export interface RunningQuery {
  readonly tenant: string;
  readonly queryId: string;
  readonly sql: string;
  readonly protocol: string;
  /** Epoch ms. */
  readonly startedAt: number;
}

export interface QueryInput {
  readonly queryId: string;
  readonly tenant: string;
  readonly sql: string;
  /** Values of the text's `$1`, `$2`, ... (see `QueryRequest.parameters`): bound by the engine, never spliced. */
  readonly parameters?: readonly unknown[] | undefined;
  /** Engine asked for by the client; else the tenant's default, else the gateway's. */
  readonly engine: string | undefined;
  readonly maxRows: number;
  /** Only the columns are wanted (see `QueryRequest.describeOnly`): no rollup answers and no result is cached. */
  readonly describeOnly?: boolean | undefined;
  /** The front end's cancel: the query stops when it aborts. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Called once, as the query starts, with the query's own cancel: a front end that learns of its client's leaving
   * from an event of its own calls it then, rather than making an AbortSignal for each request.
   */
  readonly watchClient?: ((cancel: (reason: unknown) => void) => void) | undefined;
  /** The protocol front end (`http`, `trino`, `livy`, ...), for the end-of-query log line. */
  readonly protocol: string;
  /** The request's logger: the end-of-query line goes there (with its request and trace ids). */
  readonly logger?: Logger | undefined;
  /** Fields the front end adds to the end-of-query line (a session and statement id, a client name). */
  readonly labels?: Readonly<Record<string, string | number>> | undefined;
  /** The request's trace, which the query's stages add their spans to. */
  readonly trace?: TraceScope | undefined;
  /** Told when the query has its slot and starts to run (protocols report queued and running apart). */
  readonly onAdmitted?: (() => void) | undefined;
}

/** A query's input once started: its signal is the query's own cancel. */
type RunningInput = QueryInput & { readonly signal: AbortSignal };

export type QueryOutcome = 'ok' | 'error' | 'cancelled' | 'client_closed';

/** What the front end sent when it stops reading a query, for the one end-of-query line. */
export interface QueryEnd {
  readonly outcome: QueryOutcome;
  readonly rows: number;
  readonly bytes?: number | undefined;
  readonly truncated?: boolean | undefined;
  readonly error?: unknown;
}

export interface StartedQuery {
  readonly stream: QueryStream;
  readonly engine: string;
  /** Why this engine answered: the engines that declined before it, and their reasons. */
  readonly route: string;
  /** The rollup that answered the query instead of its source's raw files (aggregate awareness). */
  readonly rollup?: string;
  /** Whether the tenant's result cache answered (`hit`) or will keep this result (`miss`); absent when off. */
  readonly cache?: 'hit' | 'miss';
  /** A cached result's encodings, for a writer to reuse (see `writeResult`'s `encodings`). */
  readonly encodings?: Encodings;
  /** A dataset could not be refreshed: the query read its last complete version. */
  readonly stale: boolean;
  /** Snapshot version of each dataset the query reads. */
  readonly versions: Readonly<Record<string, string>>;
  readonly prepared: PreparedQuery;
  /** Rows the result may carry: the request's cap, lowered by the tenant's limit. */
  readonly maxRows: number;
  readonly maxBytes: number | undefined;
  /** Milliseconds the query waited for admission (a slot of its tenant and of the gateway). */
  readonly waitMs: number;
}

/** A query that runs: its result, and the one way it ends. */
export interface ActiveQuery extends StartedQuery {
  /**
   * Ends the query, once (later calls do nothing): closes its stream, which frees its snapshots and slot, records
   * its duration and writes the end-of-query log line. Every front end calls it when it stops reading.
   */
  end(summary: QueryEnd): Promise<void>;
}

export interface QueryLifecycleDeps {
  readonly config: GatewayConfig;
  readonly storage: Storage;
  readonly engines: EngineRegistry;
  /** Admission control; every query is admitted when absent. */
  readonly admission?: Admission | undefined;
  readonly metrics?: GatewayMetrics | undefined;
  /** Interval rollups: aggregations they can answer are answered from them. */
  readonly rollups?: RollupAnswerer | undefined;
  /** A column type's name in `information_schema.columns`. */
  readonly typeName: (type: ColumnType) => string;
  /** Where every query's end is kept with its SQL text, for History; none when absent. */
  readonly history?: QueryHistory | undefined;
  /** Per-minute figures of every query's end, for the console's Overview. */
  readonly overview?: QueryOverview | undefined;
  /** Characters of SQL the prepared queries hold at most ({@link PREPARED_CACHE_CHARS} unless given). */
  readonly preparedChars?: number | undefined;
}

const PREPARED_CACHE_SIZE = 4096;
/**
 * Characters of SQL (the key's and the query's) the prepared queries hold at most, whatever their number: texts may
 * each be up to `maxSqlBytes`, and one tenant's flood of long ones must not take the process's memory.
 */
const PREPARED_CACHE_CHARS = 16 * 1024 * 1024;

const outcomeOf = (error: unknown): 'error' | 'cancelled' =>
  isLakegateError(error) && error.code === 'QUERY_CANCELLED' ? 'cancelled' : 'error';

/**
 * The one path every query takes, whatever protocol it came by: prepare (read the SQL for what it needs), admit
 * (a slot of its tenant and of the gateway), lease (a snapshot of each dataset), route (the engine that accepts
 * it), cache (the tenant's result cache), execute — and one end that frees everything, records the duration and
 * writes the one `query.done` line. Protocol front ends only translate requests and encode results.
 */
export class QueryLifecycle {
  readonly #deps: QueryLifecycleDeps;
  readonly #router: EngineRouter;
  readonly catalog: TenantCatalog;
  /** Prepared queries by tenant and text: dashboards send the same SQL again and again. */
  readonly #prepared = new Map<string, PreparedQuery>();
  #preparedChars = 0;
  /** Counts reloads: a preparation that began under an earlier configuration is not kept. */
  #generation = 0;
  readonly #caches = new Map<string, ResultCache>();
  /**
   * Queries started and not yet ended, in the order they started: the controller that cancels each (an operator,
   * a drain that ran out of time) and what the console's list of running queries shows of it.
   */
  readonly #active = new Map<AbortController, RunningQuery>();
  /** The engine running each query and the id it knows the query by, by tenant and query id: for its progress. */
  readonly #engineOf = new Map<string, { engine: ManagedEngine; engineQueryId: string }>();
  #sequence = 0;
  #draining = false;

  constructor(deps: QueryLifecycleDeps) {
    this.#deps = deps;
    // The configuration is read at each use, never kept: a reload replaces what `deps.config` returns.
    this.#router = new EngineRouter(deps.engines, {
      defaultEngine: deps.config.query.defaultEngine,
      tenantDefault: (tenant) => deps.config.tenants[tenant]?.defaultEngine,
    });
    this.catalog = new TenantCatalog({
      get config() {
        return deps.config;
      },
      storage: deps.storage,
      typeName: deps.typeName,
      probe: (tenant, dataset, signal) => this.#probe(tenant, dataset, signal),
    });
  }

  /**
   * Forgets what was derived from the previous configuration (prepared queries, namespaces, columns, cached
   * results), after a reload: the next query of each tenant reads the new one.
   */
  reconfigured(): void {
    this.#generation++;
    this.#prepared.clear();
    this.#preparedChars = 0;
    this.#caches.clear();
    this.catalog.forget();
  }

  /** Engines queries can be routed to. */
  engineIds(): readonly string[] {
    return this.#deps.engines.ids;
  }

  /**
   * Refuses a SQL text over `query.maxSqlBytes` before anything reads it: parsing is bounded by the text, and a
   * text no dashboard writes must not take the CPU that other tenants' queries need.
   */
  assertSqlSize(sql: string): void {
    const limit = this.#deps.config.query.maxSqlBytes;
    // A UTF-8 byte is at least one UTF-16 unit and at most three: only texts near the limit are measured exactly.
    if (sql.length * 3 <= limit || (sql.length <= limit && Buffer.byteLength(sql, 'utf8') <= limit)) return;
    throw new LakegateError(
      'REQUEST_TOO_LARGE',
      `The SQL text is larger than ${limit} bytes (query.maxSqlBytes): send a shorter query, or ask the operator to raise the limit.`,
    );
  }

  /**
   * Throws the refusal a query of `tenant` would get from admission control right now (RATE_LIMITED, ENGINE_BUSY),
   * if any: front ends call it before reading and preparing a request, so that refusing a flood costs little.
   */
  refuseIfFull(tenant: string): void {
    this.#refuseIfDraining();
    const refused = this.#deps.admission?.refusal(tenant);
    if (refused) throw refused;
  }

  #refuseIfDraining(): void {
    if (this.#draining) {
      throw new LakegateError('SHUTTING_DOWN', 'This gateway is shutting down: send the query to another replica.', {
        retryAfterSeconds: 1,
      });
    }
  }

  /** How far a tenant's running query is (0 to 1), when its engine can tell. */
  progress(tenant: string, queryId: string): number | undefined {
    const running = this.#engineOf.get(`${tenant}\0${queryId}`);
    return running?.engine.progress(running.engineQueryId);
  }

  /** Queries started and not yet ended. */
  get activeQueries(): number {
    return this.#active.size;
  }

  /** The queries running on this replica now, of `tenant` only or of every tenant, oldest first. */
  running(tenant?: string): RunningQuery[] {
    return [...this.#active.values()].filter((query) => tenant === undefined || query.tenant === tenant);
  }

  /**
   * Cancels a running query by its id (of `tenant` only, unless undefined: an operator's), as its client's own
   * cancel would: it answers QUERY_CANCELLED in its protocol. False when no such query runs here.
   */
  cancel(queryId: string, tenant: string | undefined, by: string): boolean {
    for (const [controller, query] of this.#active) {
      if (query.queryId !== queryId || (tenant !== undefined && query.tenant !== tenant)) continue;
      controller.abort(new LakegateError('QUERY_CANCELLED', `The query was cancelled by ${by}.`));
      return true;
    }
    return false;
  }

  /**
   * Stops taking queries (new ones get SHUTTING_DOWN) and waits up to `graceMs` for the running ones to end; those
   * still running then are cancelled, and their front ends answer QUERY_CANCELLED in their own protocol. Resolves
   * once every query has ended, or `settleMs` after the cancel.
   */
  async drain(graceMs: number, settleMs = 2000): Promise<void> {
    this.#draining = true;
    if (await this.#idleWithin(graceMs)) return;
    const reason = new LakegateError(
      'QUERY_CANCELLED',
      `The gateway shut down and the query did not finish within its ${graceMs} ms grace period: run it again.`,
    );
    for (const controller of this.#active.keys()) controller.abort(reason);
    await this.#idleWithin(settleMs);
  }

  async #idleWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.#active.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return this.#active.size === 0;
  }

  /** Reads a tenant's SQL for what it needs (datasets, virtual tables) without running it. */
  async prepare(tenant: string, sql: string, signal: AbortSignal): Promise<PreparedQuery> {
    this.assertSqlSize(sql);
    const key = `${tenant}\0${sql}`;
    const cached = this.#prepared.get(key);
    if (cached) return cached;
    const generation = this.#generation;
    const analyzer = this.#deps.engines.analyzer()?.analyze;
    const namespace = this.catalog.namespace(tenant);
    const prepared = await prepareTenantQuery(
      sql,
      namespace,
      analyzer ? (text) => analyzer(text, signal) : undefined,
    ).catch((error: unknown) => {
      // Not SQL the gateway reads: it may be the dialect of an engine holding the tenant's tables (ClickHouse's).
      const held = Object.keys(this.#deps.config.tenants[tenant]?.engineTables ?? {});
      const inDialect =
        isLakegateError(error) && error.code === 'INVALID_SQL' && held.length > 0
          ? prepareHeldQuery(sql, held)
          : undefined;
      if (!inDialect) throw error;
      return inDialect;
    });
    // Read under the configuration before a reload: right for this query, but not kept for the next.
    if (!prepared.cacheable || generation !== this.#generation || this.#prepared.has(key)) return prepared;
    const chars = 2 * key.length;
    const bound = this.#deps.preparedChars ?? PREPARED_CACHE_CHARS;
    for (const oldest of this.#prepared.keys()) {
      if (this.#prepared.size < PREPARED_CACHE_SIZE && this.#preparedChars + chars <= bound) break;
      this.#prepared.delete(oldest);
      this.#preparedChars -= 2 * oldest.length;
    }
    this.#prepared.set(key, prepared);
    this.#preparedChars += chars;
    return prepared;
  }

  /**
   * Starts a query. When it cannot start (refused, invalid, no engine), the failure is logged as the query's end
   * and thrown; otherwise the caller reads the stream and calls `end` once.
   */
  async start(given: QueryInput): Promise<ActiveQuery> {
    const cached = this.#fromCache(given);
    if (cached) return cached;
    const begun = performance.now();
    // The query's own cancel, which the front end's signal or watch also triggers: a drain that runs out of time
    // cancels through it. (A forwarding listener, not AbortSignal.any: that costs more per query than it is worth.)
    const controller = new AbortController();
    const cancel = (reason: unknown): void => controller.abort(reason);
    const front = given.signal;
    const forward = (): void => cancel(front?.reason);
    if (front?.aborted) forward();
    else front?.addEventListener('abort', forward, { once: true });
    given.watchClient?.(cancel);
    const input: RunningInput = { ...given, signal: controller.signal };
    this.#active.set(controller, {
      tenant: given.tenant,
      queryId: given.queryId,
      sql: given.sql,
      protocol: given.protocol,
      startedAt: Date.now(),
    });
    let started: StartedQuery | undefined;
    let ended = false;
    const end = async (summary: QueryEnd): Promise<void> => {
      if (ended) return;
      ended = true;
      try {
        await started?.stream.close();
        this.#logEnd(input, begun, started, summary);
      } finally {
        front?.removeEventListener('abort', forward);
        this.#active.delete(controller);
        this.#engineOf.delete(`${input.tenant}\0${input.queryId}`);
      }
    };
    try {
      this.#refuseIfDraining();
      started = await this.#start(input);
    } catch (error) {
      await end({ outcome: outcomeOf(error), rows: 0, error });
      throw error;
    }
    return { ...started, end };
  }

  /**
   * Logs the end of a query that never reached `start`: answered by the gateway itself (`answeredBy: 'gateway'`,
   * a protocol's catalog statements such as Trino's SHOW), or refused or cancelled before it (`'none'`), so that
   * every query has its one line. `startedAt` is the `performance.now()` of its arrival.
   */
  endUnstarted(input: QueryInput, summary: QueryEnd, startedAt: number, answeredBy: 'gateway' | 'none'): void {
    this.#logEnd(input, startedAt, undefined, summary, answeredBy);
  }

  #logEnd(
    input: QueryInput,
    begun: number,
    started: StartedQuery | undefined,
    summary: QueryEnd,
    engine = started?.engine ?? 'none',
  ): void {
    const code = summary.error === undefined ? undefined : toLakegateError(summary.error).code;
    const outcome = summary.outcome === 'error' && code === 'QUERY_CANCELLED' ? 'cancelled' : summary.outcome;
    const durationMs = Math.round(performance.now() - begun);
    input.logger?.info('query.done', {
      tenant: input.tenant,
      queryId: input.queryId,
      protocol: input.protocol,
      ...input.labels,
      engine,
      ...(started
        ? {
            route: started.route,
            fingerprint: started.prepared.fingerprint.shape,
            waitMs: started.waitMs,
            ...(started.cache ? { cache: started.cache } : {}),
            ...(started.rollup ? { rollup: started.rollup } : {}),
          }
        : {}),
      rows: summary.rows,
      ...(summary.bytes !== undefined ? { bytes: summary.bytes } : {}),
      ...(summary.truncated !== undefined ? { truncated: summary.truncated } : {}),
      outcome,
      ...(code ? { code } : {}),
      durationMs,
    });
    this.#deps.overview?.record(input.tenant, durationMs, code);
    this.#deps.history?.record({
      id: input.queryId,
      tenant: input.tenant,
      at: Date.now(),
      sql: input.sql,
      fingerprint: started?.prepared.fingerprint.shape,
      protocol: input.protocol,
      client: typeof input.labels?.application === 'string' ? input.labels.application : undefined,
      engine,
      route: started?.route,
      rows: summary.rows,
      durationMs,
      waitMs: started?.waitMs,
      cache: started?.cache,
      outcome,
      code,
    });
  }

  async #start(input: RunningInput): Promise<StartedQuery> {
    const { config } = this.#deps;
    const tracing = input.trace ?? NO_TRACE;
    const prepared = await tracing.span('sql.prepare', { tenant: input.tenant }, () =>
      this.prepare(input.tenant, input.sql, input.signal),
    );
    const { maxRows, maxBytes, timeoutMs } = this.#limits(input);

    const slot = await this.#admit(input, tracing);
    input.onAdmitted?.();
    let engineId = 'none';
    let outcome: 'ok' | 'error' | 'cancelled' = 'ok';
    /** Frees the slot and records the query's duration from admission: once, when its result is done. */
    const freeSlot = (): void => {
      slot.release();
      if (input.signal.aborted && outcome === 'ok') outcome = 'cancelled';
      this.#deps.metrics?.queryDuration.record((performance.now() - slot.admittedAt) / 1000, {
        tenant: input.tenant,
        engine: engineId,
        outcome,
      });
    };
    const tenantConfig = config.tenants[input.tenant];
    const held = prepared.datasets.filter((name) => tenantConfig?.engineTables[name] !== undefined);
    const files = prepared.datasets.filter((name) => !held.includes(name));
    let leases: SnapshotLease[];
    try {
      leases = await this.#lease(input.tenant, files, input.signal, tracing);
    } catch (error) {
      outcome = outcomeOf(error);
      freeSlot();
      throw error;
    }
    let releaseAll = (): void => {
      for (const lease of leases) lease.release();
      freeSlot();
    };
    try {
      // What every answer carries, whoever gives it.
      const common = {
        stale: leases.some((l) => l.stale),
        versions: Object.fromEntries(leases.map((l) => [l.snapshot.dataset, l.snapshot.version])),
        prepared,
        maxRows,
        maxBytes,
        waitMs: slot.waitMs,
      };
      // The cache is asked before anything else is decided: a dashboard's repeated query is answered without
      // building its request, asking the rollups or routing it. Its key names the engine the query is sent to, and
      // whether the client asked for it (which the route reports); routing would resolve it the same way. A table
      // held by an engine has no version to key a cached result on: such a result is fresh for the cache's TTL only.
      // Not kept: a description, which has no rows, and a query of the gateway's catalog tables, whose rows change
      // with datasets' columns rather than their versions.
      const cache =
        input.describeOnly || !prepared.cacheable || prepared.volatile ? undefined : this.#resultCache(input.tenant);
      const cacheKey = cache
        ? this.#cacheKey(input, prepared, maxRows, {
            ...common.versions,
            ...Object.fromEntries(held.map((name) => [name, `held by ${tenantConfig?.engineTables[name]?.engine}`])),
          })
        : undefined;
      const hit = cache && cacheKey ? cache.get(cacheKey) : undefined;
      if (hit) {
        // Served from memory: nothing is read, so the snapshots and the slot go back at once.
        tracing.open('result.cache', { engine: hit.engine, cache: 'hit' }).end();
        this.#deps.rollups?.noteQuery(input.tenant);
        engineId = hit.engine;
        releaseAll();
        const { stream, engine, route, encodings } = hit;
        return { stream, engine, route, encodings, cache: 'hit', ...common };
      }
      const request = await this.#request(input, prepared, leases, held, maxRows);
      const fromRollup = input.describeOnly ? undefined : await this.#fromRollup(input, request, leases, tracing);
      if (fromRollup) {
        engineId = fromRollup.engine;
        releaseAll();
        return { ...fromRollup, ...common };
      }
      const { engine, route } = await this.#router.route(request, input.engine, this.#holders(input.tenant, held));
      engineId = engine.id;
      this.#engineOf.set(`${input.tenant}\0${input.queryId}`, { engine, engineQueryId: request.queryId });
      const streaming = tracing.open('result.stream', { engine: engine.id });
      const releaseLeases = releaseAll;
      releaseAll = (): void => {
        streaming.end(outcome === 'error' ? new Error(outcome) : undefined);
        releaseLeases();
      };
      const wrapped = await tracing.span('engine.execute', { engine: engine.id }, () =>
        engine.execute(request, {
          signal: input.signal,
          timeoutMs,
          stream: {
            mapError: (error) => {
              outcome = outcomeOf(error);
              return error;
            },
            onClose: releaseAll,
          },
        }),
      );
      const stream = cache && cacheKey ? cache.record(cacheKey, wrapped, { engine: engine.id, route }) : wrapped;
      return { stream, engine: engine.id, route, ...(cache ? { cache: 'miss' as const } : {}), ...common };
    } catch (error) {
      outcome = outcomeOf(error);
      releaseAll();
      throw error;
    }
  }

  /** The caps of a query's result and its time limit: the request's, lowered by its tenant's and the gateway's. */
  #limits(input: QueryInput): { maxRows: number; maxBytes: number | undefined; timeoutMs: number } {
    const { config } = this.#deps;
    const tenantLimits = config.tenants[input.tenant]?.limits ?? {};
    const least = (key: 'maxResultRows' | 'maxResultBytes' | 'queryTimeoutMs'): number =>
      Math.min(tenantLimits[key] ?? Number.POSITIVE_INFINITY, config.limits[key] ?? Number.POSITIVE_INFINITY);
    const maxBytes = least('maxResultBytes');
    return {
      maxRows: Math.min(input.maxRows, least('maxResultRows')),
      maxBytes: Number.isFinite(maxBytes) ? maxBytes : undefined,
      timeoutMs: Math.min(config.query.timeoutMs, least('queryTimeoutMs')),
    };
  }

  /**
   * A result's key in its tenant's cache. It names the engine the query is sent to and whether the client asked for
   * it (which the route reports), not the engine routing picks: the cache is asked before routing, which would
   * resolve it the same way.
   */
  #cacheKey(
    input: QueryInput,
    prepared: PreparedQuery,
    maxRows: number,
    versions: Readonly<Record<string, string>>,
  ): string {
    return ResultCache.key({
      engine: input.engine === undefined ? `default ${this.#router.preferred(input.tenant)}` : `asked ${input.engine}`,
      fingerprint: prepared.fingerprint.exact,
      parameters: input.parameters,
      maxRows,
      versions,
    });
  }

  /**
   * A query its tenant's result cache answers at once, without a slot, a lease or a cancel of its own: a
   * dashboard's repeated query. It runs nothing, so it needs no slot (its tokens of the rates are still taken), and
   * it reads no file, so the snapshots are only looked at for their versions, and counted as used. Undefined when
   * any step would have to wait or do more (a text not yet prepared, a dataset not entirely cached, a table held by
   * an engine, a refusal, no such result): `start` then takes the full path, which decides the same way with every
   * step in view. A traced request's trace has the hit's span, as on the full path.
   */
  #fromCache(input: QueryInput): ActiveQuery | undefined {
    if (this.#draining || input.describeOnly || input.signal?.aborted) return undefined;
    const cache = this.#resultCache(input.tenant);
    const prepared = cache && this.#prepared.get(`${input.tenant}\0${input.sql}`);
    if (!cache || !prepared?.cacheable || prepared.volatile) return undefined;
    const { config, storage } = this.#deps;
    const tenantConfig = config.tenants[input.tenant];
    const versions: Record<string, string> = {};
    let stale = false;
    for (const name of prepared.datasets) {
      if (tenantConfig?.engineTables[name] !== undefined) return undefined;
      const peeked = storage.peek(input.tenant, name);
      if (!peeked) return undefined;
      versions[name] = peeked.snapshot.version;
      stale ||= peeked.stale;
    }
    const { maxRows, maxBytes } = this.#limits(input);
    const hit = cache.get(this.#cacheKey(input, prepared, maxRows, versions));
    if (!hit || this.#deps.admission?.admitWithoutSlot(input.tenant)) return undefined;
    const begun = performance.now();
    (input.trace ?? NO_TRACE).open('result.cache', { engine: hit.engine, cache: 'hit' }).end();
    for (const name of prepared.datasets) storage.usedPeeked(input.tenant, name);
    input.onAdmitted?.();
    this.#deps.rollups?.noteQuery(input.tenant);
    this.#deps.metrics?.admissionWait.record(0, { tenant: input.tenant });
    this.#deps.metrics?.queryDuration.record(0, { tenant: input.tenant, engine: hit.engine, outcome: 'ok' });
    const { stream, engine, route, encodings } = hit;
    const started: StartedQuery = {
      stream,
      engine,
      route,
      encodings,
      cache: 'hit',
      stale,
      versions,
      prepared,
      maxRows,
      maxBytes,
      waitMs: 0,
    };
    let ended = false;
    const end = async (summary: QueryEnd): Promise<void> => {
      if (ended) return;
      ended = true;
      await stream.close();
      this.#logEnd(input, begun, started, summary);
    };
    return { ...started, end };
  }

  /** Waits for a slot of the tenant and of the gateway; records the wait. */
  async #admit(
    input: RunningInput,
    tracing: TraceScope,
  ): Promise<{ release: () => void; admittedAt: number; waitMs: number }> {
    const queued = performance.now();
    const admission = this.#deps.admission;
    const release = admission
      ? await tracing.span('admission.wait', { tenant: input.tenant }, () =>
          admission.admit(input.tenant, input.signal),
        )
      : () => {};
    const admittedAt = performance.now();
    this.#deps.metrics?.admissionWait.record((admittedAt - queued) / 1000, { tenant: input.tenant });
    return { release, admittedAt, waitMs: Math.round((admittedAt - queued) * 100) / 100 };
  }

  /** What the engine is asked: the tenant's text, its datasets (snapshots, held tables, filters), the tables served here. */
  async #request(
    input: RunningInput,
    prepared: PreparedQuery,
    leases: readonly SnapshotLease[],
    held: readonly string[],
    maxRows: number,
  ): Promise<QueryRequest> {
    const tenant = this.#deps.config.tenants[input.tenant];
    const filter = (rowFilter: string | undefined) => (rowFilter ? { rowFilter } : {});
    const tables: TableBinding[] = [
      ...leases.map((lease) => ({
        name: lease.snapshot.dataset,
        snapshot: lease.snapshot,
        ...filter(tenant?.datasets[lease.snapshot.dataset]?.rowFilter),
      })),
      ...held.flatMap((name) => {
        const table = tenant?.engineTables[name];
        return table ? [{ name, table: table.table, ...filter(table.rowFilter) }] : [];
      }),
    ];
    const virtualTables = await this.catalog.virtualTables(input.tenant, prepared.virtualTables, input.signal);
    return {
      // Unique within this gateway: a client-chosen request id may repeat, an engine's handle on a query must not.
      queryId: `${input.queryId}~${++this.#sequence}`,
      tenant: input.tenant,
      sql: prepared.sql,
      tables,
      qualifiers: [[input.tenant], [CATALOG, input.tenant]],
      ...(virtualTables.length > 0 ? { virtualTables } : {}),
      ...(input.parameters?.length ? { parameters: input.parameters } : {}),
      ...(input.describeOnly ? { describeOnly: true } : {}),
      // One row more than the cap tells the writer whether the result was truncated.
      maxRows: maxRows + 1,
    };
  }

  /**
   * The engines a query may go to when it reads datasets held by engines: the one that holds them. Tables held by
   * two different engines cannot be read by one query.
   */
  #holders(tenant: string, held: readonly string[]): readonly string[] | undefined {
    if (held.length === 0) return undefined;
    const tables = this.#deps.config.tenants[tenant]?.engineTables ?? {};
    const holders = [...new Set(held.map((name) => tables[name]?.engine ?? ''))];
    if (holders.length > 1) {
      throw new LakegateError(
        'UNSUPPORTED_QUERY',
        `The query reads datasets held by different engines (${held.map((name) => `${name}: ${tables[name]?.engine}`).join(', ')}); one query can read the tables of one engine only.`,
      );
    }
    return holders;
  }

  /**
   * Aggregate awareness: a rollup that covers the query's dimensions, aggregates and time range answers it, unless
   * the client asked for an engine by name, the dataset is row-filtered, the query reads gateway-served tables, or
   * its text has parameters (a rollup reads the text alone).
   */
  async #fromRollup(
    input: RunningInput,
    request: QueryRequest,
    leases: readonly SnapshotLease[],
    tracing: TraceScope,
  ): Promise<Pick<StartedQuery, 'stream' | 'engine' | 'route' | 'rollup'> | undefined> {
    const rollups = this.#deps.rollups;
    rollups?.noteQuery(input.tenant);
    const only = leases.length === 1 && request.tables.length === 1 ? leases[0] : undefined;
    if (
      !rollups ||
      !only ||
      input.engine !== undefined ||
      request.tables[0]?.rowFilter ||
      request.virtualTables ||
      request.parameters
    ) {
      return undefined;
    }
    const answer = await tracing.span('rollup.answer', { dataset: only.snapshot.dataset }, () =>
      rollups.tryAnswer(input.tenant, request.sql, only.snapshot, request.maxRows ?? Number.MAX_SAFE_INTEGER),
    );
    if (!answer) return undefined;
    return {
      stream: columnsStream(answer.result.schema, answer.result),
      engine: rollups.engineId,
      route: `answered from rollup ${answer.rollup}`,
      rollup: answer.rollup,
    };
  }

  /** The tenant's result cache, when its configuration enables one. Never shared across tenants. */
  #resultCache(tenant: string): ResultCache | undefined {
    const settings = this.#deps.config.tenants[tenant]?.resultCache;
    if (!settings?.enabled) return undefined;
    let cache = this.#caches.get(tenant);
    if (!cache) {
      cache = new ResultCache(settings.maxBytes, settings.ttlSeconds * 1000);
      this.#caches.set(tenant, cache);
    }
    return cache;
  }

  /** Leases every named dataset; on any failure, releases those already leased. */
  async #lease(
    tenant: string,
    names: readonly string[],
    signal: AbortSignal,
    tracing: TraceScope,
  ): Promise<SnapshotLease[]> {
    const settled = await Promise.allSettled(
      names.map((name) =>
        tracing.span('storage.acquire', { dataset: name }, () => this.#deps.storage.acquire(tenant, name, signal)),
      ),
    );
    const failure = settled.find((s) => s.status === 'rejected');
    const leases = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (failure) {
      for (const lease of leases) lease.release();
      throw failure.reason;
    }
    return leases;
  }

  /** A dataset's columns, read from a query with no rows by the engine holding it, else the tenant's preferred one. */
  async #probe(tenant: string, dataset: string, signal: AbortSignal): Promise<{ schema: Schema; version?: string }> {
    const started = await this.#start({
      queryId: `describe-${tenant}-${dataset}`,
      tenant,
      sql: `SELECT * FROM ${quoteIdentifier(dataset)} LIMIT 0`,
      engine: this.#deps.config.tenants[tenant]?.engineTables[dataset]?.engine ?? this.#router.preferred(tenant),
      maxRows: 0,
      signal,
      protocol: 'catalog',
    });
    await started.stream.close();
    const version = started.versions[dataset];
    return { schema: started.stream.schema, ...(version ? { version } : {}) };
  }
}
