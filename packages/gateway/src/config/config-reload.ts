import { createHash } from 'node:crypto';
import type { GatewayConfig } from './config.js';

/** Sections a running gateway cannot change: their listeners, stores and engines were built from them. */
const RESTART_ONLY = [
  'history',
  'server',
  'storage',
  'state',
  'engines',
  'observability',
  'trino',
  'sessions',
  'limits',
  'query',
  'rollups',
] as const satisfies readonly (keyof GatewayConfig)[];

export interface ReloadPlan {
  /** What the gateway runs with from now on: the new tenants, keys, datasets, limits and rollups. */
  readonly config: GatewayConfig;
  /** Settings that changed but take effect only at the next start (the old values stay in force). */
  readonly restartNeeded: readonly string[];
}

/**
 * What a reload can apply: tenants (their keys, datasets, limits, rollups, result caches) and admin keys change at
 * once; the gateway-wide sections keep their running values, and each one that changed is named for a restart.
 */
export function planReload(running: GatewayConfig, next: GatewayConfig): ReloadPlan {
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  const restartNeeded: string[] = RESTART_ONLY.filter((key) => !same(running[key], next[key]));
  const tenants = Object.fromEntries(
    Object.entries(next.tenants).map(([id, tenant]) => {
      const before = running.tenants[id];
      // Engines took each tenant's options when they were created.
      if (!same(before?.engines ?? {}, tenant.engines)) restartNeeded.push(`tenants.${id}.engines`);
      return [id, { ...tenant, engines: before?.engines ?? {} }];
    }),
  );
  const kept = Object.fromEntries(RESTART_ONLY.map((key) => [key, running[key]]));
  return { config: { ...next, ...kept, tenants } as GatewayConfig, restartNeeded };
}

/** A short, stable name of a configuration's content, for logs and the `lakegate_config_info` metric. */
export function configVersion(config: GatewayConfig): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 12);
}
