import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LakegateError } from '@lakegate/engine-api';
import {
  BUCKET_COLUMN,
  type LocalColumn,
  type LocalType,
  namingColumns,
  ROWS_COLUMN,
  type RollupDefinition,
  STATE_COLUMN,
} from '@lakegate/engine-local-agg';
import { writeStream } from '@lakegate/storage';
import pg from 'pg';
import { parse as parseConnection } from 'pg-connection-string';
import type { IntervalDump, IntervalSource, PostgresSink, ScopeCounts } from '../dependencies.js';
import type { RollupContext } from '../rollup-context.js';
import { CopyOutStream } from './copy-out.js';
import type { PostgresSinkSpec, PostgresSourceSpec } from './postgres-specs.js';
import { RowWriters } from './row-writers.js';

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
/** `schema.table` or `table`, each part quoted. */
const quoteTable = (table: string): string => table.split('.').map(quoteIdent).join('.');
const timestamptz = (ms: number): string => `'${new Date(ms).toISOString()}'::timestamptz`;
/** An interval's dump: its start in ISO 8601 basic format. */
const dumpName = (start: number): string => new Date(start).toISOString().replaceAll(':', '').replace('.000Z', 'Z');
/** One part of an interval's dump (see {@link PostgresRollupsOptions.dumpParts}). */
const partName = (start: number, part: number): string => `${dumpName(start)}.${part}.pgcopy`;
/** A dump's file name: a part, or (written by earlier versions) a whole dump or a part in CSV. */
const DUMP = /^(\d{4}-\d{2}-\d{2}T\d{2})(\d{2})(\d{2})Z(\.\d+)?\.(pgcopy|csv)$/;
const dumpStart = (name: string): number =>
  DUMP.test(name) ? Date.parse(name.replace(DUMP, '$1:$2:$3Z')) : Number.NaN;

/** Where the server is, for messages: its host, port and database, never its user or password. */
function describe(url: string | undefined): string {
  if (!url) return `${process.env.PGHOST ?? 'localhost'}:${process.env.PGPORT ?? 5432} (from the environment)`;
  try {
    const parsed = parseConnection(url);
    return `${parsed.host ?? 'localhost'}:${parsed.port ?? 5432}/${parsed.database ?? ''}`;
  } catch {
    return 'the configured server';
  }
}

/** A server's table, as the caches of tables and columns know it. */
const tableKey = (url: string | undefined, table: string): string => `${url ?? ''}\0${table}`;

/** A half-written dump older than this belongs to a process that died. */
const LEFTOVER_MS = 3_600_000;

/**
 * Whether retrying later may cure it: the server unreachable, starting, shutting down or gone (SQLSTATE class 08
 * and 57P0x), or the connection lost before the server said anything.
 */
function unavailable(error: unknown): boolean {
  const { code, severity } = error as { code?: string; severity?: string };
  if (code?.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  return severity === undefined;
}

function postgresError(url: string | undefined, error: unknown, doing: string): LakegateError {
  const message = (error as Error).message;
  // A dump's files failed on this machine's disk, not on the server: retried later all the same.
  const { code, path } = error as NodeJS.ErrnoException;
  if (path !== undefined && code !== undefined) {
    if (code === 'ENOSPC' || code === 'EDQUOT')
      return new LakegateError(
        'RESOURCE_EXHAUSTED',
        `The cache's disk is full while ${doing}: ${message}. Free space on it or lower storage.cacheMaxBytes.`,
      );
    return new LakegateError('STORAGE_UNAVAILABLE', `The cache folder failed while ${doing}: ${message}.`);
  }
  const where = describe(url);
  if (unavailable(error))
    return new LakegateError('ENGINE_UNAVAILABLE', `PostgreSQL at ${where} is unavailable while ${doing}: ${message}.`);
  return new LakegateError('ENGINE_FAILURE', `PostgreSQL at ${where} failed while ${doing}: ${message}.`);
}

/**
 * A group's rows and the sum of the transactions that wrote them, as `n` and `x` (see `#fingerprint`): the same in
 * the dump's count by scope and in a tick's look for late rows, whose fingerprints are compared.
 */
const ROWS_AND_WRITERS = 'count(*) AS n, sum(xmin::text::bigint) AS x';

/**
 * The query of the rows of each interval that `where` takes, and the sum of the transactions that wrote them (see
 * `#fingerprint`), by interval start in ms. Late rows are looked for at every tick over all of `lateRowsSeconds`, so
 * each row's interval is found with integer arithmetic on the server (`date_bin`, PostgreSQL 14 and later), or in
 * floating point before 14: since 14, `extract(epoch ...)` is a numeric, which made this query two and a half times
 * as dear. A row falls in the interval whose range the dump's own WHERE gives it (the time column compared as a
 * timestamptz, in the session's UTC).
 */
export function intervalFingerprintsSql(
  spec: Pick<PostgresSourceSpec, 'table' | 'timeColumn'>,
  intervalMs: number,
  where: string,
  dateBin: boolean,
): string {
  const time = `${quoteIdent(spec.timeColumn)}::timestamptz`;
  const rows = `${ROWS_AND_WRITERS} FROM ${quoteTable(spec.table)} WHERE ${where} GROUP BY 1`;
  if (dateBin) {
    return `SELECT (extract(epoch FROM bucket) * 1000)::bigint AS start, n, x FROM (SELECT date_bin('${intervalMs} milliseconds'::interval, ${time}, timestamptz 'epoch') AS bucket, ${rows}) intervals`;
  }
  return `SELECT floor(date_part('epoch', ${time}) * 1000 / ${intervalMs})::bigint * ${intervalMs} AS start, ${rows}`;
}

export interface PostgresRollupsOptions {
  /** The tenant's cache folder, where its dumps go. */
  readonly folderOf: (tenant: string) => string;
  readonly clock: () => number;
  /**
   * An interval is dumped in this many parts, each a slice of its time range on a connection of its own, all in one
   * snapshot: the server writes them in parallel and local-agg reads each on its own thread.
   */
  readonly dumpParts: number;
  /** Rollup contexts at work at once (`rollups.concurrency`): each uses one connection at a time. */
  readonly concurrency: number;
}

/**
 * Rollups from and to PostgreSQL: the source side dumps an interval's rows with `COPY … TO STDOUT` into the tenant's
 * cache folder (written, synced, renamed) for local-agg to aggregate in one pass, fingerprints intervals that late
 * rows may still change, and counts rows per scope for the audit; the sink side loads an interval's rollup rows in one
 * transaction that replaces that interval's rows. One small pool per server.
 */
export class PostgresRollups implements IntervalSource, PostgresSink {
  readonly #options: PostgresRollupsOptions;
  readonly #pools = new Map<string, pg.Pool>();
  /** Per server (its URL), whether it has `date_bin`; see {@link intervalFingerprintsSql}. */
  readonly #dateBin = new Map<string, boolean>();
  /** Sink tables known to exist, with the columns (and their types) they are known to have. */
  readonly #tables = new Map<string, Map<string, string>>();
  /** Per server, the turn of the last dump in parts (see {@link #dumpTurn}). */
  readonly #dumping = new Map<string, Promise<void>>();

  constructor(options: PostgresRollupsOptions) {
    this.#options = options;
  }

  #pool(url: string | undefined): pg.Pool {
    const key = url ?? '';
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new pg.Pool({
        ...(url ? { connectionString: url } : {}),
        // A dump's parts (one dump at a time), one for each other rollup context at work (a fingerprint, a count, a
        // load), and one for an audit asked for over HTTP.
        max: this.#options.dumpParts + this.#options.concurrency,
        connectionTimeoutMillis: 10_000,
        idleTimeoutMillis: 60_000,
        application_name: 'lakegate-rollups',
        // Timestamps without a zone are read and compared as UTC, and written in ISO, whatever the server's default.
        options: '-c TimeZone=UTC -c DateStyle=ISO',
      });
      // An idle connection the server dropped is replaced on the next use; it must not end the process.
      pool.on('error', () => {});
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /**
   * Runs `work` on one connection of the server's pool; when `signal` aborts, the server cancels what the
   * connection runs. A connection that failed is closed, never given back.
   */
  async #with<T>(
    url: string | undefined,
    signal: AbortSignal,
    work: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    return this.#withMany(url, signal, 1, (clients) => work(clients[0] as pg.PoolClient));
  }

  /**
   * {@link #with} on `count` connections; `signal` cancels what each runs. A caller that takes several holds
   * {@link #dumpTurn} meanwhile, so that callers holding some and waiting for more never wait on each other.
   */
  async #withMany<T>(
    url: string | undefined,
    signal: AbortSignal,
    count: number,
    work: (clients: pg.PoolClient[]) => Promise<T>,
  ): Promise<T> {
    if (signal.aborted) throw signal.reason;
    const pool = this.#pool(url);
    const clients: pg.PoolClient[] = [];
    try {
      for (let i = 0; i < count; i++) clients.push(await pool.connect());
    } catch (error) {
      for (const client of clients) client.release();
      throw error;
    }
    if (signal.aborted) {
      for (const client of clients) client.release();
      throw signal.reason;
    }
    // A backend that dies under a query (a restart, a failover) is an error of the query, not of the process.
    const lost = new Map<pg.PoolClient, Error>();
    const listeners = clients.map((client) => {
      const onError = (error: Error): void => void lost.set(client, error);
      client.on('error', onError);
      return onError;
    });
    // Cancelled from a connection of its own: the pool's may all be busy with the work being cancelled. The server
    // drops a cancel that finds its backend between statements, so the work also looks at `signal` before each of
    // its statements; and a cancel may land after the work is over, so these connections are then closed, never
    // given back to the pool, where it would cancel another caller's statement.
    let cancelled: Error | undefined;
    const cancel = (): void => {
      cancelled = new Error('the work on this connection was cancelled');
      for (const client of clients) {
        const pid = (client as unknown as { processID?: number }).processID;
        if (pid === undefined) continue;
        const canceller = new pg.Client(url ? { connectionString: url } : {});
        void canceller
          .connect()
          .then(() => canceller.query('SELECT pg_cancel_backend($1)', [pid]))
          .catch(() => undefined)
          .finally(() => void canceller.end().catch(() => undefined));
      }
    };
    signal.addEventListener('abort', cancel, { once: true });
    let broken: Error | undefined;
    try {
      return await work(clients);
    } catch (error) {
      broken = error as Error;
      throw error;
    } finally {
      signal.removeEventListener('abort', cancel);
      for (const [i, client] of clients.entries()) {
        client.removeListener('error', listeners[i] as (error: Error) => void);
        // Closing a failed connection makes the server roll back what it had open: a connection stuck in a COPY
        // whose reader gave up could not even run ROLLBACK.
        client.release(lost.get(client) ?? broken ?? cancelled);
      }
    }
  }

  /**
   * Waits until no other dump in parts runs on the server (they run one at a time, each holding its parts'
   * connections to its end; the pool keeps one for each other rollup context besides); returns the turn's release.
   */
  async #dumpTurn(url: string | undefined, signal: AbortSignal): Promise<() => void> {
    const key = url ?? '';
    const before = this.#dumping.get(key) ?? Promise.resolve();
    let release = (): void => {};
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const turn = before.then(() => mine);
    this.#dumping.set(key, turn);
    void turn.then(() => {
      if (this.#dumping.get(key) === turn) this.#dumping.delete(key);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason);
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        void before.then(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    } catch (error) {
      // Given up while waiting: those after it wait only for those before it.
      release();
      throw error;
    }
    return release;
  }

  /** `work` in one transaction: committed when it returns; when it throws, #with closes the connection. */
  static async #transaction<T>(client: pg.PoolClient, begin: string, work: () => Promise<T>): Promise<T> {
    await client.query(begin);
    const result = await work();
    await client.query('COMMIT');
    return result;
  }

  static #spec(context: RollupContext): PostgresSourceSpec {
    const spec = context.rollups[0].postgres;
    if (!spec) throw new Error(`rollup ${context.rollups[0].name} has no PostgreSQL source`);
    return spec;
  }

  /** The interval's bounds on the source's time column. */
  static #range(spec: PostgresSourceSpec, from: number, to: number): string {
    const time = quoteIdent(spec.timeColumn);
    return `${time} >= ${timestamptz(from)} AND ${time} < ${timestamptz(to)}`;
  }

  /** Rows per scope, and the sum of the transactions that wrote them (see #fingerprint), of the rows `where` takes. */
  static #byScope(spec: PostgresSourceSpec, where: string): string {
    return `SELECT ${quoteIdent(spec.scopeColumn)}::text AS scope, ${ROWS_AND_WRITERS}
      FROM ${quoteTable(spec.table)} WHERE ${where} GROUP BY 1`;
  }

  /**
   * Rows and the sum of the transactions that wrote them: a late row, a changed row or a deleted one changes it (the
   * newest transaction would not do: ids are handed out at the start, not at the commit).
   */
  static #fingerprint(row: { n: string; x: string | null } | undefined): string {
    return row && row.n !== '0' ? `rows:${row.n}:${row.x}` : 'rows:0';
  }

  /** Whether the server at `url` has `date_bin` (PostgreSQL 14 and later): asked once per server. */
  async #hasDateBin(url: string | undefined, client: pg.PoolClient): Promise<boolean> {
    const key = url ?? '';
    let known = this.#dateBin.get(key);
    if (known === undefined) {
      const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
      known = Number(rows[0]?.v) >= 140000;
      this.#dateBin.set(key, known);
    }
    return known;
  }

  async fingerprints(context: RollupContext, fromMs: number, toMs: number, signal: AbortSignal) {
    const spec = PostgresRollups.#spec(context);
    const out = new Map<number, string>();
    if (toMs <= fromMs) return out;
    for (let start = fromMs; start < toMs; start += context.intervalMs) out.set(start, 'rows:0');
    const where = PostgresRollups.#range(spec, fromMs, toMs);
    try {
      const { rows } = await this.#with(spec.url, signal, async (client) => {
        const binned = await this.#hasDateBin(spec.url, client);
        return client.query<{ start: string; n: string; x: string }>(
          intervalFingerprintsSql(spec, context.intervalMs, where, binned),
        );
      });
      for (const row of rows) out.set(Number(row.start), PostgresRollups.#fingerprint(row));
    } catch (error) {
      throw postgresError(spec.url, error, `checking ${spec.table} for new rows`);
    }
    return out;
  }

  async dump(context: RollupContext, start: number, signal: AbortSignal): Promise<IntervalDump> {
    const spec = PostgresRollups.#spec(context);
    const folder = join(this.#options.folderOf(context.tenant), 'postgres', context.rollups[0].name);
    const count = Math.max(1, this.#options.dumpParts);
    const parts = Array.from({ length: count }, (_, i) => {
      const path = join(folder, partName(start, i));
      return {
        path,
        temporary: `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`,
        // Contiguous slices of [start, end): every row falls in exactly one.
        from: start + Math.floor((i * context.intervalMs) / count),
        to: start + Math.floor(((i + 1) * context.intervalMs) / count),
      };
    });
    let fingerprint = '';
    let layoutTag = '';
    try {
      await mkdir(folder, { recursive: true });
      const { select, columns } = await this.#dumpColumns(context, spec, signal);
      layoutTag = createHash('sha256').update(JSON.stringify(columns)).digest('base64url').slice(0, 12);
      // In binary, headed by the columns' names and types; written in large writes and synced; renamed once every
      // part is. Each row comes with its xmin, tallied for the fingerprint and left out of the file: the rows dumped
      // are the rows fingerprinted, with no second scan of the table for it.
      const writers = parts.map(() => new RowWriters());
      const copy = async (client: pg.PoolClient, i: number, live: AbortSignal): Promise<void> => {
        live.throwIfAborted();
        const part = parts[i] as (typeof parts)[number];
        const stream = client.query(
          new CopyOutStream(
            `COPY (SELECT xmin, ${select} FROM ${quoteTable(spec.table)} WHERE ${PostgresRollups.#range(spec, part.from, part.to)}) TO STDOUT (FORMAT binary)`,
          ),
        );
        await writeStream(namingColumns((writers[i] as RowWriters).strip(stream), columns), part.temporary);
      };
      // Every part in one snapshot: a first connection exports it, and the others import it before it ends.
      const begin = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';
      if (parts.length === 1) {
        await this.#with(spec.url, signal, (client) => copy(client, 0, signal));
      } else {
        const release = await this.#dumpTurn(spec.url, signal);
        // A part that fails stops the others: their rows would be thrown away.
        const stop = new AbortController();
        const cancellable = AbortSignal.any([signal, stop.signal]);
        try {
          await this.#withMany(spec.url, cancellable, parts.length, async (clients) => {
            const exporter = clients[0] as pg.PoolClient;
            await exporter.query(begin);
            const { rows } = await exporter.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
            const snapshot = `'${(rows[0]?.id ?? '').replaceAll("'", "''")}'`;
            // Every other part takes the snapshot while its exporter's transaction is open (the exporter copies its
            // own part in it meanwhile).
            await Promise.all(
              clients.slice(1).map(async (other) => {
                await other.query(begin);
                await other.query(`SET TRANSACTION SNAPSHOT ${snapshot}`);
              }),
            );
            cancellable.throwIfAborted();
            let failure: unknown;
            const settled = await Promise.allSettled(
              clients
                .map((client, i) => copy(client, i, cancellable).then(() => client.query('COMMIT')))
                .map((running) =>
                  running.catch((error: unknown) => {
                    failure ??= error;
                    stop.abort(error);
                    throw error;
                  }),
                ),
            );
            if (settled.some((r) => r.status === 'rejected')) throw failure;
          });
        } finally {
          release();
        }
      }
      const rows = writers.reduce((sum, w) => sum + w.rows, 0);
      const sum = writers.reduce((total, w) => total + w.writers, 0n);
      fingerprint = PostgresRollups.#fingerprint({ n: String(rows), x: String(sum) });
      // An interval without rows has no file: its rollups are empty, with nothing to read.
      const empty = rows === 0;
      for (const { temporary, path } of parts) await (empty ? rm(temporary, { force: true }) : rename(temporary, path));
      if (empty) parts.length = 0;
    } catch (error) {
      await Promise.all(parts.map(({ temporary }) => rm(temporary, { force: true })));
      if (signal.aborted) throw signal.reason;
      throw error instanceof LakegateError
        ? error
        : postgresError(spec.url, error, `dumping ${spec.table} for ${new Date(start).toISOString()}`);
    }
    await this.#removeFinal(context, folder, start);
    // A file's version names its rows and its columns: a definition changed by a reload dumps other columns for the
    // same rows, and a reader that knows the file by its version must not take the one for the other.
    const version = `${fingerprint}~${layoutTag}`;
    const files = await Promise.all(
      parts.map(async ({ path }) => ({ path, size: (await stat(path)).size, etag: version })),
    );
    return {
      snapshot: {
        tenant: context.tenant,
        dataset: context.source,
        format: 'pgcopy',
        version: `${dumpName(start)}~${version}`,
        files,
      },
      inputs: fingerprint,
      release: () => this.#removeFinal(context, folder),
    };
  }

  /**
   * The select list of a dump and its columns' types as local-agg reads them: only the columns the rollups name (a
   * facts table's other columns, personal data among them, stay put), each cast to the server type whose binary
   * form local-agg reads (see {@link dumpedAs}). The time column is left out unless a measure or a dimension reads
   * it: every row of a dump is in its interval, which is all the rollups' bucket needs, and each row is 12 bytes
   * smaller to copy, write and read.
   */
  async #dumpColumns(
    context: RollupContext,
    spec: PostgresSourceSpec,
    signal: AbortSignal,
  ): Promise<{ select: string; columns: LocalColumn[] }> {
    const named = JSON.stringify(context.rollups.map((r) => [r.dimensions, r.derived, r.measures]));
    const columns = (await this.#columnsOf(spec, signal)).filter(
      ({ name }) =>
        name === spec.scopeColumn ||
        new RegExp(`(^|[^A-Za-z0-9_])${name.replace(/[^A-Za-z0-9_]/g, '\\$&')}([^A-Za-z0-9_]|$)`, 'i').test(named),
    );
    const dumped = columns.map(({ name, type }) => ({ name, ...dumpedAs(type) }));
    return {
      select: dumped.map(({ name, cast }) => `${quoteIdent(name)}${cast} AS ${quoteIdent(name)}`).join(', '),
      columns: dumped.map(({ name, type }) => ({ name, type })),
    };
  }

  /**
   * Removes the dumps of intervals no late row can change any more (but `keep`'s, which is being read), and what a
   * process left half-written when it died (an hour old).
   */
  async #removeFinal(context: RollupContext, folder: string, keep?: number): Promise<void> {
    const spec = PostgresRollups.#spec(context);
    const finalBefore = this.#options.clock() - spec.lateRowsMs;
    for (const name of await readdir(folder).catch(() => [] as string[])) {
      if (name.endsWith('.tmp')) {
        const { mtimeMs } = await stat(join(folder, name)).catch(() => ({ mtimeMs: Number.POSITIVE_INFINITY }));
        if (Date.now() - mtimeMs > LEFTOVER_MS) await rm(join(folder, name), { force: true });
      }
      const start = dumpStart(name);
      if (Number.isNaN(start) || start === keep || start + context.intervalMs > finalBefore) continue;
      await rm(join(folder, name), { force: true });
    }
  }

  /**
   * The source table's columns now, read again for every dump: a column whose type changed since (an ALTER TABLE)
   * must be dumped as its new type, or its values would be taken for another's.
   */
  async #columnsOf(spec: PostgresSourceSpec, signal: AbortSignal): Promise<{ name: string; type: string }[]> {
    let rows: { name: string; type: string }[];
    try {
      rows = await this.#with(spec.url, signal, (client) => PostgresRollups.#columnsIn(client, quoteTable(spec.table)));
    } catch (error) {
      throw postgresError(spec.url, error, `reading ${spec.table}'s columns`);
    }
    if (rows.length === 0)
      throw new LakegateError('NOT_FOUND', `PostgreSQL at ${describe(spec.url)} has no table ${spec.table}.`);
    return rows;
  }

  /** A table's columns, in order, with their types; resolved as the server resolves the name in a query. */
  static async #columnsIn(client: pg.PoolClient, table: string): Promise<{ name: string; type: string }[]> {
    const { rows } = await client.query<{ name: string; type: string }>(
      `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
       WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      [table],
    );
    return rows;
  }

  async countByScope(context: RollupContext, start: number, signal: AbortSignal): Promise<ScopeCounts> {
    const spec = PostgresRollups.#spec(context);
    const text = PostgresRollups.#byScope(spec, PostgresRollups.#range(spec, start, start + context.intervalMs));
    try {
      const { rows } = await this.#with(spec.url, signal, (client) => client.query<ScopeCount>(text));
      const scopes = new Map<string, number>();
      let n = 0n;
      let x = 0n;
      for (const row of rows) {
        addScope(scopes, row);
        n += BigInt(row.n);
        x += BigInt(row.x ?? 0);
      }
      return { scopes, inputs: PostgresRollups.#fingerprint({ n: String(n), x: String(x) }) };
    } catch (error) {
      throw postgresError(spec.url, error, `counting ${spec.table}'s rows`);
    }
  }

  async load(
    spec: PostgresSinkSpec,
    rollup: RollupDefinition,
    start: number,
    text: string,
    signal: AbortSignal,
  ): Promise<void> {
    const table = quoteTable(spec.table);
    const measures = Object.keys(rollup.measures);
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    // Measures are numbers, but min and max of a text column: typed by the first value the interval has (found in
    // the first lines, most often the first).
    const types = new Map<string, string>();
    for (const line of lines) {
      if (types.size === measures.length) break;
      const record = JSON.parse(line) as Record<string, unknown>;
      for (const name of measures) {
        const value = record[name];
        if (!types.has(name) && value !== null && value !== undefined)
          types.set(name, typeof value === 'string' ? 'text' : 'double precision');
      }
    }
    // The columns this load writes, with their types: a measure whose type no value of this interval tells (all NULL,
    // or no rows) is left out, NULL in these rows, unless the table has it already; it is made once a value shows its
    // type, so that a first interval without rows never fixes a text measure's column as a number.
    const wanted = new Map<string, string>([
      [BUCKET_COLUMN, 'timestamptz'],
      ...rollup.dimensions.map((d): [string, string] => [d, 'text']),
      [ROWS_COLUMN, 'bigint'],
      ...measures.flatMap((m): [string, string][] => (types.has(m) ? [[m, types.get(m) as string]] : [])),
      [STATE_COLUMN, 'jsonb'],
    ]);
    const key = tableKey(spec.url, spec.table);
    try {
      await this.#with(spec.url, signal, async (client) => {
        let have = this.#tables.get(key);
        if (!have || [...wanted.keys()].some((name) => !have?.has(name))) {
          const made = [...wanted].map(([name, type]) => `${quoteIdent(name)} ${type}`);
          await client.query(`CREATE TABLE IF NOT EXISTS ${table} (${made.join(', ')})`);
          // A table made for an earlier definition gains the columns of measures and dimensions added since (those
          // removed stay, NULL in new rows). Only when some are missing: ALTER TABLE locks out the table's readers.
          have = new Map((await PostgresRollups.#columnsIn(client, table)).map(({ name, type }) => [name, type]));
          const missing = [...wanted].filter(([name]) => !have?.has(name));
          if (missing.length > 0)
            await client.query(
              `ALTER TABLE ${table} ${missing.map(([name, type]) => `ADD COLUMN IF NOT EXISTS ${quoteIdent(name)} ${type}`).join(', ')}`,
            );
          for (const [name, type] of missing) have.set(name, type);
          await client.query(
            `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${spec.table.split('.').pop()}_bucket`)} ON ${table} (${BUCKET_COLUMN})`,
          );
          this.#tables.set(key, have);
        }
        // Every column of the rows the table has, read from the lines as the table's own type.
        const written = [...rollup.dimensions, ROWS_COLUMN, ...measures].filter((name) => have?.has(name));
        const names = written.map(quoteIdent);
        const columns = written.map((name) => `${quoteIdent(name)} ${have?.get(name)}`);
        // One transaction: the interval's old rows go and its new ones come together, or nothing changes.
        await PostgresRollups.#transaction(client, 'BEGIN', async () => {
          // Two loads of one interval (a claim that lapsed while its replica still worked) wait for each other, so
          // the second replaces the first's rows rather than adding to them.
          await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`${spec.table}@${start}`]);
          await client.query(`DELETE FROM ${table} WHERE ${BUCKET_COLUMN} = ${timestamptz(start)}`);
          // The lines go to the server as they are, a JSON array at a time; it reads them (and each `_state`, JSON
          // text in a line) itself, faster than this process would parse and write them again.
          for (let i = 0; i < lines.length; i += LOAD_ROWS) {
            signal.throwIfAborted();
            await client.query(
              `INSERT INTO ${table} (${BUCKET_COLUMN}, ${names.join(', ')}, ${STATE_COLUMN})
               SELECT ${timestamptz(start)}, ${names.map((n) => `r.${n}`).join(', ')}, r.${STATE_COLUMN}::jsonb
               FROM json_to_recordset($1::json) AS r(${[...columns, `${STATE_COLUMN} text`].join(', ')})`,
              [`[${lines.slice(i, i + LOAD_ROWS).join(',')}]`],
            );
          }
        });
      });
    } catch (error) {
      // The table may have changed under its known columns: they are read again on the next load.
      this.#tables.delete(key);
      if (signal.aborted) throw signal.reason;
      throw postgresError(spec.url, error, `loading ${spec.table} for ${new Date(start).toISOString()}`);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)));
  }
}

/**
 * How a column of a server type is dumped: the cast to the type whose binary form local-agg reads, and the type
 * local-agg reads it as. Timestamps with or without a time zone are both microseconds (since 2000, in UTC for the
 * former, which the session's UTC makes of the latter), read as local-agg's timestamps in UTC; integers travel as
 * int8, other numbers as float8 (as local-agg holds every number), and any other type as its text. The cast is
 * written even when the column is of that type already (the server then does nothing): what goes on the wire is
 * what the file's header says, whatever the column became since its type was read.
 */
function dumpedAs(type: string): { cast: string; type: LocalType } {
  if (/^timestamp(\(\d\))? with(out)? time zone$/.test(type)) return { cast: '::timestamptz', type: 'timestamp' };
  if (type === 'date') return { cast: '::date', type: 'date' };
  if (type === 'boolean') return { cast: '::boolean', type: 'boolean' };
  if (type === 'smallint' || type === 'integer' || type === 'bigint') return { cast: '::int8', type: 'bigint' };
  if (type === 'double precision' || type === 'real' || /^numeric(\(\d+(,\d+)?\))?$/.test(type))
    return { cast: '::float8', type: 'double' };
  return { cast: '::text', type: 'varchar' };
}

/** A row of {@link PostgresRollups.#byScope}'s query. */
interface ScopeCount {
  readonly scope: string | null;
  readonly n: string;
  readonly x: string | null;
}

/**
 * Adds a scope's rows to `scopes`. A NULL scope and an empty one are two groups to the server but one scope to the
 * rollup (its rows hold both as the empty text), so their rows are added up, never one put in place of the other.
 */
function addScope(scopes: Map<string, number>, row: ScopeCount): void {
  const scope = row.scope ?? '';
  scopes.set(scope, (scopes.get(scope) ?? 0) + Number(row.n));
}

/** Rollup rows loaded per statement. */
const LOAD_ROWS = 5000;
