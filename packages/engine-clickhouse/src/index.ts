import type { EngineFactory } from '@lakegate/engine-api';
import {
  type ClickHouseConfig,
  type ClickHouseTenantConfig,
  parseClickHouseConfig,
  parseClickHouseTenantConfig,
} from './clickhouse-config.js';
import { ClickHouseEngine } from './clickhouse-engine.js';

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
};

export const engineFactory = clickhouseEngineFactory;
export default clickhouseEngineFactory;
