import {
  columnsStream,
  isLakegateError,
  LakegateError,
  type QueryRequest,
  type QueryStream,
  type Schema,
  type TableBinding,
  type VirtualTable,
  wrapQueryStream,
} from '@lakegate/engine-api';
import type { SnapshotLease, Storage } from '@lakegate/storage';
import type { Admission } from '../admission/admission.js';
import type { GatewayConfig } from '../config/config.js';
import type { EngineRegistry } from '../engines/engine-registry.js';
import type { ManagedEngine } from '../engines/managed-engine.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { NO_TRACE, type TraceScope } from '../observability/tracing.js';
import type { RollupService } from '../rollups/rollup-service.js';
import { quoteIdentifier } from '../sql/sql-lexer.js';
import { type PreparedQuery, prepareTenantQuery, type TenantNamespace } from '../sql/tenant-query.js';
import { trinoType } from '../trino/trino-types.js';
import { ResultCache } from './result-cache.js';

export interface QueryInput {
  readonly queryId: string;
  readonly tenant: string;
  readonly sql: string;
  /** Engine asked for by the client; else the tenant's default, else `duckdb`. */
  readonly engine: string | undefined;
  readonly maxRows: number;
  readonly signal: AbortSignal;
  /** The request's trace, which the query's stages add their spans to. */
  readonly trace?: TraceScope | undefined;
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

export interface QueryServiceDeps {
  readonly config: GatewayConfig;
  readonly storage: Storage;
  readonly engines: EngineRegistry;
  /** Admission control; every query is admitted when absent. */
  readonly admission?: Admission | undefined;
  readonly metrics?: GatewayMetrics | undefined;
  /** Interval rollups: aggregations they can answer are answered from them. */
  readonly rollups?: RollupService | undefined;
}

const PREPARED_CACHE_SIZE = 4096;

/** A constant table of VARCHAR columns (BIGINT where `bigint` names them). */
function virtualTable(
  schema: string,
  name: string,
  columns: readonly string[],
  rows: readonly (readonly (string | number | null)[])[],
  bigint: readonly string[] = [],
): VirtualTable {
  return {
    schema,
    name,
    columns: columns.map((c) => ({ name: c, sqlType: bigint.includes(c) ? 'BIGINT' : 'VARCHAR' })),
    rows,
  };
}

/** The tables of `information_schema` the gateway serves. */
const INFORMATION_SCHEMA_TABLES: readonly string[] = ['columns', 'schemata', 'tables'];

/** Lakegate's catalog name, as BI tools qualify tables: `lakegate.<tenant>.<dataset>`. */
export const CATALOG = 'lakegate';

/**
 * Runs tenant queries: validates and rewrites the SQL, leases a snapshot of each dataset it reads, routes it to
 * the first engine that accepts it, and starts it. The leases are held until the result stream closes, so
 * refreshes never pull files from under a running query.
 */
export class QueryService {
  readonly #deps: QueryServiceDeps;
  readonly #namespaces = new Map<string, TenantNamespace>();
  /** Prepared queries by tenant and text: dashboards send the same SQL again and again. */
  readonly #prepared = new Map<string, PreparedQuery>();
  readonly #schemas = new Map<string, Schema>();
  readonly #caches = new Map<string, ResultCache>();

  constructor(deps: QueryServiceDeps) {
    this.#deps = deps;
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

  /** Engines queries can be routed to. */
  engineIds(): readonly string[] {
    return this.#deps.engines.ids;
  }

  namespace(tenant: string): TenantNamespace {
    let namespace = this.#namespaces.get(tenant);
    if (!namespace) {
      const datasets = this.#deps.config.tenants[tenant]?.datasets ?? {};
      namespace = {
        tenant,
        catalog: CATALOG,
        datasets: Object.fromEntries(Object.entries(datasets).map(([name, d]) => [name, { rowFilter: d.rowFilter }])),
        virtualSchemas: { information_schema: INFORMATION_SCHEMA_TABLES },
      };
      this.#namespaces.set(tenant, namespace);
    }
    return namespace;
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

  /** Reads a tenant's SQL for what it needs (datasets, virtual tables) without running it. */
  async prepare(tenant: string, sql: string, signal: AbortSignal): Promise<PreparedQuery> {
    this.assertSqlSize(sql);
    const key = `${tenant}\0${sql}`;
    const cached = this.#prepared.get(key);
    if (cached) return cached;
    const analyzer = this.#deps.engines.analyzer()?.analyze;
    const prepared = await prepareTenantQuery(
      sql,
      this.namespace(tenant),
      analyzer ? (text) => analyzer(text, signal) : undefined,
    );
    if (!prepared.cacheable) return prepared;
    if (this.#prepared.size >= PREPARED_CACHE_SIZE) this.#prepared.delete(this.#prepared.keys().next().value as string);
    this.#prepared.set(key, prepared);
    return prepared;
  }

  /** A dataset's columns, as the engine reads its current snapshot (cached per snapshot version). */
  async describe(tenant: string, dataset: string, signal: AbortSignal): Promise<Schema> {
    const current = this.#deps.storage.describe(tenant).find((d) => d.name === dataset)?.version;
    const cached = current ? this.#schemas.get(`${tenant}/${dataset}@${current}`) : undefined;
    if (cached) return cached;
    const started = await this.start({
      queryId: `describe-${tenant}-${dataset}`,
      tenant,
      sql: `SELECT * FROM ${quoteIdentifier(dataset)} LIMIT 0`,
      engine: 'duckdb',
      maxRows: 0,
      signal,
    });
    await started.stream.close();
    const version = started.versions[dataset];
    if (version) {
      // One entry per dataset: a new version replaces the old one.
      for (const key of this.#schemas.keys()) if (key.startsWith(`${tenant}/${dataset}@`)) this.#schemas.delete(key);
      this.#schemas.set(`${tenant}/${dataset}@${version}`, started.stream.schema);
    }
    return started.stream.schema;
  }

  /** The tenant's slice of `information_schema`: constant tables the engine serves in place of its own. */
  async #informationSchema(tenant: string, name: string, signal: AbortSignal): Promise<VirtualTable> {
    const datasets = Object.keys(this.#deps.config.tenants[tenant]?.datasets ?? {}).sort();
    const schema = 'information_schema';
    switch (name) {
      case 'schemata':
        return virtualTable(
          schema,
          name,
          ['catalog_name', 'schema_name'],
          [
            [CATALOG, 'information_schema'],
            [CATALOG, tenant],
          ],
        );
      case 'tables':
        return virtualTable(
          schema,
          name,
          ['table_catalog', 'table_schema', 'table_name', 'table_type'],
          [
            ...datasets.map((d) => [CATALOG, tenant, d, 'BASE TABLE']),
            ...INFORMATION_SCHEMA_TABLES.map((v) => [CATALOG, 'information_schema', v, 'BASE TABLE']),
          ],
        );
      default: {
        const rows: (string | number | null)[][] = [];
        for (const dataset of datasets) {
          const columns = await this.describe(tenant, dataset, signal).catch((error: unknown) => {
            // A dataset that cannot be described (empty, unreadable) is left out; a refusal, an outage or a timeout
            // that a retry may clear is the answer instead of a list with columns silently missing.
            if (isLakegateError(error) && (error.kind === 'user' || error.code === 'ENGINE_FAILURE'))
              return [] as Schema;
            throw error;
          });
          columns.forEach((c, i) => {
            rows.push([CATALOG, tenant, dataset, c.name, i + 1, null, 'YES', trinoType(c.type).type]);
          });
        }
        return virtualTable(
          schema,
          name,
          [
            'table_catalog',
            'table_schema',
            'table_name',
            'column_name',
            'ordinal_position',
            'column_default',
            'is_nullable',
            'data_type',
          ],
          rows,
          ['ordinal_position'],
        );
      }
    }
  }

  /**
   * Throws the refusal a query of `tenant` would get from admission control right now (RATE_LIMITED, ENGINE_BUSY),
   * if any: routes call it before reading and preparing a request, so that refusing a flood costs little.
   */
  refuseIfFull(tenant: string): void {
    const refused = this.#deps.admission?.refusal(tenant);
    if (refused) throw refused;
  }

  async start(input: QueryInput): Promise<StartedQuery> {
    const { config } = this.#deps;
    const tracing = input.trace ?? NO_TRACE;
    const prepared = await tracing.span('sql.prepare', { tenant: input.tenant }, () =>
      this.prepare(input.tenant, input.sql, input.signal),
    );
    const tenantLimits = config.tenants[input.tenant]?.limits ?? {};
    const least = (key: 'maxResultRows' | 'maxResultBytes' | 'queryTimeoutMs'): number =>
      Math.min(tenantLimits[key] ?? Number.POSITIVE_INFINITY, config.limits[key] ?? Number.POSITIVE_INFINITY);
    const maxRows = Math.min(input.maxRows, least('maxResultRows'));
    const maxBytes = least('maxResultBytes');
    const timeoutMs = Math.min(config.query.timeoutMs, least('queryTimeoutMs'));
    const queued = performance.now();
    const admission = this.#deps.admission;
    const slot = admission
      ? await tracing.span('admission.wait', { tenant: input.tenant }, () =>
          admission.admit(input.tenant, input.signal),
        )
      : () => {};
    const admittedAt = performance.now();
    const waitMs = Math.round((admittedAt - queued) * 100) / 100;
    const metrics = this.#deps.metrics;
    metrics?.admissionWait.record((admittedAt - queued) / 1000, { tenant: input.tenant });
    let outcome: 'ok' | 'error' | 'cancelled' = 'ok';
    let engineId = 'none';
    const admitted = (): void => {
      slot();
      if (input.signal.aborted && outcome === 'ok') outcome = 'cancelled';
      metrics?.queryDuration.record((performance.now() - admittedAt) / 1000, {
        tenant: input.tenant,
        engine: engineId,
        outcome,
      });
    };
    let leases: SnapshotLease[];
    try {
      leases = await this.#acquire(input.tenant, prepared.datasets, input.signal, tracing);
    } catch (error) {
      admitted();
      throw error;
    }
    let releaseAll = (): void => {
      for (const lease of leases) lease.release();
      admitted();
    };
    const datasets = config.tenants[input.tenant]?.datasets ?? {};
    try {
      const tables: TableBinding[] = leases.map((lease) => {
        const rowFilter = datasets[lease.snapshot.dataset]?.rowFilter;
        return { name: lease.snapshot.dataset, snapshot: lease.snapshot, ...(rowFilter ? { rowFilter } : {}) };
      });
      const virtualTables = await Promise.all(
        prepared.virtualTables.map((v) => this.#informationSchema(input.tenant, v.name, input.signal)),
      );
      const request: QueryRequest = {
        queryId: input.queryId,
        tenant: input.tenant,
        sql: prepared.sql,
        tables,
        qualifiers: [[input.tenant], [CATALOG, input.tenant]],
        ...(virtualTables.length > 0 ? { virtualTables } : {}),
        // One row more than the cap tells the writer whether the result was truncated.
        maxRows: maxRows + 1,
      };
      // What every answer carries, whoever gives it.
      const versions = Object.fromEntries(leases.map((l) => [l.snapshot.dataset, l.snapshot.version]));
      const common = {
        stale: leases.some((l) => l.stale),
        versions,
        prepared,
        maxRows,
        maxBytes: Number.isFinite(maxBytes) ? maxBytes : undefined,
        waitMs,
      };
      const rollups = this.#deps.rollups;
      rollups?.noteQuery(input.tenant);
      const only = leases.length === 1 ? leases[0] : undefined;
      // Aggregate awareness: a rollup that covers the query's dimensions, aggregates and time range answers it,
      // unless the client asked for an engine by name.
      const answer =
        rollups && only && input.engine === undefined && !tables[0]?.rowFilter && virtualTables.length === 0
          ? await tracing.span('rollup.answer', { dataset: only.snapshot.dataset }, () =>
              rollups.tryAnswer(input.tenant, prepared.sql, only.snapshot, maxRows + 1),
            )
          : undefined;
      if (answer) {
        engineId = 'local-agg';
        releaseAll();
        return {
          stream: columnsStream(answer.result.schema, answer.result),
          engine: 'local-agg',
          route: `answered from rollup ${answer.rollup}`,
          rollup: answer.rollup,
          ...common,
        };
      }
      const { engine, route } = await this.#route(input, request);
      engineId = engine.id;
      const streaming = tracing.open('result.stream', { engine: engine.id });
      const releaseSpan = releaseAll;
      releaseAll = (): void => {
        streaming.end(outcome === 'error' ? new Error(outcome) : undefined);
        releaseSpan();
      };
      const cache = this.#resultCache(input.tenant);
      const cacheKey = cache
        ? ResultCache.key({ engine: engine.id, fingerprint: prepared.fingerprint.exact, maxRows, versions })
        : undefined;
      const cached = cache && cacheKey ? cache.get(cacheKey) : undefined;
      if (cached) {
        // Served from memory: nothing is read, so the snapshots and the slot go back at once.
        releaseAll();
        return {
          stream: cached,
          engine: engine.id,
          route,
          cache: 'hit',
          ...common,
        };
      }
      const inner = await tracing.span('engine.execute', { engine: engine.id }, () =>
        engine.execute(request, { signal: input.signal, timeoutMs }),
      );
      const wrapped = wrapQueryStream(inner, {
        mapError: (error) => {
          outcome = isLakegateError(error) && error.code === 'QUERY_CANCELLED' ? 'cancelled' : 'error';
          return error;
        },
        onClose: releaseAll,
      });
      const stream = cache && cacheKey ? cache.record(cacheKey, wrapped) : wrapped;
      return {
        stream,
        engine: engine.id,
        route,
        ...(cache ? { cache: 'miss' as const } : {}),
        ...common,
      };
    } catch (error) {
      outcome = 'error';
      releaseAll();
      throw error;
    }
  }

  /**
   * The engine asked for, else the tenant's default, else DuckDB, then any other: the first whose check()
   * accepts the query answers it. The route says who declined and why.
   */
  async #route(input: QueryInput, request: QueryRequest): Promise<{ engine: ManagedEngine; route: string }> {
    const { engines, config } = this.#deps;
    const preferred = input.engine ?? config.tenants[input.tenant]?.defaultEngine ?? 'duckdb';
    // An unknown engine name is the client's mistake, not a reason to fall back.
    if (input.engine !== undefined) engines.get(input.engine);
    const ids = engines.ids;
    const order = [...new Set([preferred, 'duckdb', ...ids])].filter((id) => ids.includes(id));
    const declined: string[] = [];
    for (const id of order) {
      const engine = engines.get(id);
      const check = await engine.check(request);
      if (check.supported) {
        const why = input.engine === id ? 'requested' : id === preferred ? 'tenant default' : 'default';
        return { engine, route: declined.length > 0 ? `${declined.join('; ')}; answered by ${id}` : why };
      }
      declined.push(`${id} declined: ${check.reason}`);
    }
    throw new LakegateError('UNSUPPORTED_QUERY', `No engine can run this query (${declined.join('; ')}).`);
  }

  /** Leases every named dataset; on any failure, releases those already leased. */
  async #acquire(
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
}
