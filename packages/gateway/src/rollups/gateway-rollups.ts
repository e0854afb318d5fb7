import { isRollupComputer } from '@lakegate/engine-local-agg';
import {
  type ComputeEngine,
  PostgresRollups,
  type RollupLedger,
  type RollupSink,
  type RollupSpec,
  Rollups,
} from '@lakegate/rollups';
import type { Storage } from '@lakegate/storage';
import { ConfigError, type GatewayConfig } from '../config/config.js';
import type { EngineRegistry } from '../engines/engine-registry.js';
import type { Logger } from '../logging/logger.js';

export interface GatewayRollupsOptions {
  readonly config: GatewayConfig;
  /** The rollups' sources, and their own datasets to list again once new intervals are stored. */
  readonly storage: Storage;
  /** Interval records, and claims so that one replica computes each interval. */
  readonly ledger: RollupLedger;
  readonly engines: EngineRegistry;
  /** Where interval files go (`rollups.location`). */
  readonly sink: RollupSink;
  readonly logger: Logger;
  readonly replicaId: () => string;
  readonly clock?: () => number;
}

/**
 * The gateway's rollups, or `undefined` when no tenant has any. Intervals are computed, and answers from them made,
 * on the first engine that implements `RollupComputer`; audits count raw rows on `rollups.auditEngine`. Both run
 * through the managed layer, within the same limits as queries.
 */
export function createRollups(options: GatewayRollupsOptions, evenIfNone = false): Rollups | undefined {
  const { config, engines } = options;
  const tenants: Record<string, RollupSpec[]> = {};
  for (const [id, tenant] of Object.entries(config.tenants)) {
    const specs = Object.values(tenant.rollups);
    if (specs.length > 0) tenants[id] = specs;
  }
  if (Object.keys(tenants).length === 0 && !evenIfNone) return undefined;
  const compute = engines.offering(isRollupComputer);
  if (!compute)
    throw new ConfigError(config.source, [
      'rollups: no engine of the gateway computes rollups (implements RollupComputer)',
    ]);
  const computeEngine: ComputeEngine = {
    id: compute.id,
    run: (work, limits) => compute.run(isRollupComputer, work, limits),
  };
  const { tickSeconds, backfillPerTick, backfillHours, claimTtlSeconds, auditEngine, concurrency } = config.rollups;
  const usesPostgres = Object.values(tenants).some((specs) => specs.some((spec) => spec.postgres || spec.sink));
  // Dumps of PostgreSQL sources go to the tenant's cache folder, where its engines may read.
  const postgres = usesPostgres
    ? new PostgresRollups({
        folderOf: (tenant) => options.storage.tenantDirectories(tenant)[0] ?? '',
        clock: options.clock ?? Date.now,
        dumpParts: config.rollups.postgresDumpParts,
        concurrency,
      })
    : undefined;
  return new Rollups({
    tenants,
    settings: {
      tickSeconds,
      backfillPerTick,
      backfillHours,
      claimTtlSeconds,
      concurrency,
      queryTimeoutMs: config.query.timeoutMs,
    },
    ledger: options.ledger,
    sources: options.storage,
    sink: options.sink,
    computeEngine,
    auditEngine: engines.get(auditEngine),
    logger: options.logger,
    replicaId: options.replicaId,
    ...(options.clock ? { clock: options.clock } : {}),
    postgres,
  });
}

/**
 * The gateway's rollups across configuration reloads: a reload that changes tenants' rollups closes the running
 * orchestration and starts one for the new definitions (interval records and claims live in the ledger, so nothing
 * done is lost). Routes, metrics and the query lifecycle hold this object, which always forwards to the current one.
 */
export class ReloadableRollups {
  readonly #options: GatewayRollupsOptions;
  #current: Rollups;
  #started = false;
  #definitions: string;
  readonly admin: Rollups['admin'];
  readonly answerer: Rollups['answerer'];

  private constructor(options: GatewayRollupsOptions, first: Rollups) {
    this.#options = options;
    this.#current = first;
    this.#definitions = definitionsOf(options.config);
    const forward = <K extends 'admin' | 'answerer'>(key: K): Rollups[K] =>
      new Proxy({} as Rollups[K], {
        get: (_, property) => {
          const target = this.#current[key] as unknown as Record<PropertyKey, unknown>;
          const value = target[property];
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    this.admin = forward('admin');
    this.answerer = forward('answerer');
  }

  /**
   * The gateway's rollups, even when no tenant has any yet (a reload may add the first), or `undefined` when no
   * engine of the gateway computes rollups and no tenant asks for them.
   */
  static create(options: GatewayRollupsOptions): ReloadableRollups | undefined {
    if (!options.engines.offering(isRollupComputer) && !hasRollups(options.config)) return undefined;
    return new ReloadableRollups(options, createRollups(options, true) as Rollups);
  }

  start(): void {
    this.#started = true;
    this.#current.start();
  }

  /** Follows a reload: starts over with the new definitions when they changed (none at all is a change too). */
  async reconfigure(config: GatewayConfig): Promise<void> {
    const definitions = definitionsOf(config);
    if (definitions === this.#definitions) return;
    const next = createRollups({ ...this.#options, config }, true) as Rollups;
    await this.#current.close();
    this.#current = next;
    this.#definitions = definitions;
    if (this.#started) next.start();
  }

  close(): Promise<void> {
    return this.#current.close();
  }
}

/** Whether any tenant of `config` defines a rollup. */
export const hasRollups = (config: GatewayConfig): boolean =>
  Object.values(config.tenants).some((tenant) => Object.keys(tenant.rollups).length > 0);

const definitionsOf = (config: GatewayConfig): string =>
  JSON.stringify(Object.entries(config.tenants).map(([id, t]) => [id, t.rollups]));
