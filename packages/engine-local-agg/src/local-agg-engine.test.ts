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

describe('local-agg reading CSV edge cases', () => {
  it('reads quoted fields, doubled quotes, CRLF and a last line without a line break', async () => {
    const folder = await tempFolder('local-agg-csv-');
    const engine = new LocalAggEngine(
      { threads: 1, inlineBytes: 1024 * 1024, rangeBytes: 1024 * 1024 },
      { storage: { tenantDirectories: () => [folder.dir] } },
    );
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
      const expected = [
        ['z', 1n],
        ['a,b', 2n],
        ['say "hi"', 3n],
        [null, 4n],
        ['', 5n],
        ['ab', 6n],
      ];
      expect(await run('SELECT s, n FROM q')).toEqual(expected);
      expect(await run('SELECT s, sum(n) AS total FROM q GROUP BY s ORDER BY total')).toEqual(expected);
    } finally {
      await engine.close();
      await folder.remove();
    }
  });
});
