import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KIT_TENANT, runEngineConformance } from './conformance/index.js';
import { createReferenceEngine } from './reference-engine.js';
import type { DatasetSnapshot, TableBinding } from './types.js';

const binding = (name: string): TableBinding => {
  const snapshot: DatasetSnapshot = { tenant: KIT_TENANT, dataset: name, format: 'parquet', version: 'v1', files: [] };
  return { name, snapshot };
};

runEngineConformance({ describe, it, beforeAll, afterAll }, 'reference', {
  async setup(tables) {
    const engine = createReferenceEngine({ datasets: { [KIT_TENANT]: { ...tables } }, batchSize: 4096 });
    return { engine, tables: [binding('kit_people'), binding('kit_series')] };
  },
});

describe('reference engine', () => {
  it('check() refuses shapes outside its grammar with a reason', async () => {
    const engine = createReferenceEngine({ datasets: {} });
    const result = await engine.check({ queryId: 'q', tenant: 't', sql: 'SELECT count(*) FROM x', tables: [] });
    expect(result.supported).toBe(false);
  });

  it('does not resolve a table another tenant owns', async () => {
    const engine = createReferenceEngine({
      datasets: { a: { t: { columns: [], rows: [] } }, b: {} },
    });
    const request = { queryId: 'q', tenant: 'b', sql: 'SELECT * FROM t', tables: [binding('t')] };
    await expect(engine.execute(request, { signal: new AbortController().signal })).rejects.toMatchObject({
      code: 'UNKNOWN_TABLE',
    });
  });
});
