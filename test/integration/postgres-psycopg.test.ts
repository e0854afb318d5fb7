import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, type PostgresGateway, startPostgresGateway } from '../support/postgres-gateway.js';

const run = promisify(execFile);
const script = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'psycopg-probe.py');

/** The Postgres protocol driven by psycopg2 (Debian's python3-psycopg2, for Debian's own Python). */
describe('Postgres protocol: psycopg2', () => {
  let server: PostgresGateway;

  beforeAll(async () => {
    server = await startPostgresGateway();
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  it('runs parameterised queries, a server-side named cursor, and reports types and SQLSTATEs', async () => {
    const { stdout } = await run('/usr/bin/python3', [script, String(server.port), ACME_KEY], { timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual({
      rows: [[5, 'name-5', '2024-01-06', '1.25']],
      types: [20, 25, 1082, 1700],
      named: [5000, (5000 * 4999) / 2],
      error: '42P01',
    });
  }, 90_000);
});
