import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hitsSelect, readClickBenchQueries } from '../support/clickbench.js';
import { type CompatHarness, startCompatHarness } from '../support/compat.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'corpora', 'clickbench');
const queries = readClickBenchQueries(corpus);

/** ClickBench's 43 queries through POST /v1/query, the Postgres protocol and directly on DuckDB, on the same synthetic `hits` rows. */
describe.skipIf(!queries)(
  `ClickBench compatibility${queries ? '' : ' (skipped: shared/corpora/clickbench is absent)'}`,
  () => {
    let root: string;
    let harness: CompatHarness;

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'lakegate-clickbench-'));
      harness = await startCompatHarness(root, { hits: hitsSelect(20_000) });
    }, 120_000);
    afterAll(async () => {
      await harness?.close();
      await rm(root, { recursive: true, force: true });
    });

    it('has all 43 queries', () => {
      expect(queries).toHaveLength(43);
    });

    for (const [index, sql] of (queries ?? []).entries()) {
      it(`query ${index + 1} gives DuckDB's answer`, async () => {
        const expected = await harness.direct(sql);
        const actual = await harness.viaGateway(sql);
        expect(actual.error, sql).toBeUndefined();
        expect(actual.status).toBe(200);
        expect(actual.rows).toEqual(expected);
        // The Postgres protocol gives the same answer.
        expect(await harness.viaPostgres(sql)).toEqual(expected);
      });
    }
  },
);
