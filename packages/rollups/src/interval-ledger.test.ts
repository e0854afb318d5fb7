import { describe, expect, it } from 'vitest';
import { IntervalLedger } from './interval-ledger.js';
import { MemoryRollupLedger } from './memory-rollup-ledger.js';
import { countingWholeReads, ledgerWith, MINUTE, T0 } from './test-support.js';

describe("a rollup's summary", () => {
  it('is read again when a write began while the records were being read', async () => {
    const memory = new MemoryRollupLedger(() => T0);
    let reads = 0;
    // The read takes its answer at once, and gives it only when told to: a write lands meanwhile.
    const gate: { answer?: (() => void) | undefined } = {};
    const open = (): void => gate.answer?.();
    const ledger = ledgerWith(memory, {
      rollupIntervals: async (rollup) => {
        reads++;
        const taken = await memory.rollupIntervals(rollup);
        await new Promise<void>((resolve) => {
          gate.answer = resolve;
        });
        return taken;
      },
    });
    const intervals = new IntervalLedger(ledger, () => T0);
    const done = (start: number) => ({ start, state: 'done' as const, attempts: 1 });
    await intervals.put('acme', 'traffic_5m', done(T0));

    const reading = intervals.records('acme', 'traffic_5m');
    await new Promise((resolve) => setImmediate(resolve));
    await intervals.put('acme', 'traffic_5m', done(T0 + 5 * MINUTE));
    open();
    expect([...(await reading).keys()]).toEqual([T0]);
    gate.answer = undefined;

    // The read lacked the second interval: its summary is not served, and the next one has it.
    const summarising = intervals.summary('acme', 'traffic_5m');
    await new Promise((resolve) => setImmediate(resolve));
    open();
    expect((await summarising).newestDone).toBe(T0 + 5 * MINUTE);
    expect(reads).toBe(2);

    // Read without a write during it, the summary is served as it is.
    expect((await intervals.summary('acme', 'traffic_5m')).newestDone).toBe(T0 + 5 * MINUTE);
    expect(reads).toBe(2);
  });

  it('is read again once its newest done interval is put as not done, and stands when the changes since are noted', async () => {
    let now = T0;
    const memory = new MemoryRollupLedger(() => now);
    const { ledger, reads } = countingWholeReads(memory);
    const intervals = new IntervalLedger(ledger, () => now);
    const put = (start: number, state: 'done' | 'pending' | 'failed') =>
      intervals.put('acme', 'traffic_5m', { start, state, attempts: 1 });
    await put(T0, 'done');
    await put(T0 + 5 * MINUTE, 'done');
    expect((await intervals.summary('acme', 'traffic_5m')).newestDone).toBe(T0 + 5 * MINUTE);
    expect(reads.whole).toBe(1);

    // Another interval failing says nothing of the newest; the newest made pending leaves it unknown.
    await put(T0 - 5 * MINUTE, 'failed');
    expect((await intervals.summary('acme', 'traffic_5m')).newestDone).toBe(T0 + 5 * MINUTE);
    expect(reads.whole).toBe(1);
    await put(T0 + 5 * MINUTE, 'pending');
    expect((await intervals.summary('acme', 'traffic_5m')).newestDone).toBe(T0);
    expect(reads.whole).toBe(2);

    // Past five minutes it is read again, unless the changes since were noted meanwhile.
    now += 5 * MINUTE;
    intervals.noteChanged('acme', 'traffic_5m', []);
    expect((await intervals.summary('acme', 'traffic_5m')).newestDone).toBe(T0);
    expect(reads.whole).toBe(2);
    now += 5 * MINUTE;
    await intervals.summary('acme', 'traffic_5m');
    expect(reads.whole).toBe(3);
  });
});
