import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, GLOBEX_KEY, type PostgresGateway, startPostgresGateway } from '../support/postgres-gateway.js';

const run = promisify(execFile);

interface PsqlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `\d events` with -A -t: column, type, collation, nullable, default. */
const PSQL_COLUMNS = [
  'id|bigint|||',
  'name|text|||',
  'score|numeric(21,1)|||',
  'even|boolean|||',
  'day|date|||',
  'ts|timestamp without time zone|||',
  'amount|numeric(10,2)|||',
  'pair|bigint[]|||',
  'maybe|bigint|||',
  'small|integer|||',
];

/** The Postgres protocol driven by psql (Debian's postgresql-client), as a person at a terminal uses it. */
describe('Postgres protocol: psql', () => {
  let pg: PostgresGateway;

  /** Runs psql (never synchronously: the gateway answers on this process's event loop). */
  async function psql(
    args: readonly string[],
    options: { user?: string; password?: string; database?: string; sslmode?: string } = {},
  ): Promise<PsqlResult> {
    const conninfo = `host=127.0.0.1 port=${pg.port} user=${options.user ?? 'acme'} dbname=${options.database ?? 'lakegate'} sslmode=${options.sslmode ?? 'prefer'}`;
    try {
      const { stdout, stderr } = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', conninfo, ...args], {
        env: { ...process.env, PGPASSWORD: options.password ?? ACME_KEY, PGCONNECT_TIMEOUT: '10' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number | string; stdout?: string; stderr?: string };
      if (typeof failed.code !== 'number') throw error;
      return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
    }
  }

  beforeAll(async () => {
    pg = await startPostgresGateway();
  }, 60_000);
  afterAll(async () => {
    await pg?.close();
  });

  it('logs in with SCRAM-SHA-256 and answers a query with every common type in text format', async () => {
    const result = await psql([
      '-A',
      '-F',
      '|',
      '-c',
      'SELECT id, name, score, even, day, ts, amount, pair, maybe, small FROM events ORDER BY id LIMIT 3',
    ]);
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual([
      'id|name|score|even|day|ts|amount|pair|maybe|small',
      '0|name-0|0.0|t|2024-01-01|2024-01-01 10:00:00.123456|0.00|{0,1}||0',
      '1|name-1|1.5|f|2024-01-02|2024-01-01 10:00:01.123456|0.25|{1,2}|1|1',
      '2|name-2|3.0|t|2024-01-03|2024-01-01 10:00:02.123456|0.50|{2,3}|2|2',
      '(3 rows)',
      '',
    ]);
  });

  it('answers several statements of one message in turn, with the session chatter', async () => {
    const result = await psql([
      '-A',
      '-t',
      '-c',
      "BEGIN; SELECT count(*) FROM events; SET application_name = 'report'; SHOW application_name; SELECT current_user, current_database(), current_schema(); COMMIT",
    ]);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim().split('\n')).toEqual([
      'BEGIN',
      '100000',
      'SET',
      'report',
      'acme|lakegate|acme',
      'COMMIT',
    ]);
  });

  it('reports an error with its SQLSTATE and position, and stops the statements after it', async () => {
    const unknown = await psql(['-v', 'VERBOSITY=verbose', '-c', 'SELECT * FROM nope; SELECT 1']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/ERROR: {2}42P01: Table nope does not exist/);
    expect(unknown.stdout).toBe('');
    const syntax = await psql(['-v', 'VERBOSITY=verbose', '-c', 'SELECT 1 FROM events WHERE']);
    expect(syntax.stderr).toMatch(/ERROR: {2}42601: .*syntax error/);
    expect(syntax.stderr).toMatch(/LINE 1: SELECT 1 FROM events WHERE\n\s+\^/);
    const forbidden = await psql(['-v', 'VERBOSITY=verbose', '-c', 'CREATE TABLE t (a INT)']);
    expect(forbidden.stderr).toMatch(/ERROR: {2}42501: /);
  });

  it('refuses a wrong key and an unknown tenant with the same 28P01, and an unknown database with 3D000', async () => {
    const wrong = await psql(['-c', 'SELECT 1'], { password: 'not-the-key' });
    const unknown = await psql(['-c', 'SELECT 1'], { user: 'nobody', password: 'not-the-key' });
    const otherKey = await psql(['-c', 'SELECT 1'], { password: GLOBEX_KEY });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/FATAL: {2}password authentication failed for user "acme"/);
    expect(unknown.stderr).toMatch(/FATAL: {2}password authentication failed for user "nobody"/);
    expect(otherKey.stderr).toBe(wrong.stderr);
    const database = await psql(['-c', 'SELECT 1'], { database: 'postgres' });
    expect(database.stderr).toMatch(/FATAL: {2}database "postgres" does not exist/);
    const second = await psql(['-A', '-t', '-c', 'SELECT 1'], { password: 'acme-second-key' });
    expect(second.stdout.trim()).toBe('1');
  });

  it('answers SSLRequest with N when no TLS is configured, so sslmode=require fails and prefer goes on', async () => {
    const required = await psql(['-c', 'SELECT 1'], { sslmode: 'require' });
    expect(required.stderr).toMatch(/server does not support SSL/);
    const preferred = await psql(['-A', '-t', '-c', 'SELECT 1'], { sslmode: 'prefer' });
    expect(preferred.stdout.trim()).toBe('1');
  });

  it('copies a query’s rows to a file with \\copy, as text and as CSV', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'lakegate-copy-'));
    try {
      const text = join(folder, 'rows.tsv');
      const csv = join(folder, 'rows.csv');
      const query = "SELECT id, name, maybe, 'a\tb' AS tab, 'x,\"y' AS q FROM events WHERE id < 3 ORDER BY id";
      const result = await psql([
        '-c',
        `\\copy (${query}) to '${text}'`,
        '-c',
        `\\copy (${query}) to '${csv}' with (format csv, header)`,
      ]);
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe('COPY 3\nCOPY 3\n');
      expect(await readFile(text, 'utf8')).toBe(
        '0\tname-0\t\\N\ta\\tb\tx,"y\n1\tname-1\t1\ta\\tb\tx,"y\n2\tname-2\t2\ta\\tb\tx,"y\n',
      );
      expect(await readFile(csv, 'utf8')).toBe(
        'id,name,maybe,tab,q\n0,name-0,,a\tb,"x,""y"\n1,name-1,1,a\tb,"x,""y"\n2,name-2,2,a\tb,"x,""y"\n',
      );
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('lists the tenant’s tables, schemas and database with \\dt, \\dn and \\l, from its own catalog only', async () => {
    const tables = await psql(['-A', '-t', '-c', '\\dt', '-c', '\\dt ev*', '-c', '\\dt nothing*']);
    expect(tables.stdout.trim().split('\n')).toEqual(['acme|events|table|acme', 'acme|events|table|acme']);
    expect(tables.stderr).toMatch(/Did not find any relation named "nothing\*"/);
    const schemas = await psql(['-A', '-t', '-c', '\\dn']);
    expect(schemas.stdout.trim()).toBe('acme|acme');
    const databases = await psql(['-A', '-t', '-c', '\\l']);
    expect(databases.stdout.trim()).toMatch(/^lakegate\|acme\|UTF8\|/);
    expect(`${tables.stdout}${schemas.stdout}${databases.stdout}`).not.toMatch(/globex|secrets/);
  });

  it('describes a table with \\d and \\d+ as Postgres names its column types', async () => {
    const described = await psql(['-A', '-t', '-c', '\\d events', '-c', '\\d+ events', '-c', '\\dt+ events']);
    expect(described.stderr).toBe('');
    const [plain, plus, listed] = described.stdout.trim().split(/\n(?=id\|bigint|acme\|events)/);
    expect(plain?.trim().split('\n')).toEqual(PSQL_COLUMNS);
    expect(
      plus
        ?.trim()
        .split('\n')
        .map((line) => line.split('|').slice(0, 2).join('|')),
    ).toEqual(PSQL_COLUMNS.map((line) => line.split('|').slice(0, 2).join('|')));
    expect(listed?.trim()).toMatch(/^acme\|events\|table\|acme\|permanent\|heap\|/);
  });

  it('never shows another tenant’s tables', async () => {
    const result = await psql(['-c', 'SELECT * FROM globex.secrets']);
    expect(result.stderr).toMatch(/does not exist/);
    expect(result.stderr).not.toMatch(/globex-secret/);
    const information = await psql(['-A', '-t', '-c', 'SELECT DISTINCT table_schema FROM information_schema.tables']);
    expect(information.stdout.trim().split('\n').sort()).toEqual(['acme', 'information_schema']);
  });
});
