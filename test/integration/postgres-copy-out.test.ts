import { CopyOutStream } from '@lakegate/rollups';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPostgres, type PostgresServer, startPostgres } from '../harness/postgres.js';

/** What ended a copy: its error, or undefined. Caught at once, as the error may come before the test awaits it. */
const ending = (copy: AsyncIterable<Buffer>): Promise<unknown> =>
  read(copy).then(
    () => undefined,
    (error: unknown) => error,
  );

/** Everything a copy sends, as text. */
async function read(stream: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

describe.skipIf(!findPostgres())("COPY TO STDOUT read from a real PostgreSQL's socket", () => {
  let server: PostgresServer;
  let client: pg.Client;

  beforeAll(async () => {
    server = await startPostgres();
    client = new pg.Client({ connectionString: server.url });
    await client.connect();
  }, 60_000);

  afterAll(async () => {
    await client?.end();
    await server?.stop();
  });

  it('passes on every row whole, whatever the socket splits, and gives the connection back', async () => {
    // Rows of every length from 1 to 300 bytes: message headers and bodies fall across the socket's chunks.
    const copy = client.query(
      new CopyOutStream(`COPY (SELECT i, repeat('x', i % 300) FROM generate_series(1, 200000) i) TO STDOUT`),
    );
    const text = await read(copy);
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(200_000);
    for (const i of [1, 299, 300, 301, 123_457, 200_000]) expect(lines[i - 1]).toBe(`${i}\t${'x'.repeat(i % 300)}`);
    expect(copy.rowCount).toBe(200_000);
    // The connection answers the next query.
    expect((await client.query('SELECT 41 + 1 AS n')).rows).toEqual([{ n: 42 }]);
  });

  it("ends with the server's error when the copy fails part way, and the connection is usable after", async () => {
    const copy = client.query(
      new CopyOutStream(`COPY (SELECT 1000000 / (150000 - i) FROM generate_series(1, 200000) i) TO STDOUT`),
    );
    let rows = 0;
    const failed = (async () => {
      for await (const chunk of copy as AsyncIterable<Buffer>) rows += chunk.toString().split('\n').length - 1;
    })();
    await expect(failed).rejects.toMatchObject({ code: '22012', message: 'division by zero' });
    // Rows came before the error.
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(150_000);
    expect((await client.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('ends with the cancel when the server cancels it', async () => {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const copy = client.query(
      new CopyOutStream(`COPY (SELECT i, pg_sleep(0.001) FROM generate_series(1, 100000) i) TO STDOUT`),
    );
    const other = new pg.Client({ connectionString: server.url });
    await other.connect();
    const cancelled = ending(copy);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await other.query('SELECT pg_cancel_backend($1)', [rows[0]?.pid]);
    await other.end();
    expect(await cancelled).toMatchObject({ code: '57014' });
    expect((await client.query('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
  });

  it('ends with an error when the server goes away during the copy', async () => {
    const doomed = new pg.Client({ connectionString: server.url });
    await doomed.connect();
    doomed.on('error', () => {});
    const { rows } = await doomed.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const copy = doomed.query(
      new CopyOutStream(`COPY (SELECT i, pg_sleep(0.001) FROM generate_series(1, 100000) i) TO STDOUT`),
    );
    const lost = ending(copy);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await client.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
    expect(await lost).toMatchObject({ code: '57P01' });
    await doomed.end().catch(() => undefined);
  });
});
