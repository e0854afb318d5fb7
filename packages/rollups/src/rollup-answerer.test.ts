import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DatasetSnapshot, LakegateError } from '@lakegate/engine-api';
import { LocalAggEngine } from '@lakegate/engine-local-agg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeEngine, RollupSink } from './dependencies.js';
import type { IntervalRecord } from './interval-record.js';
import { MemoryRollupLedger } from './memory-rollup-ledger.js';
import type { RollupLedger } from './rollup-ledger.js';
import { Rollups } from './rollups.js';
import {
  directEngine,
  FixedSources,
  ledgerWith,
  MemorySink,
  MINUTE,
  recordingLogger,
  T0,
  TEST_SETTINGS,
  trafficRollup,
} from './test-support.js';

const at = (minutes: number): number => T0 + minutes * MINUTE;
const sqlTime = (ms: number): string => `TIMESTAMP '${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)}'`;

/** One row a minute for half an hour: host a on even minutes, b on odd ones, ms = the minute. */
function trafficCsv(): string {
  const lines = ['ts,host,ms'];
  for (let m = 0; m < 30; m++) lines.push(`${sqlTime(at(m)).slice(11, -1)},${m % 2 === 0 ? 'a' : 'b'},${m}`);
  return `${lines.join('\n')}\n`;
}

/** The hosts' rows and summed ms over `[from, to)` minutes, as the raw data has them. */
function expected(from: number, to: number): [string, bigint, bigint][] {
  const out = new Map<string, [bigint, bigint]>();
  for (let m = from; m < to; m++) {
    const host = m % 2 === 0 ? 'a' : 'b';
    const [n, sum] = out.get(host) ?? [0n, 0n];
    out.set(host, [n + 1n, sum + BigInt(m)]);
  }
  return [...out].sort().map(([host, [n, sum]]) => [host, n, sum]);
}

const query = (from: number, to: number, extra = '') =>
  `SELECT host, count(*) AS n, sum(ms) AS total FROM traffic
   WHERE ts >= ${sqlTime(at(from))} AND ts < ${sqlTime(at(to))} ${extra} GROUP BY host ORDER BY host`;

describe('answering queries from rollups', () => {
  let dir: string;
  let engine: LocalAggEngine;
  let snapshot: DatasetSnapshot;
  let now: number;
  let ledger: MemoryRollupLedger;
  const logger = recordingLogger();

  const rollupsWith = (computeEngine: ComputeEngine, over: RollupLedger = ledger, from: RollupSink = sink): Rollups =>
    new Rollups({
      tenants: { acme: [trafficRollup({ measures: { n: 'count(*)', total: 'sum(ms)' } })] },
      settings: TEST_SETTINGS,
      ledger: over,
      sources: new FixedSources([snapshot]),
      sink: from,
      computeEngine,
      // The computing engine counts the raw rows too: enough to audit in a unit test.
      auditEngine: { id: 'local-agg', execute: (request, { signal }) => engine.execute(request, { signal }) },
      logger,
      replicaId: () => 'replica-a',
      clock: () => now,
    });
  const sink = new MemorySink();
  let rollups: Rollups;
  let computing: ReturnType<typeof directEngine>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lakegate-rollup-answers-'));
    const path = join(dir, 'traffic.csv');
    await writeFile(path, trafficCsv());
    const info = await stat(path);
    const file = { path, size: info.size, etag: String(info.mtimeMs) };
    snapshot = { tenant: 'acme', dataset: 'traffic', format: 'csv', version: file.etag, files: [file] };
    engine = new LocalAggEngine({ threads: 1, inlineBytes: 1024, rangeBytes: 1024 * 1024 });
    now = at(26);
    ledger = new MemoryRollupLedger(() => now);
    computing = directEngine(engine, 'local-agg');
    rollups = rollupsWith(computing);
    await rollups.tick();
  });
  afterAll(async () => {
    await rollups?.close();
    await engine?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const rowsOf = (result: { columns: readonly (readonly unknown[])[]; rowCount: number }) =>
    Array.from({ length: result.rowCount }, (_, r) => result.columns.map((c) => c[r]));

  it('answers an aggregation that fits from the intervals, as the raw data would', async () => {
    const answer = await rollups.answerer.tryAnswer('acme', query(5, 25), snapshot, 100);
    expect(answer?.rollup).toBe('traffic_5m');
    expect(rowsOf(answer?.result ?? { columns: [], rowCount: 0 })).toEqual(expected(5, 25));
    expect(rollups.answerer.engineId).toBe('local-agg');
    // The intervals were audited by a real parser's count of the raw rows.
    const audited = JSON.parse((await ledger.rollupIntervals('acme/traffic_5m')).get(at(5)) ?? '{}') as IntervalRecord;
    expect(audited.audit).toMatchObject({ ok: true, rawRows: 5, rollupRows: 5 });
    const filtered = await rollups.answerer.tryAnswer('acme', query(0, 10, "AND host = 'b'"), snapshot, 100);
    expect(rowsOf(filtered?.result ?? { columns: [], rowCount: 0 })).toEqual(
      expected(0, 10).filter((r) => r[0] === 'b'),
    );
  });

  it("reads the records of the intervals it answers over, not the rollup's history", async () => {
    const asked: number[][] = [];
    let wholeReads = 0;
    const counting = rollupsWith(
      computing,
      ledgerWith(ledger, {
        rollupIntervals: (rollup) => {
          wholeReads++;
          return ledger.rollupIntervals(rollup);
        },
        rollupIntervalsAt: (rollup, starts) => {
          asked.push([...starts]);
          return ledger.rollupIntervalsAt(rollup, starts);
        },
      }),
    );
    const answer = await counting.answerer.tryAnswer('acme', query(10, 20), snapshot, 100);
    expect(rowsOf(answer?.result ?? { columns: [], rowCount: 0 })).toEqual(expected(10, 20));
    expect(asked).toEqual([[at(10), at(15)]]);
    expect(wholeReads).toBe(0);
    await counting.close();
  });

  it('reads the interval files of a range several at a time, and answers as the raw data would', async () => {
    // A sink 20 ms away, as an object store is: each get waits, and the most waiting at once is kept.
    let waiting = 0;
    let most = 0;
    const distant: RollupSink = {
      put: (key, body) => sink.put(key, body),
      get: async (key) => {
        most = Math.max(most, ++waiting);
        await new Promise((resolve) => setTimeout(resolve, 20));
        waiting--;
        return sink.get(key);
      },
    };
    const reading = rollupsWith(computing, ledger, distant);
    const answer = await reading.answerer.tryAnswer('acme', query(0, 25), snapshot, 100);
    expect(rowsOf(answer?.result ?? { columns: [], rowCount: 0 })).toEqual(expected(0, 25));
    expect(most).toBe(5);
    await reading.close();
  });

  it('leaves to the engines what does not fit', async () => {
    const runs = computing.runs;
    const misses = [
      // Not aligned to intervals.
      query(1, 10),
      // A measure the rollup does not keep.
      `SELECT max(ms) FROM traffic WHERE ts >= ${sqlTime(at(0))} AND ts < ${sqlTime(at(10))}`,
      // A dimension it does not keep.
      `SELECT ms, count(*) FROM traffic WHERE ts >= ${sqlTime(at(0))} AND ts < ${sqlTime(at(10))} GROUP BY ms`,
      // Beyond the newest complete interval.
      query(20, 30),
      // Before the rollup's start.
      query(-5, 10),
      // Not an aggregation.
      'SELECT * FROM traffic',
    ];
    for (const sql of misses) expect(await rollups.answerer.tryAnswer('acme', sql, snapshot, 100), sql).toBeUndefined();
    expect(computing.runs).toBe(runs + misses.length);

    // Another tenant's or another dataset's query does not even reach the engine.
    expect(
      await rollups.answerer.tryAnswer('globex', query(5, 25), { ...snapshot, tenant: 'globex' }, 100),
    ).toBeUndefined();
    expect(
      await rollups.answerer.tryAnswer('acme', query(5, 25), { ...snapshot, dataset: 'other' }, 100),
    ).toBeUndefined();
    expect(computing.runs).toBe(runs + misses.length);
  });

  it('does not answer over an interval that is not done or failed its audit', async () => {
    const record = JSON.parse((await ledger.rollupIntervals('acme/traffic_5m')).get(at(10)) ?? '{}') as IntervalRecord;
    const put = (changed: IntervalRecord) =>
      ledger.putRollupInterval('acme/traffic_5m', at(10), JSON.stringify(changed));
    try {
      await put({ ...record, state: 'pending' });
      expect(await rollups.answerer.tryAnswer('acme', query(5, 25), snapshot, 100)).toBeUndefined();
      await put({ ...record, audit: { at: '', rawRows: 5, rollupRows: 4, ok: false } });
      expect(await rollups.answerer.tryAnswer('acme', query(5, 25), snapshot, 100)).toBeUndefined();
      await put({ ...record, definition: 'another definition' });
      expect(await rollups.answerer.tryAnswer('acme', query(5, 25), snapshot, 100)).toBeUndefined();
      expect(await rollups.answerer.tryAnswer('acme', query(15, 25), snapshot, 100)).toBeDefined();
    } finally {
      await put(record);
    }
  });

  it('steps aside when the engine cannot take the answer', async () => {
    const busy = rollupsWith({
      id: 'local-agg',
      run: async () => {
        throw new LakegateError('ENGINE_BUSY', 'The local-agg engine is at capacity; retry shortly.');
      },
    });
    expect(await busy.answerer.tryAnswer('acme', query(5, 25), snapshot, 100)).toBeUndefined();
    expect(logger.events.at(-1)).toEqual({
      event: 'rollups.answer_failed',
      fields: { tenant: 'acme', error: 'The local-agg engine is at capacity; retry shortly.' },
    });
    await busy.close();
  });
});
