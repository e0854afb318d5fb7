import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectRows, type Engine, type FileTableBinding } from '@lakegate/engine-api';
import { duckdbEngineFactory } from '@lakegate/engine-duckdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AggregationPass } from '../exec/aggregation-pass.js';
import { MergedGroups } from '../exec/merge-groups.js';
import type { GroupingSetPlan, PlainGroups } from '../exec/plan.js';
import { parseLocalQuery } from '../query/parse-query.js';
import { sniffFile } from '../table/file-layout.js';
import { bindFiles, tempFolder } from '../test-support.js';
import { planRollupAnswer, type RollupDefinition, readRollupLines, rollupLines, rollupPass } from './rollup-plan.js';

const TENANT = 'acme';
const START = Date.UTC(2026, 0, 1, 10, 0, 0);
const MINUTE = 60_000;

const definition: RollupDefinition = {
  name: 'events_5m',
  source: 'events',
  intervalMs: 5 * MINUTE,
  timeColumn: 'ts',
  dimensions: ['host', 'hour'],
  derived: { hour: "date_trunc('hour', ts)" },
  measures: {
    n: 'count(*)',
    total: 'sum(ms)',
    slow: 'count(*) FILTER (WHERE ms > 100)',
    p90: 'quantile_cont(ms, 0.9)',
    worst: 'max(ms)',
    first_path: 'min(path)',
  },
};

/** Events over two hours, every 7 seconds, with NULL hosts and NULL latencies now and then. */
function eventsCsv(): string {
  const lines = ['ts,host,path,ms'];
  for (let i = 0; i < 1030; i++) {
    const ts = new Date(START + i * 7000).toISOString().replace('T', ' ').slice(0, 19);
    const host = i % 17 === 0 ? '' : ['a', 'b', 'c'][i % 3];
    const ms = i % 23 === 0 ? '' : String((i * 37) % 250);
    lines.push(`${ts},${host},/p/${i % 5},${ms}`);
  }
  return `${lines.join('\n')}\n`;
}

describe('answering from a rollup gives the answer of the raw data', () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;
  let duckdb: Engine;
  let binding: FileTableBinding;
  let intervals: PlainGroups[];
  let columns: Awaited<ReturnType<typeof sniffFile>>['columns'];

  beforeAll(async () => {
    folder = await tempFolder('local-agg-rollup-');
    const path = join(folder.dir, 'events.csv');
    await writeFile(path, eventsCsv());
    binding = await bindFiles(TENANT, 'events', 'csv', [path]);
    const layout = await sniffFile(path, 'csv');
    columns = layout.columns;
    // Compute every 5-minute interval as the orchestrator does, and keep what its file would hold.
    intervals = [];
    for (let start = START; start < START + 2 * 60 * MINUTE; start += definition.intervalMs) {
      const { pass, finishes } = rollupPass([definition], columns, start, start + definition.intervalMs);
      const thread = new AggregationPass(pass);
      thread.consume({ path, start: 0, end: binding.snapshot.files[0]?.size ?? 0 }, layout);
      const merged = new MergedGroups(pass.sets[0] as GroupingSetPlan);
      merged.add(thread.export()[0] as Parameters<MergedGroups['add']>[0]);
      const lines = rollupLines(finishes[0] as (typeof finishes)[0], merged);
      const read = readRollupLines(lines.text);
      // The rows it reports are those its lines hold.
      expect(lines.rows).toBe(read.rows);
      intervals.push(read.groups);
    }
    const parsed = duckdbEngineFactory.parseConfig({ threads: 1, memoryLimit: '256MB' });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    duckdb = await duckdbEngineFactory.create(parsed.config, { storage: { tenantDirectories: () => [folder.dir] } });
  });
  afterAll(async () => {
    await duckdb?.close();
    await folder?.remove();
  });

  const at = (minutes: number) =>
    `TIMESTAMP '${new Date(START + minutes * MINUTE).toISOString().replace('T', ' ').slice(0, 19)}'`;

  it.each([
    `SELECT host, count(*) AS n, sum(ms) AS total FROM events WHERE ts >= ${at(15)} AND ts < ${at(30)} GROUP BY host ORDER BY host`,
    `SELECT host, count(*) AS n FROM events WHERE ts >= ${at(15)} AND ts < ${at(30)} AND (ts < ${at(20)} OR host = 'b') GROUP BY host ORDER BY host`,
    `SELECT date_trunc('hour', ts) AS h, count(*) FILTER (WHERE ms > 100) AS slow, quantile_cont(ms, 0.9) AS p90, max(ms) AS worst FROM events WHERE ts >= ${at(0)} AND ts < ${at(120)} GROUP BY 1 ORDER BY 1`,
    `SELECT time_bucket(INTERVAL '15 minutes', ts) AS q, host, avg(ms) AS mean, min(path) AS p FROM events WHERE ts >= ${at(10)} AND ts < ${at(70)} AND host IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2`,
  ])('%s', async (sql) => {
    const query = parseLocalQuery(sql);
    if (query.shape !== 'aggregate') throw new Error('expected an aggregation');
    const plan = planRollupAnswer(definition, query, columns);
    if ('reason' in plan) throw new Error(`declined: ${plan.reason}`);
    const result = plan.finish(intervals, 1000);
    const ours = Array.from({ length: result.rowCount }, (_, r) => result.columns.map((c) => c[r]));
    const theirs = await collectRows(
      await duckdb.execute(
        { queryId: 'r', tenant: TENANT, sql, tables: [binding] },
        { signal: new AbortController().signal },
      ),
    );
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.map((row) => row.map((v) => (typeof v === 'number' ? Number(v.toPrecision(12)) : v)))).toEqual(
      theirs.map((row) => row.map((v) => (typeof v === 'number' ? Number(v.toPrecision(12)) : v))),
    );
  });

  it.each([
    [`SELECT count(*) FROM events WHERE ts >= ${at(1)} AND ts < ${at(30)}`, 'aligned'],
    [`SELECT count(*) FROM events`, 'time range'],
    [`SELECT path, count(*) FROM events WHERE ts >= ${at(0)} AND ts < ${at(30)} GROUP BY path`, 'dimension'],
    [`SELECT sum(ms) FILTER (WHERE ms > 5) FROM events WHERE ts >= ${at(0)} AND ts < ${at(30)}`, 'aggregate'],
    [
      `SELECT time_bucket(INTERVAL '1 minute', ts), count(*) FROM events WHERE ts >= ${at(0)} AND ts < ${at(30)} GROUP BY 1`,
      'finer',
    ],
    [`SELECT count(*) FROM events WHERE ts >= ${at(0)} AND ts < ${at(30)} AND ms > 3`, 'column'],
  ])('declines %s', (sql, reason) => {
    const query = parseLocalQuery(sql);
    if (query.shape !== 'aggregate') throw new Error('expected an aggregation');
    const plan = planRollupAnswer(definition, query, columns);
    expect('reason' in plan && plan.reason).toMatch(new RegExp(reason));
  });
});
