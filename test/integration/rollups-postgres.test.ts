import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type IntervalRecord, intervalFingerprintsSql } from '@lakegate/rollups';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPostgres, type PostgresServer, startPostgres } from '../harness/postgres.js';
import { findRedisServer, freePort, type RedisHandle, startRedis } from '../harness/services.js';
import { type GatewayProcess, startGatewayProcess } from '../support/gateway-process.js';
import { waitFor } from '../support/wait-for.js';

const KEY = 'acme-postgres-rollup-key';
const FIVE_MINUTES = 300_000;
const DAY = 86_400_000;
/** Raw facts per interval, on average. */
const PER_INTERVAL = 24;
/** Intervals of the table of every type, the newest ending at the last boundary. */
const TYPED_INTERVALS = 3;

interface RollupView {
  intervals: Record<string, number>;
  lagSeconds: number;
  sourceError: { at: string; message: string } | null;
  detail?: (IntervalRecord & { start: string; state: string })[];
}

interface Audit {
  intervalStart: string;
  rawRows: number;
  rollupRows: number;
  ok: boolean;
  scopes?: number;
  mismatchedScopes?: string[];
}

describe.skipIf(!findPostgres() || !findRedisServer())('rollups from and to a real PostgreSQL', () => {
  let root: string;
  let pg: PostgresServer;
  let redis: RedisHandle;
  let gateway: GatewayProcess;
  let port: number;
  // A day of complete 5-minute intervals, the newest ending at the last boundary.
  const end = Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES;
  const t0 = end - DAY;
  const intervals = DAY / FIVE_MINUTES;
  /** The last intervals of the day, for the rollup over a table of labels. */
  const LABEL_INTERVALS = 3;
  const labelsFrom = end - LABEL_INTERVALS * FIVE_MINUTES;
  /** That rollup's measures: a reload adds one below. */
  let labelMeasures: Record<string, string> = { calls: 'count(*)', first_label: 'min(label)', v_sum: 'sum(v)' };
  const config = () => ({
    server: { port, postgres: { enabled: false } },
    state: { redisUrl: redis.url, replicaId: 'pg-rollups' },
    storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
    // Each interval in three parts, whatever the machine's cores: rows on a part's edge must land in one of them.
    rollups: {
      location: `file:${join(root, 'rollups')}/`,
      tickSeconds: 0.5,
      backfillPerTick: 300,
      postgresDumpParts: 3,
    },
    tenants: {
      acme: {
        apiKeys: [KEY],
        rollups: {
          api_5m: {
            source: { postgres: { url: pg.url, table: 'facts.api_calls', timeColumn: 'ts', scopeColumn: 'org' } },
            sink: { postgres: { url: pg.url, table: 'api_rollup' } },
            dimensions: ['proxy'],
            measures: {
              calls: 'count(*)',
              total_ms: 'sum(ms)',
              min_ms: 'min(ms)',
              max_ms: 'max(ms)',
              avg_ms: 'avg(ms)',
              p50_ms: 'quantile_cont(ms, 0.5)',
              p95_ms: 'quantile_cont(ms, 0.95)',
            },
            startAt: new Date(t0).toISOString(),
            delaySeconds: 0,
            lateRowsSeconds: 900,
          },
          // Every type a dump carries, each in its binary form, as dimensions and measures.
          typed_5m: {
            source: { postgres: { url: pg.url, table: 'facts.typed', timeColumn: 'ts', scopeColumn: 'org' } },
            sink: { postgres: { url: pg.url, table: 'typed_rollup' } },
            dimensions: ['d', 'b'],
            measures: {
              n_sum: 'sum(n)',
              i_min: 'min(i)',
              i_max: 'max(i)',
              r_max: 'max(r)',
              big_sum: 'sum(big)',
              u_min: 'min(u)',
              first_ts: 'min(ts)',
            },
            startAt: new Date(end - TYPED_INTERVALS * FIVE_MINUTES).toISOString(),
            delaySeconds: 0,
            // Its dumps are read back below: none may become final (and be removed) while the suite runs, as the
            // oldest would 15 minutes after its end with 900.
            lateRowsSeconds: 3600,
          },
          // A scope that may be NULL or empty, a text measure, and columns that change under the rollup.
          labels_5m: {
            source: { postgres: { url: pg.url, table: 'facts.labels', timeColumn: 'ts', scopeColumn: 'org' } },
            sink: { postgres: { url: pg.url, table: 'labels_rollup' } },
            measures: labelMeasures,
            startAt: new Date(labelsFrom).toISOString(),
            delaySeconds: 0,
            lateRowsSeconds: 3600,
          },
        },
      },
    },
  });
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const rollup = async (name = 'api_5m'): Promise<RollupView> =>
    (await call('GET', `/v1/rollups/${name}`)).body.rollup as RollupView;
  const record = async (start: number) =>
    (await rollup()).detail?.find((i) => Date.parse(i.start) === start) as IntervalRecord | undefined;
  /** Done intervals of the day, once every one of them is. */
  const allDone = async () => {
    const view = await rollup();
    const done = (view.detail ?? []).filter((i) => Date.parse(i.start) < end && i.state === 'done').length;
    return done === intervals ? view : undefined;
  };
  const startGateway = async () => {
    gateway = await startGatewayProcess(join(root, 'gateway.json'), config(), port);
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-pg-rollups-'));
    await mkdir(join(root, 'redis'));
    [pg, redis, port] = await Promise.all([startPostgres(), startRedis(undefined, join(root, 'redis')), freePort()]);
    await pg.sql`CREATE SCHEMA facts`;
    await pg.sql`CREATE TABLE facts.api_calls (ts timestamptz NOT NULL, org text NOT NULL, proxy text, ms double precision, ok boolean)`;
    await pg.sql`CREATE INDEX ON facts.api_calls (ts)`;
    // The sink table as an earlier definition made it, without p95_ms: the gateway adds the column.
    await pg.sql`CREATE TABLE api_rollup (bucket timestamptz, org text, proxy text, _rows bigint, calls double precision,
      total_ms double precision, min_ms double precision, max_ms double precision, avg_ms double precision,
      p50_ms double precision, _state jsonb)`;
    // A day of facts, uneven across orgs and proxies, a few at the very edges of their intervals.
    await pg.sql.unsafe(`
      INSERT INTO facts.api_calls
      SELECT to_timestamp(${t0 / 1000}) + (i * interval '1 second') * (86400.0 / ${intervals * PER_INTERVAL}),
             'org' || (i * 7 % 5), CASE WHEN i % 11 = 0 THEN NULL ELSE 'proxy-' || (i % 3) END,
             ((i * 7919) % 1000) / 10.0, i % 4 <> 0
      FROM generate_series(0, ${intervals * PER_INTERVAL - 1}) i`);
    // Timestamps without a time zone, a varchar scope, numbers of every width, dates, booleans, and a type dumped as
    // its text; NULLs in every nullable column.
    await pg.sql`CREATE TABLE facts.typed (ts timestamp NOT NULL, org varchar(8) NOT NULL, d date, n numeric(12,3),
      i smallint, r real, big bigint, b boolean, u uuid, unused text)`;
    await pg.sql.unsafe(`
      INSERT INTO facts.typed
      SELECT (to_timestamp(${(end - TYPED_INTERVALS * FIVE_MINUTES) / 1000}) AT TIME ZONE 'UTC')
               + (i * interval '1 millisecond') * (${TYPED_INTERVALS * FIVE_MINUTES} / 90),
             'o' || (i % 2), CASE WHEN i % 7 = 0 THEN NULL ELSE date '1999-12-30' + (i % 3) * 4000 END,
             CASE WHEN i % 5 = 0 THEN NULL ELSE (i * 37 % 1000) / 8.0 - 50 END, (i * 13 % 200) - 100,
             i / 3.0, CASE WHEN i % 6 = 0 THEN NULL ELSE 5000000000000 * (i % 4) - i END,
             CASE WHEN i % 9 = 0 THEN NULL ELSE i % 2 = 0 END, md5(i::text)::uuid, 'personal ' || i
      FROM generate_series(0, 89) i`);
    // Empty at first: its first intervals are loaded without rows.
    await pg.sql`CREATE TABLE facts.labels (ts timestamptz NOT NULL, org text, label text, v bigint, w double precision)`;
    await startGateway();
  }, 90_000);

  afterAll(async () => {
    await gateway?.kill('SIGKILL');
    await Promise.all([pg?.stop(), redis?.stop()]);
    await rm(root, { recursive: true, force: true });
  });

  it('fills a day of intervals through a SIGKILL and a restart, without a duplicate or a hole', async () => {
    // Killed while it fills the day.
    await waitFor('some intervals done', async () => ((await rollup()).intervals.done ?? 0) >= 20 || undefined, 60_000);
    expect(await gateway.kill('SIGKILL')).toBeNull();
    expect((await rollup().catch(() => undefined)) === undefined).toBe(true);
    await startGateway();
    const view = await waitFor('every interval done', allDone, 120_000);
    expect(view.lagSeconds).toBeLessThan(600);
    const [duplicates] = await pg.sql`
      SELECT count(*)::int AS n FROM (SELECT bucket, org, proxy FROM api_rollup GROUP BY 1, 2, 3 HAVING count(*) > 1) d`;
    expect(duplicates?.n).toBe(0);
    // (Every interval of the range was pending or failed during the outage, and is done now.)
    const [buckets] = await pg.sql`SELECT count(DISTINCT bucket)::int AS n FROM api_rollup
      WHERE bucket >= ${new Date(t0 + 20 * FIVE_MINUTES)} AND bucket < ${new Date(t0 + 26 * FIVE_MINUTES)}`;
    expect(buckets?.n).toBe(6);
  }, 180_000);

  it("loads rows equal to PostgreSQL's own GROUP BY for every interval", async () => {
    const [mine, theirs] = await Promise.all([
      pg.sql`SELECT bucket, org, proxy, _rows::int AS rows, calls, total_ms, min_ms, max_ms, avg_ms, p50_ms, p95_ms
             FROM api_rollup WHERE bucket < ${new Date(end)} ORDER BY 1, 2, 3`,
      pg.sql`SELECT date_bin('5 minutes', ts, timestamptz 'epoch') AS bucket, org, proxy, count(*)::int AS rows,
               count(*) AS calls, sum(ms) AS total_ms, min(ms) AS min_ms, max(ms) AS max_ms, avg(ms) AS avg_ms,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50_ms,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95_ms
             FROM facts.api_calls WHERE ts < ${new Date(end)} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    ]);
    expect(mine.length).toBe(theirs.length);
    expect(mine.length).toBeGreaterThan(intervals * 5);
    for (const [i, row] of theirs.entries()) {
      const got = mine[i] as Record<string, unknown>;
      expect([new Date(got.bucket as Date).getTime(), got.org, got.proxy, got.rows]).toEqual([
        new Date(row.bucket as Date).getTime(),
        row.org,
        row.proxy,
        row.rows,
      ]);
      for (const measure of ['calls', 'total_ms', 'min_ms', 'max_ms', 'avg_ms', 'p50_ms', 'p95_ms'])
        expect(Number(got[measure])).toBeCloseTo(Number(row[measure]), 6);
    }
  });

  it('reads every type a dump carries as PostgreSQL holds it, in a file PostgreSQL reads back', async () => {
    await waitFor('the typed intervals done', async () => {
      const { body } = await call('GET', '/v1/rollups/typed_5m');
      return ((body.rollup as RollupView).intervals.done ?? 0) >= TYPED_INTERVALS || undefined;
    });
    const [mine, theirs] = await Promise.all([
      pg.sql`SELECT extract(epoch FROM bucket)::bigint AS start, org, d, b, _rows::int AS rows, n_sum, i_min, i_max,
               r_max, big_sum, u_min, first_ts FROM typed_rollup ORDER BY 1, 2, 3, 4`,
      pg.sql`SELECT (floor(extract(epoch FROM ts) / 300) * 300)::bigint AS start, org::text, d::text, b::text,
               count(*)::int AS rows, sum(n)::float8 AS n_sum, min(i)::float8 AS i_min, max(i)::float8 AS i_max,
               max(r)::float8 AS r_max, sum(big)::float8 AS big_sum, min(u::text) AS u_min, min(ts) AS first_ts
             FROM facts.typed GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
    ]);
    // Three intervals, two orgs, three dates and NULL, true, false and NULL: most combinations occur.
    expect(mine.length).toBe(theirs.length);
    expect(mine.length).toBeGreaterThan(20);
    for (const [i, row] of theirs.entries()) {
      const got = mine[i] as Record<string, unknown>;
      expect([Number(got.start), got.org, got.d, got.b, got.rows, got.u_min]).toEqual([
        Number(row.start),
        row.org,
        row.d,
        row.b,
        row.rows,
        row.u_min,
      ]);
      for (const measure of ['n_sum', 'i_min', 'i_max', 'r_max', 'big_sum']) {
        if (row[measure] === null) expect(got[measure]).toBeNull();
        else expect(Number(got[measure])).toBeCloseTo(Number(row[measure]), 6);
      }
      expect(Date.parse(`${got.first_ts}Z`)).toBe((row.first_ts as Date).getTime());
    }

    // Each dump is a binary COPY file whose header the server skips: loaded back, it holds the interval's rows.
    const folder = join(root, 'cache', 'acme', 'postgres', 'typed_5m');
    const dumps = (await readdir(folder)).filter((name) => name.endsWith('.pgcopy'));
    expect(dumps.length).toBeGreaterThanOrEqual(TYPED_INTERVALS);
    await pg.sql`CREATE TABLE typed_back (ts timestamp, org text, d date, n float8, i int8, r float8, big int8,
      b boolean, u text)`;
    for (const name of dumps) {
      const writable = await pg.sql`COPY typed_back FROM STDIN (FORMAT binary)`.writable();
      await pipeline(createReadStream(join(folder, name)), writable);
    }
    const [back, source] = await Promise.all([
      pg.sql`SELECT count(*)::int AS n, count(DISTINCT ts)::int AS times, sum(i)::int AS i, sum(big)::float8 AS big,
               count(d)::int AS dates, count(*) FILTER (WHERE b)::int AS trues, min(u) AS u FROM typed_back`,
      pg.sql`SELECT count(*)::int AS n, count(DISTINCT ts)::int AS times, sum(i)::int AS i, sum(big)::float8 AS big,
               count(d)::int AS dates, count(*) FILTER (WHERE b)::int AS trues, min(u::text) AS u FROM facts.typed`,
    ]);
    expect(back).toEqual(source);
    // Only the columns the rollup names are dumped: `unused` stays in the server.
    const [unused] = await pg.sql`SELECT count(*)::int AS n FROM typed_back WHERE org LIKE 'personal%'`;
    expect(unused?.n).toBe(0);
  });

  it('audits every interval scope by scope, and lists the audits', async () => {
    // The day's intervals (the clock may have completed a newer, empty one since). An interval is audited just
    // after it is done: the last one's audit may still be under way.
    const ofTheDay = (listed: Audit[]) => listed.filter((a) => Date.parse(a.intervalStart) < end);
    const { status, body } = await waitFor('every interval audited', async () => {
      const listed = await call('GET', '/v1/rollups/api_5m/audit');
      return listed.status !== 200 || ofTheDay(listed.body.audits as Audit[]).length >= intervals ? listed : undefined;
    });
    expect(status).toBe(200);
    const audits = ofTheDay(body.audits as Audit[]);
    expect(audits).toHaveLength(intervals);
    expect(audits.every((a) => a.ok && a.rawRows === a.rollupRows && (a.scopes ?? 0) >= 1)).toBe(true);
    expect(body.mismatches).toBe(0);
    expect(audits.find((a) => Date.parse(a.intervalStart) === t0)).toMatchObject({ ok: true, scopes: 5 });
  });

  it('catches a row deleted behind its back, and computes the interval again once', async () => {
    const start = t0 + 10 * FIVE_MINUTES;
    const [gone] = await pg.sql`
      DELETE FROM facts.api_calls WHERE ctid = (SELECT ctid FROM facts.api_calls
        WHERE ts >= ${new Date(start)} AND ts < ${new Date(start + FIVE_MINUTES)} ORDER BY ts LIMIT 1)
      RETURNING org`;
    const { body } = await call('POST', '/v1/rollups/api_5m/audit', {
      from: new Date(start).toISOString(),
      to: new Date(start + FIVE_MINUTES).toISOString(),
    });
    expect(body.audits).toEqual([
      expect.objectContaining({
        ok: false,
        rawRows: PER_INTERVAL - 1,
        rollupRows: PER_INTERVAL,
        mismatchedScopes: [gone?.org],
      }),
    ]);
    // Computed again from the rows there are now, and audited clean.
    const fixed = await waitFor('the interval computed again', async () => {
      const r = await record(start);
      return r?.state === 'done' && r.audit?.ok ? r : undefined;
    });
    expect(fixed).toMatchObject({ auditRecomputes: 1, audit: { rawRows: PER_INTERVAL - 1 } });
    const [loaded] = await pg.sql`SELECT sum(_rows)::int AS n FROM api_rollup WHERE bucket = ${new Date(start)}`;
    expect(loaded?.n).toBe(PER_INTERVAL - 1);
  }, 60_000);

  it('computes an interval whose rows are all gone as empty, not as failed', async () => {
    const start = t0 + 12 * FIVE_MINUTES;
    await pg.sql`DELETE FROM facts.api_calls WHERE ts >= ${new Date(start)} AND ts < ${new Date(start + FIVE_MINUTES)}`;
    const { status } = await call('POST', '/v1/rollups/api_5m/backfill', {
      from: new Date(start).toISOString(),
      to: new Date(start + FIVE_MINUTES).toISOString(),
    });
    expect(status).toBe(202);
    const empty = await waitFor('the interval computed empty', async () => {
      const r = await record(start);
      return r?.state === 'done' && r.rows === 0 ? r : undefined;
    });
    expect(empty).toMatchObject({ groups: 0, audit: { ok: true, rawRows: 0, rollupRows: 0 } });
    const [loaded] = await pg.sql`SELECT count(*)::int AS n FROM api_rollup WHERE bucket = ${new Date(start)}`;
    expect(loaded?.n).toBe(0);
  }, 60_000);

  it('computes an interval again when late rows arrive within lateRowsSeconds', async () => {
    // An interval of the last ten minutes, from the clock: the suite may have run past `end`.
    const start = Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES - 2 * FIVE_MINUTES;
    const before = await waitFor('the interval done', async () => {
      const r = await record(start);
      return r?.state === 'done' ? r : undefined;
    });
    // The fingerprint the dump took from the rows it copied is the one a tick's look for late rows finds: without
    // late rows, nothing is computed again.
    const range = `ts >= '${new Date(start).toISOString()}' AND ts < '${new Date(start + FIVE_MINUTES).toISOString()}'`;
    const [print] = await pg.sql.unsafe<{ n: string; x: string }[]>(
      intervalFingerprintsSql({ table: 'facts.api_calls', timeColumn: 'ts' }, FIVE_MINUTES, range, true),
    );
    expect(before?.inputs).toBe(print ? `rows:${print.n}:${print.x}` : 'rows:0');
    await pg.sql`INSERT INTO facts.api_calls VALUES (${new Date(start + 1000)}, 'late-org', 'proxy-0', 5, true),
                                                     (${new Date(start + 2000)}, 'late-org', 'proxy-0', 7, true)`;
    const [loaded] = await waitFor('the late rows loaded', async () => {
      const rows = await pg.sql`SELECT sum(_rows)::int AS n, sum(total_ms) AS ms FROM api_rollup
                                WHERE bucket = ${new Date(start)} AND org = 'late-org'`;
      return rows[0]?.n === 2 ? rows : undefined;
    });
    expect(Number(loaded?.ms)).toBe(12);
    expect((await record(start))?.inputs).not.toBe(before?.inputs);
  }, 60_000);

  it('keeps intervals pending while PostgreSQL is down for a minute, and fills them when it is back', async () => {
    await pg.pause();
    const stopped = Date.now();
    try {
      const from = t0 + 20 * FIVE_MINUTES;
      const { status, body } = await call('POST', '/v1/rollups/api_5m/backfill', {
        from: new Date(from).toISOString(),
        to: new Date(from + 6 * FIVE_MINUTES).toISOString(),
      });
      expect([status, body.intervals]).toEqual([202, 6]);
      // Down for a minute: the scheduler keeps trying all along (its backoff doubles up to 15 minutes).
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, stopped + 60_000 - Date.now())));
      const view = await rollup();
      const range = (view.detail ?? []).filter((i) => {
        const s = Date.parse(i.start);
        return s >= from && s < from + 6 * FIVE_MINUTES;
      });
      expect(range).toHaveLength(6);
      expect(range.every((i) => i.state === 'pending' || i.state === 'failed')).toBe(true);
      // The status says why, and no message names the password.
      expect(view.sourceError?.message).toMatch(/^PostgreSQL at 127\.0\.0\.1:\d+\/postgres is unavailable/);
      expect(gateway.output()).toMatch(/PostgreSQL at 127\.0\.0\.1:\d+\/postgres is unavailable/);
      expect(gateway.output()).not.toContain(pg.password);
    } finally {
      await pg.start();
    }
    const filled = await waitFor('the range filled', allDone, 90_000);
    expect(filled.sourceError).toBeNull();
    // (Every interval of the range was pending or failed during the outage, and is done now.)
    const [buckets] = await pg.sql`SELECT count(DISTINCT bucket)::int AS n FROM api_rollup
      WHERE bucket >= ${new Date(t0 + 20 * FIVE_MINUTES)} AND bucket < ${new Date(t0 + 26 * FIVE_MINUTES)}`;
    expect(buckets?.n).toBe(6);
  }, 180_000);

  it("keeps dumps in the tenant's cache folder only until their interval is final", async () => {
    const folder = join(root, 'cache', 'acme', 'postgres', 'api_5m');
    // (A dump under way, of an interval in the late window, is still a temporary file.)
    const dumps = (await readdir(folder)).filter((name) => !name.endsWith('.tmp'));
    expect(dumps.length).toBeGreaterThan(0);
    // An interval's dump is in parts, named by the interval's start and the part.
    expect(dumps.every((name) => /^\d{4}-\d{2}-\d{2}T\d{6}Z\.\d+\.pgcopy$/.test(name))).toBe(true);
    // Only intervals late rows may still change (the last 15 minutes) keep theirs.
    expect(new Set(dumps.map((name) => name.split('.')[0])).size).toBeLessThanOrEqual(4);
    // The rollup reads its time column only for its bucket, so its dumps leave it out: loaded back, each holds the
    // scope, the dimension and the measure's column, those only.
    await pg.sql`CREATE TABLE api_back (org text, proxy text, ms float8)`;
    for (const name of dumps) {
      const writable = await pg.sql`COPY api_back FROM STDIN (FORMAT binary)`.writable();
      await pipeline(createReadStream(join(folder, name)), writable);
    }
    const [back] = await pg.sql`SELECT count(*)::int AS n, count(org)::int AS orgs FROM api_back`;
    expect(back?.n).toBeGreaterThan(0);
    expect(back?.orgs).toBe(back?.n);
  });

  /** The labels rollup's intervals of the day computed again, and its rows in the sink equal to the source's own. */
  const labelsRecomputed = async (measures: Record<string, string>) => {
    const { status } = await call('POST', '/v1/rollups/labels_5m/backfill', {
      from: new Date(labelsFrom).toISOString(),
      to: new Date(end).toISOString(),
    });
    expect(status).toBe(202);
    const names = Object.keys(measures);
    // The same aggregates, counts and sums as the sink's numbers.
    const sql = Object.entries(measures)
      .map(
        ([name, expression]) =>
          `${/^(count|sum)\(/.test(expression) ? `${expression}::float8` : expression} AS ${name}`,
      )
      .join(', ');
    const rows = (list: Record<string, unknown>[]) =>
      list.map((r) => [new Date(r.bucket as Date).getTime(), r.org, ...names.map((n) => r[n])]);
    return waitFor(
      'the labels rollup loaded as the source holds it',
      async () => {
        const [mine, theirs] = await Promise.all([
          pg.sql.unsafe(`SELECT bucket, org, ${names.join(', ')} FROM labels_rollup
                         WHERE bucket < '${new Date(end).toISOString()}' ORDER BY 1, 2 NULLS FIRST`),
          pg.sql.unsafe(`SELECT date_bin('5 minutes', ts, timestamptz 'epoch') AS bucket, org, ${sql}
                         FROM facts.labels WHERE ts < '${new Date(end).toISOString()}' GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST`),
        ]);
        const view = await rollup('labels_5m');
        const settled = (view.detail ?? [])
          .filter((i) => Date.parse(i.start) >= labelsFrom && Date.parse(i.start) < end)
          .every((i) => i.state === 'done');
        return settled && JSON.stringify(rows(mine)) === JSON.stringify(rows(theirs)) ? theirs : undefined;
      },
      60_000,
    );
  };

  it('loads a NULL and an empty scope and a text measure, after intervals loaded without rows', async () => {
    // Its intervals done without rows first: the sink table is made then, without the measures no value typed yet.
    await waitFor('the labels intervals done, empty', async () => {
      const view = await rollup('labels_5m');
      const done = (view.detail ?? []).filter(
        (i) => Date.parse(i.start) >= labelsFrom && Date.parse(i.start) < end && i.state === 'done',
      );
      return done.length === LABEL_INTERVALS || undefined;
    });
    // Rows in the last two intervals, their scope in turn NULL, empty and named.
    await pg.sql.unsafe(`
      INSERT INTO facts.labels
      SELECT to_timestamp(${(labelsFrom + FIVE_MINUTES) / 1000}) + i * interval '9 seconds',
             CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE 'o1' END, 'label-' || (i * 7 % 5), i * 3, i / 4.0
      FROM generate_series(0, 59) i`);
    const loaded = await labelsRecomputed(labelMeasures);
    expect(loaded.length).toBe(6);
    const [type] = await pg.sql`SELECT data_type FROM information_schema.columns
                                WHERE table_name = 'labels_rollup' AND column_name = 'first_label'`;
    expect(type?.data_type).toBe('text');
    // The NULL scope and the empty one are one scope to the rollup: the audit adds up the server's two groups.
    const withRows = await waitFor('both intervals with rows audited', async () => {
      const { body } = await call('GET', '/v1/rollups/labels_5m/audit');
      const audited = (body.audits as Audit[]).filter(
        (a) => Date.parse(a.intervalStart) > labelsFrom && Date.parse(a.intervalStart) < end && a.rawRows > 0,
      );
      return audited.length === 2
        ? audited.sort((a, b) => Date.parse(a.intervalStart) - Date.parse(b.intervalStart))
        : undefined;
    });
    expect(withRows.map((a) => [a.ok, a.rawRows, a.scopes])).toEqual([
      [true, 34, 2],
      [true, 26, 2],
    ]);
  }, 120_000);

  it('dumps a column as the type an ALTER TABLE gave it, not the type it had', async () => {
    await pg.sql`ALTER TABLE facts.labels ALTER COLUMN v TYPE double precision USING v + 0.25`;
    const loaded = await labelsRecomputed(labelMeasures);
    expect(loaded.some((r) => !Number.isInteger(Number(r.v_sum)))).toBe(true);
  }, 120_000);

  it('dumps and reads the columns of a definition a reload changed, for the same rows', async () => {
    const reloads = () =>
      gateway
        .output()
        .split('\n')
        .filter((line) => line.includes('"config.reloaded"')).length;
    const before = reloads();
    labelMeasures = { ...labelMeasures, w_sum: 'sum(w)' };
    await writeFile(join(root, 'gateway.json'), JSON.stringify(config(), null, 2));
    gateway.child.kill('SIGHUP');
    await waitFor('the configuration reloaded', async () => reloads() > before || undefined);
    const loaded = await labelsRecomputed(labelMeasures);
    expect(loaded.filter((r) => r.w_sum !== null).length).toBe(6);
  }, 120_000);
});
