import { PgError } from './pg-errors.js';

/** The server version clients read: Postgres 15's protocol and catalog, served by Lakegate. */
export const SERVER_VERSION = '15.0 (Lakegate)';
export const SERVER_VERSION_NUM = '150000';

/** Settings the server reports with ParameterStatus at login and whenever they change, as Postgres does. */
const REPORTED = new Set([
  'application_name',
  'client_encoding',
  'datestyle',
  'default_transaction_read_only',
  'in_hot_standby',
  'integer_datetimes',
  'intervalstyle',
  'is_superuser',
  'server_encoding',
  'server_version',
  'session_authorization',
  'standard_conforming_strings',
  'timezone',
]);

/** The names Postgres reports them under (ParameterStatus keeps its own capitals). */
const REPORTED_NAMES: Readonly<Record<string, string>> = {
  datestyle: 'DateStyle',
  intervalstyle: 'IntervalStyle',
  timezone: 'TimeZone',
};

const defaultsByTenant = new Map<string, ReadonlyMap<string, string>>();

/** {@link defaults}, made once per tenant and shared by its connections. */
function tenantDefaults(tenant: string): ReadonlyMap<string, string> {
  let found = defaultsByTenant.get(tenant);
  if (!found) {
    found = defaults(tenant);
    defaultsByTenant.set(tenant, found);
  }
  return found;
}

/** The settings a connection of `tenant` starts with (before its startup packet's), as `pg_settings` lists them. */
export function defaults(tenant: string): Map<string, string> {
  return new Map([
    ['application_name', ''],
    ['client_encoding', 'UTF8'],
    ['datestyle', 'ISO, MDY'],
    ['default_transaction_read_only', 'on'],
    ['extra_float_digits', '1'],
    ['in_hot_standby', 'off'],
    ['integer_datetimes', 'on'],
    ['intervalstyle', 'postgres'],
    ['is_superuser', 'off'],
    ['lc_messages', 'C'],
    ['max_identifier_length', '63'],
    ['search_path', `"${tenant}"`],
    ['server_encoding', 'UTF8'],
    ['server_version', SERVER_VERSION],
    ['server_version_num', SERVER_VERSION_NUM],
    ['session_authorization', tenant],
    ['standard_conforming_strings', 'on'],
    ['statement_timeout', '0'],
    ['timezone', 'UTC'],
    ['transaction_isolation', 'read committed'],
    ['transaction_read_only', 'on'],
  ]);
}

/**
 * Settings a client may set beyond those with a value above, which change nothing here: drivers and BI tools send
 * them on connect. Any other name is refused as Postgres refuses it (42704), so that a SET meant for the engine
 * (`SET threads = 1`) is never mistaken for session chatter; names with a dot are custom settings, as in Postgres.
 */
const ACCEPTED = new Set([
  'bytea_output',
  'client_min_messages',
  'default_transaction_isolation',
  'geqo',
  'idle_in_transaction_session_timeout',
  'idle_session_timeout',
  'jit',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'lock_timeout',
  'row_security',
  'work_mem',
]);

/** Settings that are fixed by how the gateway encodes values: a client may set them only to what they are. */
const FIXED: Readonly<Record<string, (value: string) => boolean>> = {
  client_encoding: (v) => /^(utf-?8|unicode)$/i.test(v),
  datestyle: (v) => /\biso\b/i.test(v) || v.trim() === '',
  intervalstyle: (v) => v.toLowerCase() === 'postgres',
  timezone: (v) => /^(utc|gmt|etc\/utc|z|zulu|0|\+0+|-0+|\+00:00|utc0)$/i.test(v),
  standard_conforming_strings: (v) => /^(on|true)$/i.test(v),
  server_encoding: () => false,
  server_version: () => false,
  server_version_num: () => false,
  session_authorization: () => false,
  is_superuser: () => false,
};

/** Parses a `statement_timeout` value: milliseconds, or a number with a unit (`5s`, `2min`). */
function timeoutMs(value: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h|d)?\s*$/i.exec(value);
  if (!match) return undefined;
  const scale: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };
  const ms = Math.round(Number(match[1]) * (scale[(match[2] ?? 'ms').toLowerCase()] ?? 1));
  // PostgreSQL's range (an int of milliseconds), which is also the longest a timer of Node waits.
  return ms <= 2_147_483_647 ? ms : undefined;
}

/**
 * One connection's settings (SET, RESET, SHOW), starting from the startup packet's. Settings that decide how
 * values are written (client_encoding, DateStyle, TimeZone) accept only the values the gateway writes; the
 * search_path may name only the tenant's schema and the schemas every tenant has.
 */
export class SessionSettings {
  readonly #tenant: string;
  /** The server's defaults for the tenant, shared by its connections: an idle connection holds only its changes. */
  readonly #defaults: ReadonlyMap<string, string>;
  /** The startup packet's settings, which RESET returns to. */
  #initial: Map<string, string> = new Map();
  /** Settings changed since (SET), over the two layers above. */
  #values: Map<string, string> = new Map();

  constructor(tenant: string, startup: Readonly<Record<string, string>>) {
    this.#tenant = tenant;
    this.#defaults = tenantDefaults(tenant);
    for (const [name, value] of Object.entries(startup)) {
      const key = name.toLowerCase();
      if (['user', 'database', 'options', 'replication'].includes(key) || key.startsWith('_pq_')) continue;
      // A startup value the gateway cannot honour is ignored rather than refusing the login (as drivers send
      // their own defaults); SET of the same value is refused with a message.
      try {
        this.set(key, value);
      } catch {
        // keep the default
      }
    }
    this.#initial = this.#values;
    this.#values = new Map();
  }

  #lookup(key: string): string | undefined {
    return this.#values.get(key) ?? this.#initial.get(key) ?? this.#defaults.get(key);
  }

  /** Every setting reported at login, under the names Postgres uses. */
  reported(): [string, string][] {
    return [...REPORTED].map((name) => [REPORTED_NAMES[name] ?? name, this.#lookup(name) ?? '']);
  }

  /** A setting's value (SHOW), or 42704 for a setting this server does not have. */
  get(name: string): string {
    const value = this.#lookup(name.toLowerCase());
    if (value === undefined) throw new PgError('42704', `unrecognized configuration parameter "${name}"`);
    return value;
  }

  /** Every setting, sorted by name (SHOW ALL). */
  all(): [string, string][] {
    return [...new Map([...this.#defaults, ...this.#initial, ...this.#values])].sort(([a], [b]) => (a < b ? -1 : 1));
  }

  /** The statement timeout in milliseconds, 0 for none. */
  get statementTimeoutMs(): number {
    return timeoutMs(this.#lookup('statement_timeout') ?? '0') ?? 0;
  }

  /**
   * Sets a setting (`undefined` resets it) and returns the ParameterStatus to send when it is a reported one.
   * Unknown settings are kept, as clients set many that change nothing here (extra_float_digits, ...).
   */
  set(name: string, value: string | undefined): [string, string] | undefined {
    const key = name.toLowerCase();
    if (value === undefined) return this.reset(key);
    const fixed = FIXED[key];
    if (fixed && !fixed(value)) {
      throw new PgError(
        key in REPORTED_NAMES || key === 'client_encoding' ? '22023' : '55P02',
        `parameter "${name}" cannot be set to "${value}" here: Lakegate writes values with ${key} = ${this.#lookup(key)}`,
      );
    }
    if (key === 'statement_timeout' && timeoutMs(value) === undefined) {
      throw new PgError('22023', `invalid value for parameter "statement_timeout": "${value}"`);
    }
    if (this.#lookup(key) === undefined && !ACCEPTED.has(key) && !key.includes('.')) {
      throw new PgError('42704', `unrecognized configuration parameter "${name}"`);
    }
    if (key === 'search_path') this.#checkSearchPath(value);
    // A fixed setting keeps its canonical spelling (UTF8, not utf-8), which drivers compare against.
    if (!fixed) this.#values.set(key, value);
    return REPORTED.has(key) ? [REPORTED_NAMES[key] ?? key, this.#lookup(key) ?? ''] : undefined;
  }

  /** Resets one setting (or all with `undefined`); returns the ParameterStatus for a reported one. */
  reset(name: string | undefined): [string, string] | undefined {
    if (name === undefined) {
      this.#values.clear();
      return undefined;
    }
    const key = name.toLowerCase();
    this.#values.delete(key);
    return REPORTED.has(key) ? [REPORTED_NAMES[key] ?? key, this.#lookup(key) ?? ''] : undefined;
  }

  /** The search path may hold the tenant's schema and the shared ones; never another tenant's name. */
  #checkSearchPath(value: string): void {
    const allowed = new Set([this.#tenant, 'pg_catalog', 'information_schema', 'public', '$user']);
    for (const part of value.split(',')) {
      const schema = part.trim().replace(/^"(.*)"$/, '$1');
      if (schema !== '' && !allowed.has(schema)) {
        throw new PgError('3F000', `schema "${schema}" does not exist`);
      }
    }
  }
}
