import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CompatHarness, startCompatHarness } from '../support/compat.js';
import { TPCH_QUERIES, tpchTables } from '../support/tpch.js';

/** The 22 TPC-H queries through POST /v1/query, the Postgres protocol and directly on DuckDB, on the same TPC-H-shaped data (scale 0.01). */
describe('TPC-H compatibility', () => {
  let root: string;
  let harness: CompatHarness;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-tpch-'));
    harness = await startCompatHarness(root, tpchTables(0.01));
  }, 120_000);
  afterAll(async () => {
    await harness?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('has all 22 queries', () => {
    expect(Object.keys(TPCH_QUERIES)).toHaveLength(22);
  });

  for (const [name, sql] of Object.entries(TPCH_QUERIES)) {
    it(`${name} gives DuckDB's answer`, async () => {
      const expected = await harness.direct(sql);
      const actual = await harness.viaGateway(sql);
      expect(actual.error, sql).toBeUndefined();
      expect(actual.status).toBe(200);
      expect(actual.rows).toEqual(expected);
      // The Postgres protocol gives the same answer.
      expect(await harness.viaPostgres(sql)).toEqual(expected);
      expect(actual.rows.length).toBeGreaterThan(0);
    });
  }
});
