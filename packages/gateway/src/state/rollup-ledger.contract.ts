import { strict as assert } from 'node:assert';
import { ROLLUP_CHANGES_KEPT } from '@lakegate/rollups';
import { type ContractHarness, type ContractTestApi, expectUnavailable, sleep, using } from './contract-kit.js';
import type { RollupLedger } from './rollup-ledger.js';

/** Claim TTL of the tests: long enough for a loaded machine to claim twice in between, short to wait out. */
const TTL_MS = 1000;
const ROLLUP = 'acme/traffic_5m';
const START = 1_767_225_600_000;

/**
 * The rollup ledger contract: interval records per rollup, and claims that one owner holds until they lapse.
 *
 * @example
 * import { describe, it } from 'vitest';
 * describeRollupLedgerContract({ describe, it }, 'memory', { open: async () => ({ subject: new MemoryRollupLedger(), close: async () => {} }) });
 */
export function describeRollupLedgerContract(
  t: ContractTestApi,
  name: string,
  harness: ContractHarness<RollupLedger>,
): void {
  const open = () => harness.open();

  t.describe(`rollup ledger contract: ${name}`, () => {
    t.it('keeps interval records per rollup by start, a second put replacing the first', () =>
      using(open, async (ledger) => {
        assert.deepEqual(await ledger.rollupIntervals(ROLLUP), new Map());
        await ledger.putRollupInterval(ROLLUP, START, '{"state":"running"}');
        await ledger.putRollupInterval(ROLLUP, START + 300_000, '{"state":"done"}');
        await ledger.putRollupInterval('acme/other', START, '{"state":"failed"}');
        await ledger.putRollupInterval(ROLLUP, START, '{"state":"done"}');
        const records = await ledger.rollupIntervals(ROLLUP);
        assert.deepEqual(
          records,
          new Map([
            [START, '{"state":"done"}'],
            [START + 300_000, '{"state":"done"}'],
          ]),
        );
        records.clear();
        assert.equal((await ledger.rollupIntervals(ROLLUP)).size, 2, 'the answer is a copy');
        assert.deepEqual(await ledger.rollupIntervals('acme/other'), new Map([[START, '{"state":"failed"}']]));
        assert.deepEqual(
          await ledger.rollupIntervalsAt(ROLLUP, [START + 600_000, START + 300_000, START]),
          new Map([
            [START + 300_000, '{"state":"done"}'],
            [START, '{"state":"done"}'],
          ]),
          'the records asked for that exist',
        );
        assert.deepEqual(
          await ledger.rollupIntervalsAt('acme/other', [START]),
          new Map([[START, '{"state":"failed"}']]),
        );
        assert.deepEqual(await ledger.rollupIntervalsAt(ROLLUP, []), new Map());
        assert.deepEqual(await ledger.rollupIntervalsAt('acme/none', [START]), new Map());
      }),
    );

    t.it("counts each put of a rollup's records in its version, and notes the intervals put since one", () =>
      using(open, async (ledger) => {
        const at = (i: number) => START + i * 300_000;
        assert.deepEqual(await ledger.rollupChanges(ROLLUP, 0), { version: 0, starts: [] });
        await ledger.putRollupInterval(ROLLUP, at(0), '{"state":"running"}');
        await ledger.putRollupInterval(ROLLUP, at(1), '{"state":"done"}');
        await ledger.putRollupInterval(ROLLUP, at(0), '{"state":"done"}');
        assert.deepEqual(await ledger.rollupChanges(ROLLUP, 0), { version: 3, starts: [at(1), at(0)] });
        assert.deepEqual(await ledger.rollupChanges(ROLLUP, 2), { version: 3, starts: [at(0)] }, 'each interval once');
        assert.deepEqual(await ledger.rollupChanges(ROLLUP, 3), { version: 3, starts: [] });
        assert.deepEqual(
          await ledger.rollupChanges(ROLLUP, 4),
          { version: 3, starts: undefined },
          'a version ahead of the ledger (its data lost) is not answered',
        );
        await Promise.all([1, 2, 3, 4].map((i) => ledger.putRollupInterval('acme/other', at(i), '{"state":"done"}')));
        assert.equal((await ledger.rollupChanges('acme/other', 0)).version, 4, 'concurrent puts are each counted');
        assert.equal((await ledger.rollupChanges(ROLLUP, 0)).version, 3, 'per rollup');

        // Too far behind, the intervals put since are no longer all known.
        for (let i = 0; i < ROLLUP_CHANGES_KEPT; i++) await ledger.putRollupInterval(ROLLUP, at(i % 7), '{}');
        const version = 3 + ROLLUP_CHANGES_KEPT;
        assert.deepEqual(await ledger.rollupChanges(ROLLUP, 2), { version, starts: undefined });
        assert.equal((await ledger.rollupChanges(ROLLUP, version - ROLLUP_CHANGES_KEPT)).starts?.length, 7);
      }),
    );

    t.it('gives a claim to one owner at a time, per interval', () =>
      using(open, async (ledger) => {
        assert.equal(await ledger.claimRollupInterval(ROLLUP, START, 'replica-a', 60_000), true);
        assert.equal(await ledger.claimRollupInterval(ROLLUP, START, 'replica-b', 60_000), false);
        assert.equal(await ledger.claimRollupInterval(ROLLUP, START + 300_000, 'replica-b', 60_000), true);
        assert.equal(await ledger.claimRollupInterval('acme/other', START, 'replica-b', 60_000), true);
        const contenders = await Promise.all(
          ['c', 'd', 'e', 'f'].map((r) => ledger.claimRollupInterval(ROLLUP, START + 600_000, `replica-${r}`, 60_000)),
        );
        assert.equal(contenders.filter(Boolean).length, 1, 'one of concurrent claimants wins');
      }),
    );

    t.it('lets the owner renew its claim, and frees a claim whose TTL lapsed', () =>
      using(open, async (ledger) => {
        assert.equal(await ledger.claimRollupInterval(ROLLUP, START, 'replica-a', TTL_MS), true);
        await sleep(TTL_MS / 2);
        assert.equal(await ledger.claimRollupInterval(ROLLUP, START, 'replica-a', TTL_MS), true, 'renewed');
        await sleep(TTL_MS / 2 + 200);
        // Past the first claim's TTL, within the renewal's.
        assert.equal(await ledger.claimRollupInterval(ROLLUP, START, 'replica-b', TTL_MS), false);
        await sleep(TTL_MS);
        assert.equal(await ledger.claimRollupInterval(ROLLUP, START, 'replica-b', TTL_MS), true, 'lapsed');
        assert.equal(await ledger.claimRollupInterval(ROLLUP, START, 'replica-a', TTL_MS), false);
      }),
    );

    t.it('releases a claim for its owner only', () =>
      using(open, async (ledger) => {
        await ledger.claimRollupInterval(ROLLUP, START, 'replica-a', 60_000);
        await ledger.releaseRollupInterval(ROLLUP, START, 'replica-b');
        assert.equal(await ledger.claimRollupInterval(ROLLUP, START, 'replica-b', 60_000), false);
        await ledger.releaseRollupInterval(ROLLUP, START, 'replica-a');
        assert.equal(await ledger.claimRollupInterval(ROLLUP, START, 'replica-b', 60_000), true);
        await ledger.releaseRollupInterval(ROLLUP, START + 300_000, 'replica-a');
      }),
    );

    const { openUnreachable } = harness;
    if (openUnreachable) {
      t.it('fails every call at once with STATE_UNAVAILABLE while its backend is unreachable', () =>
        using(openUnreachable, async (ledger) => {
          const calls: Record<keyof RollupLedger, () => Promise<unknown>> = {
            rollupIntervals: () => ledger.rollupIntervals(ROLLUP),
            rollupIntervalsAt: () => ledger.rollupIntervalsAt(ROLLUP, [START]),
            putRollupInterval: () => ledger.putRollupInterval(ROLLUP, START, '{}'),
            rollupChanges: () => ledger.rollupChanges(ROLLUP, 0),
            claimRollupInterval: () => ledger.claimRollupInterval(ROLLUP, START, 'replica-a', TTL_MS),
            releaseRollupInterval: () => ledger.releaseRollupInterval(ROLLUP, START, 'replica-a'),
          };
          for (const [method, call] of Object.entries(calls)) await expectUnavailable(method, call);
        }),
      );
    }
  });
}
