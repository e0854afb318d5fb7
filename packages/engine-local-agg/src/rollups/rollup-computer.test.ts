import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetSnapshot } from '@lakegate/engine-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAggEngine } from '../local-agg-engine.js';
import { copyHeader } from '../table/copy-format.js';
import type { LocalColumn } from '../table/local-types.js';
import { bindFiles, COPY_TRAILER, copyRow, tempFolder } from '../test-support.js';
import { isRollupComputer, readRollupInterval } from './rollup-computer.js';
import type { RollupDefinition } from './rollup-plan.js';

const START = Date.UTC(2026, 0, 1, 10, 0, 0);
const MINUTE = 60_000;
const text = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

const definition: RollupDefinition = {
  name: 'hits_5m',
  source: 'hits',
  intervalMs: 5 * MINUTE,
  timeColumn: 'ts',
  dimensions: ['host'],
  derived: {},
  measures: { n: 'count(*)', total: 'sum(ms)' },
};

/** One row a minute from `from` (minutes after START), `count` rows, hosts a and b in turn, ms = the minute. */
function hitsCsv(from: number, count: number): string {
  const lines = ['ts,host,ms'];
  for (let m = from; m < from + count; m++) lines.push(`${text(START + m * MINUTE)},${m % 2 === 0 ? 'a' : 'b'},${m}`);
  return `${lines.join('\n')}\n`;
}

describe('local-agg as a rollup computer', () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;
  let engine: LocalAggEngine;
  let snapshot: DatasetSnapshot;
  const signal = new AbortController().signal;

  beforeAll(async () => {
    folder = await tempFolder('local-agg-rollup-computer-');
    await writeFile(join(folder.dir, 'early.csv'), hitsCsv(0, 12));
    await writeFile(join(folder.dir, 'late.csv'), hitsCsv(20, 10));
    const binding = await bindFiles('acme', 'hits', 'csv', [
      join(folder.dir, 'early.csv'),
      join(folder.dir, 'late.csv'),
    ]);
    snapshot = binding.snapshot;
    engine = new LocalAggEngine({ threads: 1, inlineBytes: 1024, rangeBytes: 1024 * 1024 });
  });
  afterAll(async () => {
    await engine?.close();
    await folder?.remove();
  });

  it('is recognised by its methods, not its id', () => {
    expect(isRollupComputer(engine)).toBe(true);
    expect(isRollupComputer({ id: 'local-agg', execute: () => undefined })).toBe(false);
  });

  it("reports each file's time span", async () => {
    expect(await engine.rollupTimeSpans(snapshot, 'TS', signal)).toEqual([
      { minMs: START, maxMs: START + 11 * MINUTE },
      { minMs: START + 20 * MINUTE, maxMs: START + 29 * MINUTE },
    ]);
  });

  it('computes an interval file that reads back with its rows, and answers from it', async () => {
    const [file] = await engine.computeRollupInterval(
      {
        definitions: [definition],
        snapshot,
        read: [snapshot.files[0]?.path ?? ''],
        startMs: START + 5 * MINUTE,
        endMs: START + 10 * MINUTE,
      },
      signal,
    );
    expect(file).toMatchObject({ rows: 5, groups: 2 });
    const stored = readRollupInterval(file?.text ?? '');
    expect(stored.rows).toBe(5);

    const sql = `SELECT host, count(*) AS n, sum(ms) AS total FROM hits
      WHERE ts >= TIMESTAMP '${text(START + 5 * MINUTE)}' AND ts < TIMESTAMP '${text(START + 10 * MINUTE)}'
      GROUP BY host ORDER BY host`;
    const [plan] = await engine.planRollupAnswers(sql, snapshot, [definition]);
    if (!plan || 'reason' in plan) throw new Error(`declined: ${plan?.reason}`);
    expect([plan.fromMs, plan.toMs]).toEqual([START + 5 * MINUTE, START + 10 * MINUTE]);
    const result = plan.finish([stored.groups], 100);
    const rows = Array.from({ length: result.rowCount }, (_, r) => result.columns.map((c) => c[r]));
    expect(rows).toEqual([
      ['a', 2n, 14n],
      ['b', 3n, 21n],
    ]);
  });

  it('reads only the files asked for, but checks the definition against every file', async () => {
    const request = { definitions: [definition], snapshot, read: [], startMs: START, endMs: START + 5 * MINUTE };
    expect(await engine.computeRollupInterval(request, signal)).toEqual([{ text: '', rows: 0, groups: 0 }]);
    const late = { ...request, read: [snapshot.files[1]?.path ?? ''] };
    expect((await engine.computeRollupInterval(late, signal))[0]).toMatchObject({ rows: 0 });
    const wrong = { ...request, definitions: [{ ...definition, timeColumn: 'host' }] };
    await expect(engine.computeRollupInterval(wrong, signal)).rejects.toThrow(/only TIMESTAMP columns/);
  });

  it('declines, with a reason per definition, what a rollup cannot answer', async () => {
    const plans = await engine.planRollupAnswers('SELECT count(*) FROM hits', snapshot, [definition, definition]);
    expect(plans).toEqual([{ reason: expect.stringMatching(/time range/) }, { reason: expect.any(String) }]);
    expect(await engine.planRollupAnswers('SELECT * FROM hits', snapshot, [definition])).toEqual([
      { reason: 'not an aggregation' },
    ]);
  });

  it('computes an interval dumped in parts, some of them only a header', async () => {
    await writeFile(join(folder.dir, 'part.0.csv'), hitsCsv(0, 3));
    await writeFile(join(folder.dir, 'part.1.csv'), 'ts,host,ms\n');
    await writeFile(join(folder.dir, 'part.2.csv'), hitsCsv(3, 2));
    const paths = ['part.0.csv', 'part.1.csv', 'part.2.csv'].map((name) => join(folder.dir, name));
    const parts = (await bindFiles('acme', 'hits', 'csv', paths)).snapshot;
    const [file] = await engine.computeRollupInterval(
      { definitions: [definition], snapshot: parts, read: paths, startMs: START, endMs: START + 5 * MINUTE },
      signal,
    );
    expect(file).toMatchObject({ rows: 5, groups: 2 });
    // Minutes 0, 2, 4 on host a and 1, 3 on host b: the sums are the minutes'.
    expect(readRollupInterval(file?.text ?? '').rows).toBe(5);
    expect(file?.text).toMatch(/"host":"a".*"total":6/);
    expect(file?.text).toMatch(/"host":"b".*"total":4/);
  });

  it('computes a dumped interval whose files leave out the time column, every row in its bucket', async () => {
    // Minutes 0 to 4 as a dump holds them, without their times: hosts a and b in turn, ms = the minute.
    const columns: LocalColumn[] = [
      { name: 'host', type: 'varchar' },
      { name: 'ms', type: 'double' },
    ];
    const rows = [0, 1, 2, 3, 4].map((m) => copyRow(columns, [m % 2 === 0 ? 'a' : 'b', m]));
    const path = join(folder.dir, 'dump.0.pgcopy');
    await writeFile(path, Buffer.concat([copyHeader(columns), ...rows, COPY_TRAILER]));
    const dump = (await bindFiles('acme', 'hits', 'pgcopy', [path])).snapshot;
    const interval = { startMs: START, endMs: START + 5 * MINUTE };
    const request = { definitions: [definition], snapshot: dump, read: [path], ...interval, rowsWithin: true };
    const [file] = await engine.computeRollupInterval(request, signal);

    // The same rows with their times, read as any file is: the same interval file, bucket included.
    await writeFile(join(folder.dir, 'timed.csv'), hitsCsv(0, 5));
    const timed = (await bindFiles('acme', 'hits', 'csv', [join(folder.dir, 'timed.csv')])).snapshot;
    const read = timed.files.map((f) => f.path);
    const [expected] = await engine.computeRollupInterval(
      { definitions: [definition], snapshot: timed, read, ...interval },
      signal,
    );
    expect(file).toMatchObject({ rows: 5, groups: 2 });
    expect(file?.text).toBe(expected?.text);
    expect(file?.text).toContain(`"bucket":"${text(START)}"`);

    // Only a dump's rows may be taken for the interval's, and only a bucket may stand on its start.
    await expect(engine.computeRollupInterval({ ...request, rowsWithin: false }, signal)).rejects.toThrow(
      /"ts" does not exist/,
    );
    const readsTime = { ...definition, measures: { ...definition.measures, last: 'max(ts)' } };
    await expect(engine.computeRollupInterval({ ...request, definitions: [readsTime] }, signal)).rejects.toThrow(
      /reads "ts" beyond its bucket/,
    );
  });

  it('reports a damaged interval file', () => {
    expect(() => readRollupInterval('{"_rows": 3, "_state": "not json"}\n')).toThrow();
  });
});
