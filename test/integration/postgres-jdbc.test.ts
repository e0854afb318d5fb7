import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, EVENTS_ROWS, type PostgresGateway, startPostgresGateway } from '../support/postgres-gateway.js';

const run = promisify(execFile);
const source = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'jdbc', 'JdbcProbe.java');
/** Debian's pgjdbc (libpostgresql-jdbc-java, 42.5), which the CI script installs. */
const DRIVER = '/usr/share/java/postgresql.jar';

/** The Postgres protocol driven by pgjdbc, the JDBC driver BI tools use, from a small Java program. */
describe('Postgres protocol: pgjdbc', () => {
  let server: PostgresGateway;
  let classes: string;

  beforeAll(async () => {
    classes = await mkdtemp(join(tmpdir(), 'lakegate-jdbc-'));
    const [started] = await Promise.all([
      startPostgresGateway(),
      run('javac', ['-cp', DRIVER, '-d', classes, source], { timeout: 120_000 }),
    ]);
    server = started;
  }, 180_000);
  afterAll(async () => {
    await server?.close();
    await rm(classes, { recursive: true, force: true });
  });

  /** Runs one scenario of the probe; its `key=value` lines, in order. */
  async function probe(
    scenario: string,
    url = `jdbc:postgresql://127.0.0.1:${server.port}/lakegate`,
  ): Promise<string[]> {
    const { stdout } = await run(
      'java',
      ['-Duser.timezone=UTC', '-cp', `${classes}:${DRIVER}`, 'JdbcProbe', url, 'acme', ACME_KEY, scenario],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout.trim().split('\n');
  }

  it('binds PreparedStatement parameters, in text and then in binary transfer, with the right types', async () => {
    const lines = await probe('prepared', `jdbc:postgresql://127.0.0.1:${server.port}/lakegate?prepareThreshold=1`);
    expect(lines[0]).toBe('types=int8,text,numeric,bool,date,timestamp,numeric,int4');
    expect(lines.slice(1)).toEqual(
      [7, 8, 9, 10, 11, 12].map(
        (id, run) =>
          `row${run}=${id}|name-${id}|${(id * 1.5).toFixed(1)}|${id % 2 === 0}|2024-01-${String((id % 10) + 1).padStart(2, '0')}|2024-01-01 10:00:${String(id).padStart(2, '0')}.123456|${(id / 4).toFixed(2)}|${id}`,
      ),
    );
  }, 90_000);

  it('reads a 100k-row result in pieces of the fetch size with autocommit off', async () => {
    expect(await probe('fetch')).toEqual([`rows=${EVENTS_ROWS}`, `sum=${(EVENTS_ROWS * (EVENTS_ROWS - 1)) / 2}`]);
  }, 90_000);

  it('cancels a long query with Statement.cancel (57014) and keeps the connection usable', async () => {
    const lines = await probe('cancel');
    expect(lines[0]).toBe('state=57014');
    expect(Number(lines[1]?.slice(3))).toBeLessThan(5000);
    expect(lines[2]).toBe('after=1');
  }, 90_000);

  it('gives the SQLState of an error', async () => {
    expect(await probe('error')).toEqual([
      'state=42P01',
      'message=ERROR: Table nope does not exist. Your datasets: events.',
    ]);
  }, 90_000);

  it('lists the tenant’s tables and columns through DatabaseMetaData', async () => {
    const lines = await probe('metadata');
    expect(lines).toEqual([
      'product=PostgreSQL 15',
      'table=acme.events',
      'column=id:int8',
      'column=name:text',
      'column=score:numeric',
      'column=even:bool',
      'column=day:date',
      'column=ts:timestamp',
      'column=amount:numeric',
      'column=pair:_int8',
      'column=maybe:int8',
      'column=small:int4',
    ]);
  }, 90_000);
});
