import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, type DuckDBPreparedStatement } from '@duckdb/node-api';
import { type DatasetSnapshot, type FileTableBinding, LakegateError, Slots } from '@lakegate/engine-api';

export interface InstanceLimits {
  readonly threads: number;
  readonly memoryLimit: string;
  /** Queries this tenant may run at once (pooled connections). */
  readonly connections: number;
}

export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
export const quoteString = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/**
 * The DuckDB table expression that reads a snapshot's files. Files written at different times may not have the
 * same columns, so several are read by name (`union_by_name`); one file needs no such matching, which costs a
 * tenth of a 10 ms query.
 */
export function scanExpression(snapshot: DatasetSnapshot): string {
  const files = `[${snapshot.files.map((f) => quoteString(f.path)).join(', ')}]`;
  const byName = snapshot.files.length > 1 ? ', union_by_name = true' : '';
  switch (snapshot.format) {
    case 'parquet':
      return `read_parquet(${files}${byName})`;
    case 'csv':
      return `read_csv(${files}, header = true${byName})`;
    case 'tsv':
      return `read_csv(${files}, header = true, delim = '\t'${byName})`;
    case 'ndjson':
      return `read_json(${files}, format = 'newline_delimited'${byName})`;
    case 'pgcopy':
      throw new LakegateError(
        'UNSUPPORTED_QUERY',
        'DuckDB does not read PostgreSQL binary COPY files; local-agg does.',
      );
  }
}

const SNIFF_FILES_AT_MOST = 64;

/**
 * `read_csv` over every file of the snapshot with the dialect and columns `sniff_csv` finds, or undefined when the
 * files do not all agree (their different headers then need `union_by_name`'s auto-detection).
 */
async function sniffedScan(connection: DuckDBConnection, snapshot: DatasetSnapshot): Promise<string | undefined> {
  const files = `[${snapshot.files.map((f) => quoteString(f.path)).join(', ')}]`;
  const delimiter = snapshot.format === 'tsv' ? ", delim = '\t'" : '';
  let options: string | undefined;
  for (const file of snapshot.files) {
    const reader = await connection.runAndReadAll(
      `SELECT Prompt FROM sniff_csv(${quoteString(file.path)}, header = true${delimiter})`,
    );
    const prompt = String(reader.getRows()[0]?.[0] ?? '');
    // The prompt is `FROM read_csv('<file>', <options>);`: keep the options, to apply them to every file.
    const prefix = `FROM read_csv(${quoteString(file.path)}, `;
    if (!prompt.startsWith(prefix) || !prompt.endsWith(');')) return undefined;
    const these = prompt.slice(prefix.length, -2);
    if (options !== undefined && these !== options) return undefined;
    options = these;
  }
  return options === undefined ? undefined : `read_csv(${files}, ${options})`;
}

/** A pooled connection and the snapshot version (and row filter) each of its temporary views reads. */
export interface PooledConnection {
  readonly connection: DuckDBConnection;
  readonly views: Map<string, string>;
  /**
   * Statements prepared on this connection by query text, least recently used first: a dashboard's repeated query
   * skips parsing, policy and planning. Emptied whenever a view of the connection changes.
   */
  readonly prepared: Map<string, DuckDBPreparedStatement>;
}

/** Prepared statements kept per pooled connection. */
const PREPARED_PER_CONNECTION = 32;

/** The statement prepared for `sql` on this connection, if still valid (it becomes the most recently used). */
export function cachedStatement(pooled: PooledConnection, sql: string): DuckDBPreparedStatement | undefined {
  const statement = pooled.prepared.get(sql);
  if (statement) {
    pooled.prepared.delete(sql);
    pooled.prepared.set(sql, statement);
  }
  return statement;
}

/** Keeps a statement prepared for `sql` on this connection, dropping the least recently used beyond the limit. */
export function keepStatement(pooled: PooledConnection, sql: string, statement: DuckDBPreparedStatement): void {
  const replaced = pooled.prepared.get(sql);
  if (replaced !== statement) replaced?.destroySync();
  pooled.prepared.delete(sql);
  pooled.prepared.set(sql, statement);
  if (pooled.prepared.size > PREPARED_PER_CONNECTION) {
    const [oldest, dropped] = pooled.prepared.entries().next().value as [string, DuckDBPreparedStatement];
    pooled.prepared.delete(oldest);
    dropped.destroySync();
  }
}

function forgetStatements(pooled: PooledConnection): void {
  for (const statement of pooled.prepared.values()) statement.destroySync();
  pooled.prepared.clear();
}

/**
 * One DuckDB instance for one tenant. DuckDB's security settings are instance-wide, so isolation is by
 * instance: file access is limited to the tenant's directories and the configuration is locked before any
 * tenant SQL runs. Datasets are temporary views on each pooled connection, so every query sees exactly the
 * snapshot versions it leased, whatever other queries of the tenant bind at the same time.
 */
export class TenantInstance {
  readonly tenant: string;
  readonly #instance: DuckDBInstance;
  readonly #idle: PooledConnection[] = [];
  readonly #all = new Set<PooledConnection>();
  readonly #slots: Slots;
  /** Scan expressions by snapshot version: CSV dialect and column types sniffed once, not by every query. */
  readonly #scans = new Map<string, Promise<string>>();
  lastUsed = Date.now();

  private constructor(tenant: string, instance: DuckDBInstance, pool: readonly PooledConnection[]) {
    this.tenant = tenant;
    this.#instance = instance;
    this.#slots = new Slots(pool.length);
    for (const pooled of pool) {
      this.#idle.push(pooled);
      this.#all.add(pooled);
    }
  }

  static async open(tenant: string, directories: readonly string[], limits: InstanceLimits): Promise<TenantInstance> {
    const [home] = directories;
    if (!home) throw new Error(`no directory for tenant ${tenant}`);
    // Spill files stay inside the tenant's own directory, the only place it can write.
    const spill = join(home, '.duckdb-spill');
    await mkdir(spill, { recursive: true });
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(limits.threads),
      memory_limit: limits.memoryLimit,
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    });
    const setup = await instance.connect();
    const pool: PooledConnection[] = [];
    try {
      const allowed = directories.map((d) => quoteString(d.endsWith('/') ? d : `${d}/`)).join(', ');
      // Order matters: allowed_directories and the rest are set while external access is still on; the lock last.
      await setup.run(`SET allowed_directories = [${allowed}]`);
      await setup.run(`SET temp_directory = ${quoteString(spill)}`);
      // Cached files never change under their path (the path names the version), so footers can be cached.
      await setup.run('SET GLOBAL parquet_metadata_cache = true');
      // The pool's connections are opened now, while their own settings can still be set: each tracks its query's
      // progress (never printed) once it has run half a second, so that a long query can say how far it is while
      // dashboard queries pay nothing for it.
      for (let i = 0; i < limits.connections; i++) {
        const connection = await instance.connect();
        pool.push({ connection, views: new Map<string, string>(), prepared: new Map() });
        await connection.run('SET enable_progress_bar = true');
        await connection.run('SET enable_progress_bar_print = false');
        await connection.run('SET progress_bar_time = 500');
      }
      await setup.run('SET enable_external_access = false');
      await setup.run('SET lock_configuration = true');
    } catch (error) {
      for (const pooled of pool) pooled.connection.closeSync();
      setup.closeSync();
      instance.closeSync();
      throw error;
    } finally {
      setup.closeSync();
    }
    return new TenantInstance(tenant, instance, pool);
  }

  /** Queries running now. */
  get active(): number {
    return this.#slots.used;
  }

  /** Waits for one of the tenant's connections (first come, first served). */
  async acquire(signal: AbortSignal): Promise<PooledConnection> {
    await this.#slots.acquire(signal);
    this.lastUsed = Date.now();
    const idle = this.#idle.pop();
    if (idle) return idle;
    try {
      const pooled: PooledConnection = {
        connection: await this.#instance.connect(),
        views: new Map<string, string>(),
        prepared: new Map(),
      };
      this.#all.add(pooled);
      return pooled;
    } catch (error) {
      this.#slots.release();
      throw error;
    }
  }

  /** Returns a connection to the pool; a broken one is closed instead. */
  release(pooled: PooledConnection, broken = false): void {
    this.lastUsed = Date.now();
    if (broken) {
      this.#all.delete(pooled);
      forgetStatements(pooled);
      pooled.connection.closeSync();
    } else {
      this.#idle.push(pooled);
    }
    this.#slots.release();
  }

  /**
   * Makes the connection's views read exactly these snapshots: a view whose version or row filter changed is
   * replaced, one no longer bound is dropped. Unchanged bindings cost a map lookup. Any change drops the statements
   * prepared on the connection, so that none was planned against another version.
   *
   * Each view bears the dataset's own name and applies its row filter: the filtered rows are the only rows any
   * name on the connection reaches, so no query text, however it is parsed, can read past the filter.
   */
  async bind(pooled: PooledConnection, tables: readonly FileTableBinding[]): Promise<void> {
    const key = (t: FileTableBinding): string => `${t.snapshot.version}\0${t.rowFilter ?? ''}`;
    const wanted = new Set(tables.map((t) => t.name.toLowerCase()));
    for (const name of [...pooled.views.keys()]) {
      if (wanted.has(name)) continue;
      forgetStatements(pooled);
      await pooled.connection.run(`DROP VIEW IF EXISTS temp.main.${quoteIdent(name)}`);
      pooled.views.delete(name);
    }
    for (const table of tables) {
      const name = table.name.toLowerCase();
      if (pooled.views.get(name) === key(table)) continue;
      forgetStatements(pooled);
      pooled.views.delete(name);
      const scan = await this.#scan(pooled.connection, table.snapshot);
      const filter = table.rowFilter ? ` WHERE (${table.rowFilter})` : '';
      await pooled.connection.run(`CREATE OR REPLACE TEMP VIEW ${quoteIdent(name)} AS SELECT * FROM ${scan}${filter}`);
      pooled.views.set(name, key(table));
    }
  }

  /**
   * The scan of a snapshot. A view over `read_csv` with auto-detection sniffs the files again at every query that
   * reads it (tens of milliseconds even for small files), so CSV and TSV snapshots are sniffed once per version
   * (`sniff_csv`, file by file) and read with the detected dialect and column types spelled out. When the files
   * disagree, or there are too many to sniff one by one, the auto-detecting scan stays.
   */
  #scan(connection: DuckDBConnection, snapshot: DatasetSnapshot): Promise<string> {
    const automatic = scanExpression(snapshot);
    if ((snapshot.format !== 'csv' && snapshot.format !== 'tsv') || snapshot.files.length > SNIFF_FILES_AT_MOST)
      return Promise.resolve(automatic);
    const key = `${snapshot.dataset}\0${snapshot.version}`;
    let scan = this.#scans.get(key);
    if (!scan) {
      scan = sniffedScan(connection, snapshot).then(
        (sniffed) => sniffed ?? automatic,
        () => automatic,
      );
      if (this.#scans.size >= 256) this.#scans.delete(this.#scans.keys().next().value as string);
      this.#scans.set(key, scan);
    }
    return scan;
  }

  /**
   * What the instance and each idle connection hold beyond the dataset views the engine made: objects in any
   * catalog, settings, variables, attached databases, prepared statements. Tenant SQL must leave all of it as it
   * was. Connections in use are not inspected.
   */
  async inspect(): Promise<Readonly<Record<string, unknown>>> {
    const probes = {
      databases: 'SELECT database_name, path, readonly FROM duckdb_databases() ORDER BY ALL',
      schemas: 'SELECT database_name, schema_name FROM duckdb_schemas() WHERE NOT internal ORDER BY ALL',
      tables: 'SELECT database_name, schema_name, table_name FROM duckdb_tables() ORDER BY ALL',
      views: 'SELECT database_name, schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY ALL',
      functions:
        'SELECT database_name, schema_name, function_name, function_type, macro_definition FROM duckdb_functions() WHERE NOT internal ORDER BY ALL',
      types: 'SELECT database_name, schema_name, type_name FROM duckdb_types() WHERE NOT internal ORDER BY ALL',
      sequences: 'SELECT database_name, schema_name, sequence_name FROM duckdb_sequences() ORDER BY ALL',
      variables: 'SELECT name, value::VARCHAR FROM duckdb_variables() ORDER BY ALL',
      settings: 'SELECT name, value FROM duckdb_settings() ORDER BY ALL',
      prepared: 'SELECT name FROM duckdb_prepared_statements() ORDER BY ALL',
    };
    const connections: Record<string, unknown>[] = [];
    for (const pooled of this.#idle) {
      const state: Record<string, unknown> = {};
      for (const [key, sql] of Object.entries(probes)) {
        const rows = (await pooled.connection.runAndReadAll(sql)).getRowsJson();
        // The engine's own views, one per bound dataset, are expected; anything else is not.
        state[key] = key === 'views' ? rows.filter((r) => !(r[1] === 'main' && pooled.views.has(String(r[2])))) : rows;
      }
      connections.push(state);
    }
    return { connections };
  }

  close(): void {
    for (const pooled of this.#all) {
      forgetStatements(pooled);
      pooled.connection.closeSync();
    }
    this.#all.clear();
    this.#idle.length = 0;
    this.#instance.closeSync();
  }
}
