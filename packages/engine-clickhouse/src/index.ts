import type { EngineCommandContext, EngineFactory } from '@lakegate/engine-api';
import {
  type ClickHouseConfig,
  type ClickHouseTenantConfig,
  parseClickHouseConfig,
  parseClickHouseTenantConfig,
} from './clickhouse-config.js';
import { ClickHouseEngine } from './clickhouse-engine.js';
import { clickhouseUsers } from './clickhouse-users.js';

/**
 * `lakegate clickhouse-users [--sql]`: the users, profiles and grants the gateway expects, from its configuration
 * (users.xml for servers configured by files, such as 18.16; SQL for current servers).
 */
function clickhouseUsersCommand(
  context: EngineCommandContext<ClickHouseConfig, ClickHouseTenantConfig>,
  args: readonly string[],
): string {
  const unknown = args.filter((a) => a !== '--sql' && a !== '--xml');
  if (unknown.length > 0) throw new Error(`clickhouse-users: unknown argument ${unknown[0]} (use --xml or --sql)`);
  const missing = context.tenants.filter((t) => t.options === undefined).map((t) => t.tenant);
  if (missing.length > 0) {
    throw new Error(
      `clickhouse-users: tenants ${missing.join(', ')} hold tables in engines.${context.engineId} but set no tenants.<id>.engines.${context.engineId} (user, password, database)`,
    );
  }
  return clickhouseUsers(
    context.tenants.map((t) => ({
      tenant: t.tenant,
      user: t.options as ClickHouseTenantConfig,
      limits: {
        ...(t.limits.queryTimeoutMs ? { maxExecutionSeconds: Math.ceil(t.limits.queryTimeoutMs / 1000) } : {}),
        maxResultRows: t.limits.maxResultRows,
        maxResultBytes: t.limits.maxResultBytes,
        maxMemoryBytes: (t.options as ClickHouseTenantConfig).maxMemoryBytes,
      },
      tables: t.tables.map((table) => table.table),
      rowFilters: Object.fromEntries(
        t.tables.flatMap((table) => (table.rowFilter ? [[table.table, table.rowFilter]] : [])),
      ),
    })),
    args.includes('--sql') ? 'sql' : 'xml',
  );
}

export type { ClickHouseConfig, ClickHouseTenantConfig } from './clickhouse-config.js';
export { parseClickHouseConfig, parseClickHouseTenantConfig } from './clickhouse-config.js';
export { ClickHouseEngine, type ClickHouseEngineOptions } from './clickhouse-engine.js';
export { clickhouseError } from './clickhouse-errors.js';
export { clickhouseType } from './clickhouse-types.js';
export { type ClickHouseUsersInput, clickhouseUsers } from './clickhouse-users.js';
export { refuseSystemTables } from './system-guard.js';

/**
 * The ClickHouse engine, registered by configuration:
 * `"engines": { "clickhouse": { "module": "@lakegate/engine-clickhouse", "url": "http://127.0.0.1:8123" } }`.
 */
export const clickhouseEngineFactory: EngineFactory<ClickHouseConfig, ClickHouseTenantConfig> = {
  id: 'clickhouse',
  parseConfig: parseClickHouseConfig,
  parseTenantConfig: parseClickHouseTenantConfig,
  async create(config, deps) {
    return new ClickHouseEngine('clickhouse', config, deps);
  },
  commands: { 'clickhouse-users': clickhouseUsersCommand },
};

export const engineFactory = clickhouseEngineFactory;
export default clickhouseEngineFactory;
