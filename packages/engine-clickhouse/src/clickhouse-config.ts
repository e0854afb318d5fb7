import { type ConfigResult, positiveInteger } from '@lakegate/engine-api';

/** `engines.<id>` for a ClickHouse engine (without `module`). */
export interface ClickHouseConfig {
  /** The server (or load balancer) queries go to, over ClickHouse's HTTP interface: `http://host:8123`. */
  readonly url: string;
  /**
   * The longest wait for the server to start answering a query (its first bytes), and for each further piece of a
   * result: an unresponsive server or a stopped shard (for which ClickHouse itself waits minutes) ends the query
   * with ENGINE_UNAVAILABLE after this long. Set it above your longest aggregation's time to the first row.
   */
  readonly requestTimeoutMs: number;
  /** HTTP connections to the server at most (queries beyond them wait for one). */
  readonly maxConnections: number;
}

/** `tenants.<tenant>.engines.<id>`: the tenant's own ClickHouse user, and its database (the default for its SQL). */
export interface ClickHouseTenantConfig {
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** The memory one query of the tenant may use on each server (`max_memory_usage` of its profile). */
  readonly maxMemoryBytes?: number | undefined;
}

const object = (raw: unknown): Record<string, unknown> | undefined =>
  typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;

function unknownKeys(input: Record<string, unknown>, known: readonly string[], problems: string[]): void {
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) problems.push(`${key}: unknown setting (known: ${known.join(', ')})`);
  }
}

export function parseClickHouseConfig(raw: unknown): ConfigResult<ClickHouseConfig> {
  const input = object(raw ?? {});
  if (!input) return { ok: false, problems: ['must be an object'] };
  const problems: string[] = [];
  unknownKeys(input, ['url', 'requestTimeoutMs', 'maxConnections'], problems);
  const url = input.url;
  if (typeof url !== 'string' || !/^https?:\/\/[^/]+\/?$/.test(url)) {
    problems.push('url: the server\'s HTTP interface, like "http://127.0.0.1:8123"');
  }
  const positive = (key: string, fallback: number): number => positiveInteger(input, key, fallback, problems);
  const config = {
    url: typeof url === 'string' ? url.replace(/\/$/, '') : '',
    requestTimeoutMs: positive('requestTimeoutMs', 300_000),
    maxConnections: positive('maxConnections', 32),
  };
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config };
}

/** ClickHouse user and database names (also what `clickhouse-users` writes into XML and SQL). */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseClickHouseTenantConfig(raw: unknown): ConfigResult<ClickHouseTenantConfig> {
  const input = object(raw);
  if (!input) return { ok: false, problems: ['must be an object with user, password and database'] };
  const problems: string[] = [];
  unknownKeys(input, ['user', 'password', 'database', 'maxMemoryBytes'], problems);
  for (const key of ['user', 'database'] as const) {
    const value = input[key];
    if (typeof value !== 'string' || !NAME.test(value)) {
      problems.push(`${key}: a ClickHouse name (letters, digits and _, not starting with a digit)`);
    }
  }
  if (typeof input.password !== 'string' || input.password.length < 8) {
    problems.push("password: the user's password, at least 8 characters");
  }
  const memory = input.maxMemoryBytes;
  if (memory !== undefined && !(Number.isSafeInteger(memory) && (memory as number) > 0)) {
    problems.push('maxMemoryBytes: bytes one query may use on each server, a positive integer');
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    config: {
      user: input.user as string,
      password: input.password as string,
      database: input.database as string,
      ...(memory !== undefined ? { maxMemoryBytes: memory as number } : {}),
    },
  };
}
