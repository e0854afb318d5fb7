import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { combineLayouts, type FileLayout, sniffFile } from '../table/file-layout.js';
import { tempFolder } from '../test-support.js';
import type { PassPlan } from './plan.js';
import { type PassWork, WorkerPool } from './worker-pool.js';

describe('the worker pool', () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;
  const pool = new WorkerPool(2);
  let work: PassWork[];
  let plan: PassPlan;

  beforeAll(async () => {
    folder = await tempFolder('local-agg-worker-pool-');
    const layouts: FileLayout[] = [];
    work = [];
    for (const name of ['a', 'b']) {
      const path = join(folder.dir, `${name}.csv`);
      await writeFile(path, `n\n${Array.from({ length: 1000 }, (_, i) => i).join('\n')}\n`);
      const layout = await sniffFile(path, 'csv');
      layouts.push(layout);
      work.push({ range: { path, start: 0, end: (await stat(path)).size }, layout });
    }
    const columns = combineLayouts(layouts);
    plan = { columns, needed: [0], sets: [{ dims: [], states: [{ kind: 'count', column: -1, type: 'bigint' }] }] };
  });
  afterAll(async () => {
    await pool.close();
    await folder?.remove();
  });

  it('hands each worker a range before any gets a second, so two ranges run on two threads', async () => {
    const output = await pool.run(plan, work, new AbortController().signal);
    expect(output.rows).toBe(2000);
    // One partial per thread: each counted one file's rows, none sat idle while the other read both.
    expect(output.partials).toHaveLength(2);
    const counted = output.partials.map((p) => (p[0]?.states[0] as { counts?: Float64Array } | undefined)?.counts?.[0]);
    expect(counted).toEqual([1000, 1000]);
  });
});
