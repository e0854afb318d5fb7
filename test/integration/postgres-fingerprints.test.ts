import { intervalFingerprintsSql } from '@lakegate/rollups';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPostgres, type PostgresServer, startPostgres } from '../harness/postgres.js';

const FIVE_MINUTES = 300_000;
/** An interval start, far from the epoch: 2026-12-07T10:00:00Z. */
const ORIGIN = Date.UTC(2026, 11, 7, 10);
const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Rows, in µs since the epoch, on and around the intervals' edges (a microsecond either side) and scattered in
 * between, of a 5-minute and a 1-minute grid.
 */
function timestamps(): bigint[] {
  const out: bigint[] = [];
  for (let edge = ORIGIN; edge <= ORIGIN + 3_600_000; edge += 60_000) {
    const us = BigInt(edge) * 1000n;
    out.push(us - 1n, us, us + 1n);
  }
  let seed = 7;
  for (let i = 0; i < 500; i++) {
    seed = (seed * 48271) % 2147483647;
    out.push(BigInt(ORIGIN) * 1000n + BigInt(seed % 3_600_000_000));
  }
  return out;
}

describe.skipIf(!findPostgres())('the late-row fingerprints of each interval, on a real PostgreSQL', () => {
  let server: PostgresServer;
  /** In UTC, as the rollups' own connections are. */
  let client: pg.Client;
  const query = async <T>(text: string): Promise<T[]> => (await client.query(text)).rows as T[];

  beforeAll(async () => {
    server = await startPostgres();
    client = new pg.Client({ connectionString: server.url, options: '-c TimeZone=UTC' });
    await client.connect();
    const rows = timestamps();
    for (const table of ['with_zone', 'without_zone']) {
      const type = table === 'with_zone' ? 'timestamptz' : 'timestamp';
      await query(`CREATE TABLE ${table} (ts ${type} NOT NULL)`);
      // In several transactions, so that the sums of their ids tell them apart.
      for (let i = 0; i < rows.length; i += 100) {
        const values = rows
          .slice(i, i + 100)
          .map((us) => `(to_timestamp(${us}::numeric / 1000000)${type === 'timestamp' ? ` AT TIME ZONE 'UTC'` : ''})`);
        await query(`INSERT INTO ${table} VALUES ${values.join(', ')}`);
      }
    }
  }, 60_000);

  afterAll(async () => {
    await client?.end();
    await server?.stop();
  });

  /** What the query must say: each row's interval found from its exact microseconds, here. */
  async function expected(table: string, intervalMs: number, from: number, to: number) {
    const rows = await query<{ us: string; x: string }>(
      `SELECT (extract(epoch FROM ts::timestamptz) * 1000000)::bigint AS us, xmin::text AS x FROM ${table}`,
    );
    const out = new Map<number, { n: number; x: bigint }>();
    for (const row of rows) {
      const ms = Number(BigInt(row.us) / 1000n);
      if (ms < from || ms >= to) continue;
      const start = Math.floor(ms / intervalMs) * intervalMs;
      const entry = out.get(start) ?? { n: 0, x: 0n };
      out.set(start, { n: entry.n + 1, x: entry.x + BigInt(row.x) });
    }
    return out;
  }

  it.each([
    ['with_zone', FIVE_MINUTES],
    ['with_zone', 60_000],
    ['without_zone', FIVE_MINUTES],
  ])(
    'counts the rows of %s in %i ms intervals as the dumps take them, with and without date_bin',
    async (table, intervalMs) => {
      // A range that starts and ends on the grid, as a tick's does, without the first and last edges' rows.
      const from = ORIGIN + intervalMs;
      const to = ORIGIN + 3_600_000 - intervalMs;
      const where = `ts >= '${iso(from)}'::timestamptz AND ts < '${iso(to)}'::timestamptz`;
      const want = await expected(table, intervalMs, from, to);
      expect(want.size).toBe((to - from) / intervalMs);
      for (const dateBin of [true, false]) {
        const rows = await query<{ start: string; n: string; x: string }>(
          intervalFingerprintsSql({ table, timeColumn: 'ts' }, intervalMs, where, dateBin),
        );
        const got = new Map(rows.map((r) => [Number(r.start), { n: Number(r.n), x: BigInt(r.x) }]));
        expect(got, `date_bin: ${dateBin}`).toEqual(want);
      }
    },
  );
});
