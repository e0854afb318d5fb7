import type { EngineCommandContext } from '@lakegate/engine-api';
import { ConfigError, type GatewayConfig } from '../config/config.js';
import type { EngineSpec } from './engine-plan.js';

/** A command some engine offers, with what it needs to run. */
interface Found {
  readonly spec: EngineSpec;
  readonly run: (context: EngineCommandContext, args: readonly string[]) => string;
}

/** Every command the configured engines offer, for the usage line. */
export function engineCommandNames(specs: readonly EngineSpec[]): string[] {
  return specs.flatMap((spec) => Object.keys(spec.factory.commands ?? {}));
}

/**
 * Runs an engine's operator command (`lakegate <name> [args]`) on the gateway's configuration and returns what it
 * prints. The engine is found by the commands its factory offers, never by its id; an unknown name lists the
 * commands there are.
 */
export function runEngineCommand(
  config: GatewayConfig,
  specs: readonly EngineSpec[],
  name: string,
  args: readonly string[],
): string {
  const found = specs
    .map((spec): Found | undefined => {
      const run = spec.factory.commands?.[name];
      return run ? { spec, run: run as Found['run'] } : undefined;
    })
    .find((f): f is Found => f !== undefined);
  if (!found) {
    const known = engineCommandNames(specs);
    throw new ConfigError(config.source, [
      `"${name}" is not a command of this gateway's engines${known.length > 0 ? ` (they offer: ${known.join(', ')})` : ''}`,
    ]);
  }
  const { spec } = found;
  const tenants = Object.entries(config.tenants).flatMap(([tenant, settings]) => {
    const options = spec.tenantConfigs.get(tenant);
    const tables = Object.entries(settings.engineTables)
      .filter(([, held]) => held.engine === spec.id)
      .map(([table, held]) => ({
        name: table,
        table: held.table,
        ...(held.rowFilter ? { rowFilter: held.rowFilter } : {}),
      }));
    if (options === undefined && tables.length === 0) return [];
    return [
      {
        tenant,
        options,
        limits: {
          queryTimeoutMs: settings.limits.queryTimeoutMs ?? config.query.timeoutMs,
          maxResultRows: settings.limits.maxResultRows ?? config.query.maxMaxRows,
          maxResultBytes: settings.limits.maxResultBytes,
        },
        tables,
      },
    ];
  });
  return found.run({ engineId: spec.id, config: spec.config, tenants }, args);
}
