import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempFolder } from '../test-support.js';
import { combineLayouts, sniffFile } from './file-layout.js';

describe('combining the layouts of a dataset’s files', () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;
  const sniff = async (name: string, text: string, format: 'csv' | 'ndjson' = 'csv') => {
    await writeFile(join(folder.dir, name), text);
    return sniffFile(join(folder.dir, name), format);
  };
  beforeAll(async () => {
    folder = await tempFolder('local-agg-file-layout-');
  });
  afterAll(async () => {
    await folder?.remove();
  });

  it('takes a column’s type from the files whose sample holds a value of it', async () => {
    const full = await sniff('full.csv', 'ts,host,ms\n2026-01-01 10:00:00,a,1.5\n');
    const header = await sniff('header.csv', 'ts,host,ms\n');
    const nulls = await sniff('nulls.csv', 'ts,host,ms\n2026-01-01 10:05:00,,\n');
    expect(header).toMatchObject({ empty: true, typed: [false, false, false] });
    expect(nulls).toMatchObject({ empty: false, typed: [true, false, false] });
    expect(combineLayouts([header, nulls, full])).toEqual([
      { name: 'ts', type: 'timestamp' },
      { name: 'host', type: 'varchar' },
      { name: 'ms', type: 'double' },
    ]);
    // No file tells: VARCHAR, as before.
    expect(combineLayouts([header]).map((c) => c.type)).toEqual(['varchar', 'varchar', 'varchar']);
    // Files that disagree still widen.
    const text = await sniff('text.csv', 'ts,host,ms\n2026-01-01 10:00:00,a,slow\n');
    expect(combineLayouts([full, text]).map((c) => c.type)).toEqual(['timestamp', 'varchar', 'varchar']);
  });

  it('keeps no part of the sampled text alive in a layout', async () => {
    // Column names cut from the sample would hold the whole sample (up to 8 MiB per file) in the engine's cache of
    // layouts. Twenty layouts of 1 MiB samples each must not hold 20 MiB.
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    const row = `2026-01-01 10:00:00,${'x'.repeat(100)},1.5\n`;
    const header = 'timestamp_of_request,a_rather_long_host_name,response_milliseconds\n';
    const text = header + row.repeat(Math.ceil(2 ** 20 / row.length));
    await writeFile(join(folder.dir, 'big.csv'), text);
    collect();
    const before = process.memoryUsage().heapUsed;
    const layouts = [];
    for (let i = 0; i < 20; i++) layouts.push(await sniffFile(join(folder.dir, 'big.csv'), 'csv'));
    collect();
    const held = process.memoryUsage().heapUsed - before;
    expect(layouts[19]?.columns.map((c) => c.name)).toEqual([
      'timestamp_of_request',
      'a_rather_long_host_name',
      'response_milliseconds',
    ]);
    expect(held).toBeLessThan(4 * 2 ** 20);
  });

  it('still refuses a file whose header differs, rows or none; an empty NDJSON file names nothing', async () => {
    const full = await sniff('full.csv', 'ts,host,ms\n2026-01-01 10:00:00,a,1.5\n');
    const other = await sniff('other.csv', 'ts,ms,host\n');
    expect(() => combineLayouts([full, other])).toThrow(/share one set of columns/);
    const json = await sniff('a.ndjson', '{"ts":"2026-01-01 10:00:00","n":1}\n', 'ndjson');
    const nothing = await sniff('b.ndjson', '', 'ndjson');
    expect(combineLayouts([nothing, json])).toEqual([
      { name: 'ts', type: 'timestamp' },
      { name: 'n', type: 'bigint' },
    ]);
  });
});
