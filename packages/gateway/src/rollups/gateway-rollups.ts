import { isRollupComputer } from '@lakegate/engine-local-agg';
import { type ComputeEngine, type RollupLedger, type RollupSink, type RollupSpec, Rollups } from '@lakegate/rollups';
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
export function createRollups(options: GatewayRollupsOptions): Rollups | undefined {
  const { config, engines } = options;
  const tenants: Record<string, RollupSpec[]> = {};
  for (const [id, tenant] of Object.entries(config.tenants)) {
    const specs = Object.values(tenant.rollups);
    if (specs.length > 0) tenants[id] = specs;
  }
  if (Object.keys(tenants).length === 0) return undefined;
  const compute = engines.offering(isRollupComputer);
  if (!compute)
    throw new ConfigError(config.source, [
      'rollups: no engine of the gateway computes rollups (implements RollupComputer)',
    ]);
  const computeEngine: ComputeEngine = {
    id: compute.id,
    run: (work, limits) => compute.run(isRollupComputer, work, limits),
  };
  const { tickSeconds, backfillPerTick, backfillHours, claimTtlSeconds, auditEngine } = config.rollups;
  return new Rollups({
    tenants,
    settings: { tickSeconds, backfillPerTick, backfillHours, claimTtlSeconds, queryTimeoutMs: config.query.timeoutMs },
    ledger: options.ledger,
    sources: options.storage,
    sink: options.sink,
    computeEngine,
    auditEngine: engines.get(auditEngine),
    logger: options.logger,
    replicaId: options.replicaId,
    ...(options.clock ? { clock: options.clock } : {}),
  });
}
