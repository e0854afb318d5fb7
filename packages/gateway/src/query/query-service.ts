import {
  type ColumnBatch,
  createQueryStream,
  LakegateError,
  type QueryStream,
  type TableBinding,
} from '@lakegate/engine-api';
import type { SnapshotLease, Storage } from '@lakegate/storage';
import type { GatewayConfig } from '../config/config.js';
import type { EngineRegistry } from '../engines/engine-registry.js';
import { referencedNames } from '../sql/referenced-names.js';

export interface QueryInput {
  readonly queryId: string;
  readonly tenant: string;
  readonly sql: string;
  /** Engine asked for by the client; else the tenant's default, else `duckdb`. */
  readonly engine: string | undefined;
  readonly maxRows: number;
  readonly signal: AbortSignal;
}

export interface StartedQuery {
  readonly stream: QueryStream;
  readonly engine: string;
  /** A dataset could not be refreshed: the query read its last complete version. */
  readonly stale: boolean;
  /** Snapshot version of each dataset the query reads. */
  readonly versions: Readonly<Record<string, string>>;
}

export interface QueryServiceDeps {
  readonly config: GatewayConfig;
  readonly storage: Storage;
  readonly engines: EngineRegistry;
}

/**
 * Runs tenant queries: picks the engine, leases a snapshot of each dataset the SQL names, and starts the
 * query. The leases are held until the result stream closes, so refreshes never pull files from under it.
 */
export class QueryService {
  readonly #deps: QueryServiceDeps;

  constructor(deps: QueryServiceDeps) {
    this.#deps = deps;
  }

  async start(input: QueryInput): Promise<StartedQuery> {
    const { config, engines, storage } = this.#deps;
    const engineId = input.engine ?? config.tenants[input.tenant]?.defaultEngine ?? 'duckdb';
    const engine = engines.get(engineId);
    const names = referencedNames(input.sql, storage.datasetNames(input.tenant));
    const leases = await this.#acquire(input.tenant, names, input.signal);
    const releaseAll = (): void => {
      for (const lease of leases) lease.release();
    };
    try {
      const tables: TableBinding[] = leases.map((lease) => ({
        name: lease.snapshot.dataset,
        snapshot: lease.snapshot,
      }));
      const request = {
        queryId: input.queryId,
        tenant: input.tenant,
        sql: input.sql,
        tables,
        // One row more than the client's cap tells the writer whether the result was truncated.
        maxRows: input.maxRows + 1,
      };
      const check = await engine.check(request);
      if (!check.supported) {
        throw new LakegateError('UNSUPPORTED_QUERY', `The ${engineId} engine cannot run this query: ${check.reason}`);
      }
      const inner = await engine.execute(request, { signal: input.signal, timeoutMs: config.query.timeoutMs });
      const iterator = inner[Symbol.asyncIterator]();
      const stream = createQueryStream(inner.schema, {
        async next(): Promise<ColumnBatch | undefined> {
          const result = await iterator.next();
          return result.done ? undefined : result.value;
        },
        async close() {
          try {
            await inner.close();
          } finally {
            releaseAll();
          }
        },
      });
      return {
        stream,
        engine: engineId,
        stale: leases.some((l) => l.stale),
        versions: Object.fromEntries(leases.map((l) => [l.snapshot.dataset, l.snapshot.version])),
      };
    } catch (error) {
      releaseAll();
      throw error;
    }
  }

  /** Leases every named dataset; on any failure, releases those already leased. */
  async #acquire(tenant: string, names: readonly string[], signal: AbortSignal): Promise<SnapshotLease[]> {
    const settled = await Promise.allSettled(names.map((name) => this.#deps.storage.acquire(tenant, name, signal)));
    const failure = settled.find((s) => s.status === 'rejected');
    const leases = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (failure) {
      for (const lease of leases) lease.release();
      throw failure.reason;
    }
    return leases;
  }
}
