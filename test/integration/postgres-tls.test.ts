import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, type PostgresGateway, startPostgresGateway } from '../support/postgres-gateway.js';

const run = promisify(execFile);

/** The Postgres protocol with `server.postgres.tls`: SSLRequest is answered with TLS, psql and pg connect over it. */
describe('Postgres protocol: TLS', () => {
  let folder: string;
  let server: PostgresGateway;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'lakegate-pg-tls-'));
    const cert = join(folder, 'cert.pem');
    const key = join(folder, 'key.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
    ]);
    server = await startPostgresGateway({ postgres: { tls: { cert, key } } });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await rm(folder, { recursive: true, force: true });
  });

  const psql = async (sslmode: string, password = ACME_KEY) => {
    try {
      const { stdout } = await run(
        'psql',
        [
          '-X',
          '-A',
          '-t',
          `host=127.0.0.1 port=${server.port} user=acme dbname=lakegate sslmode=${sslmode}`,
          '-c',
          'SELECT count(*) FROM events',
        ],
        { env: { ...process.env, PGPASSWORD: password }, encoding: 'utf8', timeout: 30_000 },
      );
      return stdout.trim();
    } catch (error) {
      return `failed: ${(error as { stderr?: string }).stderr ?? ''}`;
    }
  };

  it('serves psql over TLS (sslmode=require), where the password may come in clear, and refuses a wrong one', async () => {
    expect(await psql('require')).toBe('100000');
    expect(await psql('require', 'wrong-key')).toMatch(/password authentication failed for user "acme"/);
  });

  it('still logs in with SCRAM when the client does not ask for TLS', async () => {
    expect(await psql('disable')).toBe('100000');
  });

  it('serves node pg over TLS', async () => {
    const client = new pg.Client({ ...server.acme, ssl: { rejectUnauthorized: false } });
    await client.connect();
    try {
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      const socket = (client as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream;
      expect(socket.encrypted).toBe(true);
    } finally {
      await client.end();
    }
  });
});
