import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { DatasetFormat } from '@lakegate/engine-api';
import { type RollupDefinition, rollupProblems } from '@lakegate/engine-local-agg';
import type { PostgresSinkSpec, PostgresSourceSpec } from '@lakegate/rollups';
import { type Location, parseLocation } from '@lakegate/storage';
import { z } from 'zod';
import { LONGEST_SESSION_MS, parseDuration } from './duration.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TENANT_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ENGINE_ID = /^[a-z][a-z0-9_-]{0,62}$/;

/** `engines.<id>`: `module` names where the factory comes from; every other key is the factory's to validate. */
const engineSectionSchema = z.looseObject({
  module: z.string().min(1, 'must name a package or a path relative to this file').optional(),
});

const fileDatasetSchema = z.strictObject({
  location: z.string().min(1),
  format: z.enum(['parquet', 'csv', 'tsv', 'ndjson']),
  pin: z.boolean().default(false),
  refreshIntervalSeconds: z.number().int().positive().default(60),
  /** A SQL predicate every query of this dataset sees applied, e.g. for sub-tenants: `"region = 'eu'"`. */
  rowFilter: z.string().min(1).optional(),
});

/** A dataset that lives inside one engine (a table of a remote database or cluster), answered only by it. */
const engineDatasetSchema = z.strictObject({
  engine: z.string().min(1),
  table: z.string().min(1),
  rowFilter: z.string().min(1).optional(),
});

/** Files in storage, or a table held by an engine (`{ "engine", "table" }`): the key `engine` tells them apart. */
const datasetSchema = z.looseObject({}).transform((raw, ctx) => {
  const schema = 'engine' in raw ? engineDatasetSchema : fileDatasetSchema;
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  return z.NEVER;
});

const limitsSchema = z.strictObject({
  /** Queries running at once. */
  concurrentQueries: z.number().int().positive().optional(),
  /** Queries waiting for a slot; beyond this, RATE_LIMITED (429). */
  queuedQueries: z.number().int().min(0).optional(),
  /** Queries admitted per second. */
  queriesPerSecond: z.number().positive().optional(),
  /** Rows a result may carry at most; longer results are truncated (and say so). */
  maxResultRows: z.number().int().positive().optional(),
  /** Bytes a serialised result may carry at most; longer results are truncated (and say so). */
  maxResultBytes: z.number().int().positive().optional(),
  /** A query's time limit. */
  queryTimeoutMs: z.number().int().positive().optional(),
});

/** A PostgreSQL URL without its password: what may name the server where tenants or logs see it. */
function withoutPassword(url: string | undefined): string {
  if (url === undefined) return '';
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, '@');
  }
}

/** A PostgreSQL server: a URL, or nothing to take libpq's environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, ...). */
const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
  .optional();

const postgresSourceSchema = z.strictObject({
  url: postgresUrl,
  /** The table of raw facts, optionally schema-qualified. */
  table: z.string().min(1),
  /** Its timestamp column that places a row in an interval. */
  timeColumn: z.string().min(1),
  /** Its column that names a row's scope: a dimension of the rollup, audited scope by scope. */
  scopeColumn: z.string().min(1),
});

const rollupSchema = z.strictObject({
  /** The tenant's dataset the rollup reads (CSV, TSV or NDJSON), or `{ "postgres": { ... } }`: a table. */
  source: z.union([z.string().regex(IDENTIFIER), z.strictObject({ postgres: postgresSourceSchema })]),
  /** Where its rows are loaded besides its interval files: `{ "postgres": { "url", "table" } }`. */
  sink: z.strictObject({ postgres: z.strictObject({ url: postgresUrl, table: z.string().min(1) }) }).optional(),
  /** Length of an interval, e.g. `"5m"`; it must divide a day. */
  interval: z.string().default('5m'),
  /** The TIMESTAMP column that places a row in an interval (a PostgreSQL source names its own). */
  timeColumn: z.string().min(1).optional(),
  /** A PostgreSQL source's rows may arrive this long after their interval ends: such an interval is computed again. */
  lateRowsSeconds: z.number().int().min(0).default(600),
  dimensions: z.array(z.string().min(1)).default([]),
  /** Derived dimensions by name: a column or a time bucket such as `"date_trunc('hour', ts)"`. */
  derived: z.record(z.string(), z.string().min(1)).default({}),
  /** Measures by name: `count(*)`, `sum(x)`, `min(x)`, `max(x)`, `avg(x)`, `quantile_cont(x, p)`, ... with FILTER. */
  measures: z.record(z.string().regex(IDENTIFIER), z.string().min(1)),
  /** First interval to compute (ISO 8601); default: `rollups.backfillHours` before the gateway starts. */
  startAt: z.iso.datetime({ offset: true }).optional(),
  /** How long after an interval ends before it is computed, for late files. */
  delaySeconds: z.number().int().min(0).default(30),
});

const tenantSchema = z.strictObject({
  apiKeys: z.array(z.string().min(8, 'API keys must be at least 8 characters')).min(1),
  datasets: z.record(z.string().regex(IDENTIFIER, 'dataset names must be SQL identifiers'), datasetSchema).default({}),
  defaultEngine: z.string().optional(),
  cacheMaxBytes: z.number().int().positive().optional(),
  limits: limitsSchema.prefault({}),
  /** Interval rollups by name; each is also a dataset of the tenant, queryable by that name. */
  rollups: z.record(z.string().regex(IDENTIFIER, 'rollup names must be SQL identifiers'), rollupSchema).default({}),
  /** The tenant's options for each engine, by engine id; each engine's factory validates its own. */
  engines: z.record(z.string(), z.record(z.string(), z.unknown(), 'must be an object')).default({}),
  /** Cache of this tenant's query results, keyed by query and snapshot versions (off unless enabled). */
  resultCache: z
    .strictObject({
      enabled: z.boolean().default(false),
      maxBytes: z
        .number()
        .int()
        .positive()
        .default(64 * 1024 * 1024),
      ttlSeconds: z.number().positive().default(300),
    })
    .prefault({}),
});

const fileSchema = z.strictObject({
  /** The operators' role: keys for the admin API (reload, and every tenant's view in the console). */
  admin: z
    .strictObject({
      apiKeys: z.array(z.string().min(16, 'admin API keys must be at least 16 characters')).default([]),
    })
    .prefault({}),
  /** Query history with SQL texts (the console's History, `GET /v1/history`), kept in Redis when configured. */
  history: z
    .strictObject({
      enabled: z.boolean().default(true),
      maxPerTenant: z.number().int().positive().default(1000),
      retentionHours: z.number().positive().default(24),
    })
    .prefault({}),
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      /** Largest accepted request body, in bytes. */
      maxBodyBytes: z.number().int().positive().default(1_048_576),
      /** Grace period for running queries on shutdown. */
      shutdownGraceMs: z.number().int().min(0).default(10_000),
      /**
       * How long an idle keep-alive HTTP connection stays open. Longer than the interval of polling clients and
       * than a load balancer's idle timeout (60 s on AWS), so that the gateway never closes a connection at the
       * moment a client sends on it (the client would see ECONNRESET).
       */
      keepAliveTimeoutMs: z.number().int().positive().max(290_000).default(65_000),
      /** The Postgres wire protocol (v3) front end: psql, JDBC, BI tools. User = tenant id, password = an API key. */
      postgres: z
        .strictObject({
          enabled: z.boolean().default(true),
          host: z.string().default('127.0.0.1'),
          /** Default 5433; 0 (any free port) when `server.port` is 0, so that test gateways never collide. */
          port: z.number().int().min(0).max(65535).optional(),
          /** PEM files (paths relative to this file); with them, SSLRequest is answered with TLS. */
          tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
          /**
           * Ask for the password in clear (for clients without SCRAM) on connections without TLS too. Over TLS it is
           * always asked in clear, protected by TLS. Default false: without TLS only SCRAM-SHA-256, which never
           * sends the key.
           */
          allowCleartextPassword: z.boolean().default(false),
          /** Connections open at once, and per tenant; beyond them a login is refused with 53300. */
          maxConnections: z.number().int().positive().default(10_000),
          maxConnectionsPerTenant: z.number().int().positive().default(1000),
          /** Largest message a client may send (a query text, a Bind's values); larger ones close the connection. */
          maxMessageBytes: z
            .number()
            .int()
            .min(1024)
            .default(4 * 1024 * 1024),
          /** A connection with no message for this long is closed (a query running or streaming is not idle). */
          idleTimeoutSeconds: z.number().positive().default(3600),
          /** A connection that has not logged in within this long is closed. */
          loginTimeoutSeconds: z.number().positive().default(30),
          /** PBKDF2 iterations of the SCRAM verifiers derived from the API keys at start. */
          scramIterations: z.number().int().min(4096).default(4096),
        })
        .prefault({}),
    })
    .prefault({}),
  state: z
    .strictObject({
      redisUrl: z
        .string()
        .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
        .optional(),
      /** Prefix of every Redis key, so several deployments can share one Redis. */
      keyPrefix: z.string().default('lakegate:'),
      /** This gateway's name among the replicas; default `<hostname>:<port>`, stable across restarts. */
      replicaId: z.string().min(1).optional(),
      /** Where large session results go, readable by every replica: a `file:` folder or an `s3://` prefix. */
      resultsLocation: z.string().default('file:.lakegate/results/'),
    })
    .prefault({}),
  sessions: z
    .strictObject({
      maxSessionsPerTenant: z.number().int().positive().default(50),
      /** Statements a tenant runs at once on one gateway; more wait in `waiting`, in order. */
      maxConcurrentStatementsPerTenant: z.number().int().positive().default(4),
      statementTimeoutMs: z.number().int().positive().default(300_000),
      /** Idle timeout of a session that sets none, e.g. `"1h"`. */
      defaultIdleTimeout: z.string().default('1h'),
      /** Rows in a statement's `output`; the rest are paged through `/result`. */
      outputRows: z.number().int().min(0).default(1000),
      /** Rows kept per statement at most. */
      maxResultRows: z.number().int().positive().default(1_000_000),
      /** Results up to this size stay in the session store; larger ones go to `state.resultsLocation`. */
      smallResultBytes: z.number().int().positive().default(1_048_576),
      /** How often each replica looks for expired sessions and for statements of stopped replicas. */
      reapIntervalSeconds: z.number().positive().default(5),
      /**
       * How long a statement's submission waits for it to end before answering: one that ends within this is
       * answered `available` (or `error`), with its output, and its client need not poll; 0 answers at once.
       */
      submitWaitMs: z.number().int().min(0).max(10_000).default(50),
    })
    .prefault({}),
  storage: z
    .strictObject({
      cacheDir: z.string().default('.lakegate/cache'),
      cacheMaxBytes: z
        .number()
        .int()
        .positive()
        .default(10 * 1024 ** 3),
      s3: z
        .strictObject({
          endpoint: z.url().optional(),
          region: z.string().default('us-east-1'),
          forcePathStyle: z.boolean().default(false),
          accessKeyId: z.string().optional(),
          secretAccessKey: z.string().optional(),
          requestTimeoutMs: z.number().int().positive().default(10_000),
          maxAttempts: z.number().int().min(1).max(10).default(2),
        })
        .optional(),
      /** Parallel downloads per snapshot. */
      fetchConcurrency: z.number().int().min(1).max(64).default(8),
      warming: z
        .strictObject({
          enabled: z.boolean().default(true),
          intervalSeconds: z.number().int().positive().default(300),
          lookaheadMinutes: z.number().int().positive().default(60),
        })
        .prefault({}),
    })
    .prefault({}),
  query: z
    .strictObject({
      defaultMaxRows: z.number().int().min(0).default(10_000),
      maxMaxRows: z.number().int().min(1).default(1_000_000),
      timeoutMs: z.number().int().positive().default(300_000),
      maxConcurrentQueries: z.number().int().positive().default(64),
      /** SQL texts longer than this (UTF-8 bytes) are refused with 413 REQUEST_TOO_LARGE on every protocol. */
      maxSqlBytes: z.number().int().positive().default(262_144),
      /** The engine a query goes to first when neither the request nor its tenant names one. */
      defaultEngine: z.string().min(1).default('duckdb'),
    })
    .prefault({}),
  trino: z
    .strictObject({
      /**
       * Rows of a Trino protocol result's first page, sent as soon as the query has them; each next page may hold
       * twice the rows of the one before, up to `pageBytes`.
       */
      pageRows: z.number().int().positive().default(1000),
      /**
       * Characters of JSON per page at most (bytes, for ASCII text). A running query holds two pages (the one sent,
       * kept for a retry, and the next one read ahead) as buffers outside the JavaScript heap, and a copy of the one
       * being sent while it is sent.
       */
      pageBytes: z.number().int().positive().default(2_097_152),
      /** How long a GET of nextUri waits for data before answering without. */
      maxWaitMs: z.number().int().positive().default(1000),
      /** A query whose client stops fetching for this long is cancelled. */
      abandonAfterSeconds: z.number().positive().default(60),
      /**
       * The URL clients reach this gateway process at (`https://gw-1.example.com`), which nextUri and infoUri name:
       * behind a load balancer or a TLS proxy, the address a request came in on is not one. A query's pages are
       * served by the process that runs it, so with several replicas each names its own. Default: the scheme, host
       * and port of each request.
       */
      publicUrl: z
        .url({ protocol: /^https?$/, error: 'trino.publicUrl must be an http or https URL' })
        .refine((url) => {
          // (Also run when the URL itself was refused: that problem is reported above.)
          if (!URL.canParse(url)) return true;
          const parsed = new URL(url);
          return parsed.search === '' && parsed.hash === '' && parsed.username === '' && parsed.password === '';
        }, 'trino.publicUrl must be a scheme, a host and a port, with an optional path, and nothing else')
        .transform((url) => url.replace(/\/+$/, ''))
        .optional(),
    })
    .prefault({}),
  /** Limits for the whole gateway (the same keys as a tenant's), plus the memory above which new work waits. */
  limits: limitsSchema.extend({ maxMemoryBytes: z.number().int().positive().optional() }).prefault({}),
  observability: z
    .strictObject({
      tracing: z
        .strictObject({
          /** `otlp` sends spans over OTLP/HTTP to `endpoint`; `none` (the default) makes no spans at all. */
          exporter: z.enum(['none', 'otlp']).default('none'),
          endpoint: z.url().optional(),
          /**
           * Share of requests traced, 0 to 1 (by trace id, so every replica agrees); a request whose caller sent a
           * sampled `traceparent` is always traced, an unsampled one never.
           */
          sampleRatio: z.number().min(0).max(1).default(1),
        })
        .prefault({}),
      /**
       * A token `GET /metrics` asks for (`Authorization: Bearer <token>`, as Prometheus sends its
       * `authorization.credentials`); without it, /metrics answers anyone, and names every tenant in its labels.
       */
      metricsToken: z.string().min(16, 'observability.metricsToken must be at least 16 characters').optional(),
    })
    .prefault({}),
  rollups: z
    .strictObject({
      /** Where rollup intervals are written (the sink): a `file:` folder or an `s3://` prefix. */
      location: z.string().default('file:.lakegate/rollups/'),
      /** How often each replica looks for intervals to compute. */
      tickSeconds: z.number().positive().default(15),
      /** Holes (missed intervals) filled per rollup and tick, after the fresh intervals. */
      backfillPerTick: z.number().int().min(0).default(6),
      /** How far back a rollup without `startAt` begins. */
      backfillHours: z.number().positive().default(24),
      /** A claimed interval is free again after this long without its replica (crash recovery). */
      claimTtlSeconds: z.number().int().positive().default(60),
      /** Rollup contexts (a tenant's source and interval) a tick works on at once. */
      concurrency: z.number().int().min(1).max(64).default(4),
      /**
       * The engine whose count of an interval's raw rows the audit compares with the rollup's, one other than the
       * engine that computed it so that the two do not share a mistake.
       */
      auditEngine: z.string().min(1).default('duckdb'),
      /**
       * A PostgreSQL source's interval is dumped in this many parts at once (slices of its time range, one
       * snapshot), each read by a thread of its own. Default: the machine's cores, at most 4.
       */
      postgresDumpParts: z
        .number()
        .int()
        .min(1)
        .max(16)
        .default(() => Math.min(4, availableParallelism())),
    })
    .prefault({}),
  /** Engine sections by id; ids are checked after parsing, since a record's key issues lose their message. */
  engines: z.record(z.string(), engineSectionSchema).default({}),
  tenants: z.record(z.string().regex(TENANT_ID, 'tenant ids are lower case letters, digits, - and _'), tenantSchema),
});

export interface DatasetConfig {
  readonly location: Location;
  readonly format: DatasetFormat;
  readonly pin: boolean;
  readonly refreshIntervalSeconds: number;
  readonly rowFilter: string | undefined;
}

/** A dataset held inside an engine: that engine reads `table` in the tenant's own space there. */
export interface EngineTableConfig {
  readonly engine: string;
  readonly table: string;
  readonly rowFilter: string | undefined;
}

export interface LimitsConfig {
  readonly concurrentQueries?: number | undefined;
  readonly queuedQueries?: number | undefined;
  readonly queriesPerSecond?: number | undefined;
  readonly maxResultRows?: number | undefined;
  readonly maxResultBytes?: number | undefined;
  readonly queryTimeoutMs?: number | undefined;
}

export interface RollupConfig extends RollupDefinition {
  /** Milliseconds since 1970 of the first interval, when configured. */
  readonly startAtMs: number | undefined;
  readonly delayMs: number;
  /** Its source when that is a PostgreSQL table (`source` then only names it). */
  readonly postgres?: PostgresSourceSpec | undefined;
  /** Where its rows are loaded besides its interval files. */
  readonly sink?: PostgresSinkSpec | undefined;
}

export interface TenantConfig {
  readonly apiKeys: readonly string[];
  /** The tenant's datasets, including one per rollup (NDJSON files written by the gateway). */
  readonly datasets: Readonly<Record<string, DatasetConfig>>;
  /** The tenant's datasets held inside an engine (`{ "engine", "table" }`), by name; answered only by that engine. */
  readonly engineTables: Readonly<Record<string, EngineTableConfig>>;
  readonly rollups: Readonly<Record<string, RollupConfig>>;
  readonly defaultEngine: string | undefined;
  readonly cacheMaxBytes: number | undefined;
  readonly limits: LimitsConfig;
  readonly resultCache: { readonly enabled: boolean; readonly maxBytes: number; readonly ttlSeconds: number };
  /** The tenant's options for each engine (`tenants.<t>.engines.<id>`), as written: the engine's factory parses them. */
  readonly engines: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** Where an engine's factory is loaded from: `engines.<id>.module` as written, and the folder it is relative to. */
export interface ModuleReference {
  /** A package name or a path relative to `baseDir`. */
  readonly specifier: string;
  /** The config file's folder. */
  readonly baseDir: string;
}

export interface EngineSection {
  /** The module that provides the engine, or `undefined` for a built-in engine. */
  readonly module: ModuleReference | undefined;
  /** The section without `module`: what the engine's factory validates. */
  readonly options: Readonly<Record<string, unknown>>;
}

type FileConfig = z.output<typeof fileSchema>;

/** `server.postgres`, its port decided (see the schema) and its TLS files resolved against the config's folder. */
export type PostgresConfig = Readonly<Omit<FileConfig['server']['postgres'], 'port'> & { readonly port: number }>;

export interface GatewayConfig {
  /** Where the configuration was read from (its file), for start-up errors found after parsing. */
  readonly source: string;
  readonly server: Omit<FileConfig['server'], 'postgres'> & { readonly postgres: PostgresConfig };
  readonly state: Readonly<Omit<FileConfig['state'], 'resultsLocation'>> & { readonly resultsLocation: Location };
  readonly sessions: FileConfig['sessions'];
  readonly storage: Readonly<Omit<FileConfig['storage'], 'cacheDir'>> & { readonly cacheDir: string };
  readonly query: FileConfig['query'];
  readonly trino: FileConfig['trino'];
  readonly observability: FileConfig['observability'];
  readonly limits: LimitsConfig & { readonly maxMemoryBytes?: number | undefined };
  readonly rollups: Readonly<Omit<FileConfig['rollups'], 'location'>> & { readonly location: Location };
  /** The configured engine sections by engine id; built-in engines without a section are not listed. */
  readonly engines: Readonly<Record<string, EngineSection>>;
  readonly tenants: Readonly<Record<string, TenantConfig>>;
  readonly admin: { readonly apiKeys: readonly string[] };
  readonly history: FileConfig['history'];
}

/**
 * Thrown when the gateway cannot start as configured; the message lists every problem, one per line, after a
 * headline (by default `Invalid configuration in <source>:`).
 */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  readonly headline: string;
  constructor(source: string, problems: readonly string[], headline = `Invalid configuration in ${source}`) {
    super(`${headline}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
    this.headline = headline;
  }
}

const pathOf = (path: readonly PropertyKey[]): string => path.map(String).join('.') || '(root)';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** An issue's message; for a bad record key (a tenant id, a dataset name), what the key may be, not "Invalid key". */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_key') return issue.issues.map((inner) => inner.message).join('; ') || issue.message;
  return issue.message;
}

/**
 * Validates a parsed configuration object. `baseDir` anchors relative paths (the config file's folder).
 * Throws {@link ConfigError} listing every problem; returns a deeply frozen config.
 */
export function parseConfig(
  raw: unknown,
  options: { baseDir: string; source?: string; env?: NodeJS.ProcessEnv },
): GatewayConfig {
  const source = options.source ?? 'configuration';
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      source,
      parsed.error.issues.map((issue) => `${pathOf(issue.path)}: ${issueMessage(issue)}`),
    );
  }
  const file = parsed.data;
  const problems: string[] = [];
  const keyOwners = new Map<string, string>();
  const rollupsLocation = parseLocation(file.rollups.location, options.baseDir);
  if ('problem' in rollupsLocation) problems.push(`rollups.location: ${rollupsLocation.problem}`);
  const rollupsRoot = file.rollups.location.endsWith('/') ? file.rollups.location : `${file.rollups.location}/`;
  const fileLocations: { owner: string; tenant: string; path: string }[] = [];
  /** PostgreSQL sink tables (server and table) and the rollup loading each. */
  const sinkTables = new Map<string, string>();
  const tenants: Record<string, TenantConfig> = {};
  const adminKeys = new Set(file.admin.apiKeys);

  for (const [tenantId, tenant] of Object.entries(file.tenants)) {
    for (const key of tenant.apiKeys) {
      const other = keyOwners.get(key);
      if (other !== undefined && other !== tenantId)
        problems.push(`tenants.${tenantId}.apiKeys: a key is also used by tenant ${other}`);
      if (adminKeys.has(key)) problems.push(`tenants.${tenantId}.apiKeys: a key is also an admin key (admin.apiKeys)`);
      keyOwners.set(key, tenantId);
    }
    const datasets: Record<string, DatasetConfig> = {};
    const engineTables: Record<string, EngineTableConfig> = {};
    const seen = new Map<string, string>();
    for (const [name, dataset] of Object.entries(tenant.datasets)) {
      const lower = name.toLowerCase();
      if (seen.has(lower))
        problems.push(`tenants.${tenantId}.datasets.${name}: differs from ${seen.get(lower)} only by case`);
      seen.set(lower, name);
      if ('engine' in dataset) {
        engineTables[name] = { engine: dataset.engine, table: dataset.table, rowFilter: dataset.rowFilter };
        continue;
      }
      const location = parseLocation(dataset.location, options.baseDir);
      if ('problem' in location) {
        problems.push(`tenants.${tenantId}.datasets.${name}.location: ${location.problem}`);
        continue;
      }
      if (location.kind === 'file')
        fileLocations.push({ owner: `tenants.${tenantId}.datasets.${name}`, tenant: tenantId, path: location.path });
      datasets[name] = {
        location,
        format: dataset.format,
        pin: dataset.pin,
        refreshIntervalSeconds: dataset.refreshIntervalSeconds,
        rowFilter: dataset.rowFilter,
      };
    }
    const rollups: Record<string, RollupConfig> = {};
    for (const [name, rollup] of Object.entries(tenant.rollups)) {
      const owner = `tenants.${tenantId}.rollups.${name}`;
      if (seen.has(name.toLowerCase())) problems.push(`${owner}: a dataset has the same name`);
      const postgres = typeof rollup.source === 'string' ? undefined : rollup.source.postgres;
      let sourceName: string;
      let timeColumn = rollup.timeColumn ?? '';
      let dimensions = rollup.dimensions;
      if (postgres) {
        // Not a dataset: a name no dataset can have, the same for rollups that read one table alike (dumped once per
        // interval). It is shown to the tenant: the hash covers the server without its password.
        sourceName = `postgres:${postgres.table}@${createHash('sha256')
          .update(
            JSON.stringify([
              withoutPassword(postgres.url),
              postgres.timeColumn,
              postgres.scopeColumn,
              rollup.lateRowsSeconds,
            ]),
          )
          .digest('hex')
          .slice(0, 8)}`;
        if (rollup.timeColumn !== undefined && rollup.timeColumn !== postgres.timeColumn)
          problems.push(
            `${owner}.timeColumn: a PostgreSQL source's rollup uses the source's ("${postgres.timeColumn}")`,
          );
        timeColumn = postgres.timeColumn;
        // The scope is a dimension by itself: the audit counts rows scope by scope.
        if (!dimensions.includes(postgres.scopeColumn)) dimensions = [postgres.scopeColumn, ...dimensions];
      } else {
        sourceName = rollup.source as string;
        const source = datasets[sourceName];
        const held = engineTables[sourceName];
        if (rollup.timeColumn === undefined) problems.push(`${owner}.timeColumn: required`);
        if (held)
          problems.push(`${owner}.source: rollups read files; "${sourceName}" is held by the ${held.engine} engine`);
        else if (!source) problems.push(`${owner}.source: "${sourceName}" is not a dataset of the tenant`);
        else if (source.format === 'parquet')
          problems.push(`${owner}.source: rollups read CSV, TSV or NDJSON datasets`);
        else if (source.rowFilter) problems.push(`${owner}.source: a dataset with a rowFilter cannot be rolled up`);
      }
      const intervalMs = parseDuration(rollup.interval) ?? 0;
      const definition: RollupDefinition = {
        name,
        source: sourceName,
        intervalMs,
        timeColumn,
        dimensions,
        derived: rollup.derived,
        measures: rollup.measures,
      };
      for (const problem of rollupProblems(definition)) problems.push(`${owner}.${problem}`);
      const columns = [...dimensions, ...Object.keys(rollup.measures)].map((n) => n.toLowerCase());
      for (const reserved of ['bucket', '_rows', '_state'])
        if (columns.includes(reserved))
          problems.push(`${owner}: "${reserved}" is a column every rollup has; rename it`);
      if (new Set(columns).size !== columns.length)
        problems.push(`${owner}: dimensions and measures need distinct names`);
      if (rollup.sink) {
        // Each interval's load replaces the interval's rows in the table: two rollups there would erase each other.
        const sink = `${withoutPassword(rollup.sink.postgres.url)}\0${rollup.sink.postgres.table}`;
        const other = sinkTables.get(sink);
        if (other) problems.push(`${owner}.sink: ${other} loads the same table; give each rollup its own`);
        sinkTables.set(sink, owner);
      }
      const location = parseLocation(`${rollupsRoot}${tenantId}/${name}/`, options.baseDir);
      if ('problem' in location) continue;
      // Its folder belongs to this tenant: no other tenant's dataset may lie inside it.
      if (location.kind === 'file') fileLocations.push({ owner, tenant: tenantId, path: location.path });
      rollups[name] = {
        ...definition,
        startAtMs: rollup.startAt === undefined ? undefined : Date.parse(rollup.startAt),
        delayMs: rollup.delaySeconds * 1000,
        ...(postgres
          ? { postgres: { ...postgres, url: postgres.url, lateRowsMs: rollup.lateRowsSeconds * 1000 } }
          : {}),
        ...(rollup.sink ? { sink: { url: rollup.sink.postgres.url, table: rollup.sink.postgres.table } } : {}),
      };
      datasets[name] = {
        location,
        format: 'ndjson',
        pin: false,
        refreshIntervalSeconds: Math.max(1, Math.round(file.rollups.tickSeconds)),
        rowFilter: undefined,
      };
    }
    tenants[tenantId] = {
      apiKeys: tenant.apiKeys,
      datasets,
      engineTables,
      rollups,
      defaultEngine: tenant.defaultEngine,
      cacheMaxBytes: tenant.cacheMaxBytes,
      limits: tenant.limits,
      resultCache: tenant.resultCache,
      engines: tenant.engines,
    };
  }

  // Engines may read a tenant's local folders: a folder inside another tenant's would leak its files.
  for (const a of fileLocations) {
    for (const b of fileLocations) {
      if (a.tenant !== b.tenant && (a.path === b.path || a.path.startsWith(`${b.path}/`))) {
        problems.push(`${a.owner}.location: lies inside ${b.owner}.location; tenants must not share local folders`);
      }
    }
  }
  const cacheDir = resolve(options.baseDir, file.storage.cacheDir);
  const resultsLocation = parseLocation(file.state.resultsLocation, options.baseDir);
  if ('problem' in resultsLocation) problems.push(`state.resultsLocation: ${resultsLocation.problem}`);
  const defaultIdle = parseDuration(file.sessions.defaultIdleTimeout);
  if (defaultIdle === undefined) {
    problems.push('sessions.defaultIdleTimeout: must be a duration such as "30m", "1h" or "3600s"');
  } else if (defaultIdle > LONGEST_SESSION_MS) {
    problems.push('sessions.defaultIdleTimeout: must be at most 365 days, the most a session lasts');
  }
  for (const loc of fileLocations) {
    if (loc.path === cacheDir || loc.path.startsWith(`${cacheDir}/`) || cacheDir.startsWith(`${loc.path}/`)) {
      problems.push(`${loc.owner}.location: overlaps storage.cacheDir`);
    }
  }

  const port = options.env?.LAKEGATE_PORT;
  let server: GatewayConfig['server'] = { ...file.server, postgres: { ...file.server.postgres, port: 5433 } };
  if (port !== undefined) {
    const value = Number(port);
    if (!Number.isInteger(value) || value < 0 || value > 65535)
      problems.push(`LAKEGATE_PORT: "${port}" is not a port number`);
    else server = { ...server, port: value };
  }
  const pgPort = options.env?.LAKEGATE_POSTGRES_PORT;
  let postgres: PostgresConfig = {
    ...file.server.postgres,
    port: file.server.postgres.port ?? (server.port === 0 ? 0 : 5433),
  };
  if (pgPort !== undefined) {
    const value = Number(pgPort);
    if (!Number.isInteger(value) || value < 0 || value > 65535)
      problems.push(`LAKEGATE_POSTGRES_PORT: "${pgPort}" is not a port number`);
    else postgres = { ...postgres, port: value };
  }
  const tls = postgres.tls;
  server = {
    ...server,
    postgres: {
      ...postgres,
      ...(tls ? { tls: { cert: resolve(options.baseDir, tls.cert), key: resolve(options.baseDir, tls.key) } } : {}),
    },
  };
  for (const id of Object.keys(file.engines)) {
    if (!ENGINE_ID.test(id))
      problems.push(`engines.${id}: engine ids are lower case letters, digits, - and _, starting with a letter`);
  }
  if (problems.length > 0) throw new ConfigError(source, problems);

  const engines: Record<string, EngineSection> = {};
  for (const [id, { module, ...rest }] of Object.entries(file.engines)) {
    engines[id] = {
      module: module === undefined ? undefined : { specifier: module, baseDir: options.baseDir },
      options: rest,
    };
  }
  return deepFreeze({
    source,
    server,
    state: { ...file.state, resultsLocation: resultsLocation as Location },
    sessions: file.sessions,
    storage: { ...file.storage, cacheDir },
    query: file.query,
    trino: file.trino,
    observability: file.observability,
    limits: file.limits,
    rollups: { ...file.rollups, location: rollupsLocation as Location },
    engines,
    tenants,
    admin: file.admin,
    history: file.history,
  });
}

/**
 * Reads the configuration: the file named by `LAKEGATE_CONFIG`, else `./lakegate.config.json`.
 * Returns `undefined` when neither exists (the embedded demo then starts); a named file that is missing is an error.
 */
export function loadConfig(env: NodeJS.ProcessEnv, cwd: string): GatewayConfig | undefined {
  const named = env.LAKEGATE_CONFIG;
  const path = resolve(cwd, named ?? 'lakegate.config.json');
  if (!existsSync(path)) {
    if (named !== undefined) throw new ConfigError(named, [`LAKEGATE_CONFIG: file ${path} does not exist`]);
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(path, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseConfig(raw, { baseDir: dirname(path), source: path, env });
}
