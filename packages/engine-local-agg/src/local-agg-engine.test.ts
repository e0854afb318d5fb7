import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectRows } from '@lakegate/engine-api';
import { KIT_TENANT, runEngineConformance } from '@lakegate/engine-api/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAggEngine } from './local-agg-engine.js';
import { bindFiles, tempFolder, writeCsvDataset } from './test-support.js';

runEngineConformance({ describe, it, beforeAll, afterAll }, 'local-agg', {
  async setup(tables) {
    const folder = await tempFolder('local-agg-kit-');
    const bindings = await Promise.all(
      Object.entries(tables).map(([name, table]) => writeCsvDataset(folder.dir, KIT_TENANT, name, table)),
    );
    const engine = new LocalAggEngine(
      { threads: 2, inlineBytes: 4 * 1024 * 1024, rangeBytes: 16 * 1024 * 1024 },
      { storage: { tenantDirectories: () => [folder.dir] } },
    );
    return { engine, tables: bindings, teardown: folder.remove };
  },
});

/** A one-thread engine over a fresh folder of the tenant's own, for CSV files a test writes. */
async function csvEngine() {
  const folder = await tempFolder('local-agg-csv-');
  const engine = new LocalAggEngine(
    { threads: 1, inlineBytes: 1024 * 1024, rangeBytes: 1024 * 1024 },
    { storage: { tenantDirectories: () => [folder.dir] } },
  );
  return { folder, engine };
}

describe('local-agg reading CSV edge cases', () => {
  it('reads quoted fields, doubled quotes, quoted empty fields, CRLF and a last line without a line break', async () => {
    const { folder, engine } = await csvEngine();
    try {
      const path = join(folder.dir, 'q.csv');
      await writeFile(path, 's,n\r\n"z",1\r\n"a,b",2\r\n"say ""hi""",3\r\n,4\r\n"",5\r\n"ab",6');
      const binding = await bindFiles('acme', 'q', 'csv', [path]);
      const run = async (sql: string) =>
        collectRows(
          await engine.execute(
            { queryId: 'q', tenant: 'acme', sql, tables: [binding] },
            { signal: new AbortController().signal },
          ),
        );
      // An empty field is NULL, quoted or not (DuckDB's allow_quoted_nulls).
      expect(await run('SELECT s, n FROM q')).toEqual([
        ['z', 1n],
        ['a,b', 2n],
        ['say "hi"', 3n],
        [null, 4n],
        [null, 5n],
        ['ab', 6n],
      ]);
      expect(await run('SELECT s, sum(n) AS total FROM q GROUP BY s ORDER BY total')).toEqual([
        ['z', 1n],
        ['a,b', 2n],
        ['say "hi"', 3n],
        ['ab', 6n],
        [null, 9n],
      ]);
    } finally {
      await engine.close();
      await folder.remove();
    }
  });

  it('reads short lines as NULLs and names a value beyond the sampled rows that does not fit its column', async () => {
    const { folder, engine } = await csvEngine();
    try {
      const short = join(folder.dir, 'short.csv');
      await writeFile(short, 's,n,x\na,1,2\nb,-3\nc\n');
      // No line break at the end, and the last field empty right after a line whose field began with a minus:
      // the empty field is NULL (the decoder must not read past the line), -0 is 0.
      const signs = join(folder.dir, 'signs.csv');
      await writeFile(signs, 's,n\nk,-1\nk,-0\nk,0\nz,');
      const bad = join(folder.dir, 'bad.csv');
      const rows = Array.from({ length: 20_600 }, (_, i) => `k,${i}`);
      rows[20_550] = 'k,12x';
      await writeFile(bad, `s,n\n${rows.join('\n')}\n`);
      const sign = join(folder.dir, 'sign.csv');
      const signRows = Array.from({ length: 20_600 }, (_, i) => `k,${i}`);
      signRows[20_550] = 'k,-';
      await writeFile(sign, `s,n\n${signRows.join('\n')}\n`);
      const tables = [
        await bindFiles('acme', 'short', 'csv', [short]),
        await bindFiles('acme', 'bad', 'csv', [bad]),
        await bindFiles('acme', 'signs', 'csv', [signs]),
        await bindFiles('acme', 'sign', 'csv', [sign]),
      ];
      const run = async (sql: string) =>
        collectRows(
          await engine.execute({ queryId: 'q', tenant: 'acme', sql, tables }, { signal: new AbortController().signal }),
        );
      expect(await run('SELECT s, n, x FROM short')).toEqual([
        ['a', 1n, 2n],
        ['b', -3n, null],
        ['c', null, null],
      ]);
      expect(await run('SELECT n, count(*) AS c FROM signs GROUP BY n ORDER BY n NULLS LAST')).toEqual([
        [-1n, 1n],
        [0n, 2n],
        [null, 1n],
      ]);
      await expect(run('SELECT s, sum(n) FROM sign GROUP BY s')).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('Column "n" holds "-", which is not a BIGINT'),
      });
      await expect(run('SELECT s, sum(n) FROM bad GROUP BY s')).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('Column "n" holds "12x", which is not a BIGINT'),
      });
    } finally {
      await engine.close();
      await folder.remove();
    }
  });
});

describe('local-agg row filters and qualifiers', () => {
  it('applies a binding’s row filter to scans and aggregations, and declines a filter it cannot read', async () => {
    const { folder, engine } = await csvEngine();
    try {
      const path = join(folder.dir, 'orders.csv');
      await writeFile(path, 'region,amount\neu,1\neu,2\nus,100\n');
      const binding = await bindFiles('acme', 'orders', 'csv', [path]);
      const request = (sql: string, rowFilter = "region = 'eu'") => ({
        queryId: 'f',
        tenant: 'acme',
        sql,
        tables: [{ ...binding, rowFilter }],
        qualifiers: [['acme'], ['lakegate', 'acme']],
      });
      const signal = new AbortController().signal;
      const run = async (sql: string) => collectRows(await engine.execute(request(sql), { signal }));
      expect(await run('SELECT sum(amount), count(*) FROM orders')).toEqual([[3n, 2n]]);
      expect(await run("SELECT * FROM acme.orders WHERE amount > 1 OR region = 'us'")).toEqual([['eu', 2n]]);
      expect(await run('SELECT region, max(amount) FROM lakegate.acme.orders GROUP BY region')).toEqual([['eu', 2n]]);
      await expect(run('SELECT * FROM globex.orders')).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' });
      const declined = await engine.check(request('SELECT count(*) FROM orders', "lower(region) = 'eu'"));
      expect(declined.supported).toBe(false);
      if (!declined.supported) expect(declined.reason).not.toContain('lower(region)');
    } finally {
      await engine.close();
      await folder.remove();
    }
  });
});
