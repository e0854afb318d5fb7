import { MemoryRollupLedger } from '@lakegate/rollups';
import type { GatewayConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { MemoryReplicaBus } from './memory-replica-bus.js';
import { MemorySessionStore } from './memory-session-store.js';
import type { OverviewStore } from './overview-store.js';
import { type HistoryLimits, MemoryQueryHistory, type QueryHistory } from './query-history.js';
import { RedisConnection, type RedisConnectionOptions } from './redis-connection.js';
import { RedisOverviewStore } from './redis-overview-store.js';
import { RedisQueryHistory } from './redis-query-history.js';
import { RedisReplicaBus } from './redis-replica-bus.js';
import { RedisRollupLedger } from './redis-rollup-ledger.js';
import { RedisSessionStore } from './redis-session-store.js';
import type { ReplicaBus } from './replica-bus.js';
import type { RollupLedger } from './rollup-ledger.js';
import type { SessionStore } from './session-store.js';

/** The gateway's shared state, by concern, over one backend that `ready` and `close` manage. */
export interface GatewayState {
  readonly kind: 'memory' | 'redis';
  readonly sessions: SessionStore;
  readonly bus: ReplicaBus;
  readonly ledger: RollupLedger;
  /** Query history (the console's History, `GET /v1/history`), bounded by `limits`; `tenants` lists who has any. */
  history(limits: HistoryLimits, tenants: () => readonly string[]): QueryHistory;
  /** Where replicas share their per-minute figures (Redis); none in memory, where one gateway shows its own. */
  readonly overview: OverviewStore | undefined;
  /** Resolves true once the backend is reachable, or false after `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface OpenStateOptions {
  readonly logger: Logger;
  /** How long Redis keeps a session's keys past its deadline (see `RedisSessionStoreOptions`); default a day. */
  readonly graceMs?: number;
}

const DAY_MS = 86_400_000;

/** The state in this process's memory: a single gateway, which forgets it on restart. */
export function openMemoryState(): GatewayState {
  return {
    kind: 'memory',
    sessions: new MemorySessionStore(),
    bus: new MemoryReplicaBus(),
    ledger: new MemoryRollupLedger(),
    history: (limits) => new MemoryQueryHistory(limits),
    overview: undefined,
    ready: async () => true,
    close: async () => {},
  };
}

export interface RedisStateOptions extends RedisConnectionOptions, OpenStateOptions {}

/** The state in Redis, shared by every replica; the three concerns share its connections. */
export function openRedisState(options: RedisStateOptions): GatewayState {
  const connection = new RedisConnection(options);
  return {
    kind: 'redis',
    sessions: new RedisSessionStore(connection, { graceMs: options.graceMs ?? DAY_MS }),
    bus: new RedisReplicaBus(connection),
    ledger: new RedisRollupLedger(connection),
    history: (limits, tenants) => new RedisQueryHistory(connection, limits, tenants),
    overview: new RedisOverviewStore(connection),
    ready: (timeoutMs) => connection.ready(timeoutMs),
    close: () => connection.close(),
  };
}

/**
 * The state the configuration asks for: Redis when `state.redisUrl` is set, else memory.
 *
 * @example
 * const state = openState(config.state, { logger });
 * await state.ready(3000);
 */
export function openState(
  config: Pick<GatewayConfig['state'], 'redisUrl' | 'keyPrefix'>,
  options: OpenStateOptions,
): GatewayState {
  if (!config.redisUrl) return openMemoryState();
  return openRedisState({ ...options, url: config.redisUrl, prefix: config.keyPrefix });
}
