import type { DatasetSnapshot } from '@lakegate/engine-api';
import type { TimeSpan } from '@lakegate/engine-local-agg';
import { describe, expect, it } from 'vitest';
import { ContextStates, isUnaudited, type ReadState } from './context-states.js';
import { type ContextState, holeCandidates, starts } from './due-intervals.js';
import { IntervalLedger } from './interval-ledger.js';
import type { IntervalRecord } from './interval-record.js';
import { MemoryRollupLedger } from './memory-rollup-ledger.js';
import { definitionOf, groupContexts, intervalStarts, lastEnd, type RollupContext } from './rollup-context.js';
import { ROLLUP_CHANGES_KEPT } from './rollup-ledger.js';
import { SourceIndex } from './source-index.js';
import { ledgerWith, MINUTE, T0, trafficRollup } from './test-support.js';

const HOUR = 60 * MINUTE;
const FIVE = 5 * MINUTE;
const TICK = 15_000;
const DAYS = 3;
const [context] = groupContexts(
  { acme: [trafficRollup(), trafficRollup({ name: 'traffic_total', dimensions: [] })] },
  T0,
) as [RollupContext];

/** A file of the source and the rows' time span it holds. */
interface SourceFile {
  readonly path: string;
  readonly etag: string;
  readonly span: TimeSpan;
}

/** The snapshot of `files`, a new object with a new version, as the storage layer hands one out after a change. */
const snapshotOf = (files: readonly SourceFile[], version: number): DatasetSnapshot => ({
  tenant: 'acme',
  dataset: 'traffic',
  format: 'csv',
  version: `v${version}`,
  files: files.map(({ path, etag }) => ({ path, etag, size: 100 })),
});

/** Numbers in [0, 1) from `seed`, the same for the same seed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 48_271) % 2_147_483_647;
    return state / 2_147_483_647;
  };
}

/** What a tick decides from a state: every hole with the end of its backoff, and the intervals left unaudited. */
function decisions(read: ReadState, now: number) {
  // As a tick takes it: nothing handled yet.
  const state: ContextState = { ...read, handled: new Set() };
  const holes = holeCandidates(context, state, { now, tickMs: TICK, backfillPerTick: Number.MAX_SAFE_INTEGER });
  const unaudited = [...(state.open ?? starts(context, state.lastEnd))].filter((start) =>
    isUnaudited(state.records[0]?.get(start)),
  );
  return { holes, unaudited };
}

/** A rollup's summary from its records: the newest interval done, and those whose last audit failed. */
function summaryOf(records: ReadonlyMap<number, IntervalRecord> | undefined) {
  let newestDone: number | undefined;
  const mismatched = new Set<number>();
  for (const record of records?.values() ?? []) {
    if (record.state === 'done') newestDone = Math.max(newestDone ?? record.start, record.start);
    if (record.audit && !record.audit.ok) mismatched.add(record.start);
  }
  return { newestDone, mismatched };
}

/**
 * The ledger of the replica under test, over `memory` that every replica shares: it counts whole reads while
 * `reading`, and its puts can be made to fail before or after they reach the ledger.
 */
class ReplicaLedger {
  readonly ours: IntervalLedger;
  wholeReads = 0;
  reading = false;
  #failing: 'before' | 'after' | undefined;

  constructor(
    readonly memory: MemoryRollupLedger,
    clock: () => number,
  ) {
    const ledger = ledgerWith(memory, {
      rollupIntervals: (rollup) => {
        if (this.reading) this.wholeReads++;
        return memory.rollupIntervals(rollup);
      },
      putRollupInterval: async (rollup, start, record) => {
        if (this.#failing === 'before') throw new Error('unreachable');
        await memory.putRollupInterval(rollup, start, record);
        if (this.#failing === 'after') throw new Error('timed out');
      },
    });
    this.ours = new IntervalLedger(ledger, clock);
  }

  /**
   * A random step's puts of rollup `name`'s records, made by `recordOf`: several by this replica, one by another,
   * one by this replica that never reaches the ledger or whose answer is lost (a timeout), or another replica's
   * backlog (more puts than the ledger keeps a note of). `newest` is the newest interval, `anyStart` any other.
   */
  async put(
    kind: 'ours' | 'theirs' | 'lost' | 'backlog',
    name: string,
    random: { next: () => number; pick: <T>(items: readonly T[]) => T },
    newest: number,
    anyStart: () => number,
    recordOf: (start: number) => IntervalRecord,
  ): Promise<void> {
    const { next, pick } = random;
    const theirs = (start: number) =>
      this.memory.putRollupInterval(`acme/${name}`, start, JSON.stringify(recordOf(start)));
    switch (kind) {
      case 'ours':
        for (let i = 0, n = 1 + Math.floor(next() * 6); i < n; i++) {
          const start = next() < 0.3 ? newest : anyStart();
          await this.ours.put('acme', name, recordOf(start));
        }
        break;
      case 'theirs':
        await theirs(next() < 0.3 ? newest : anyStart());
        break;
      case 'lost':
        this.#failing = pick(['before', 'after'] as const);
        await this.ours.put('acme', name, recordOf(anyStart())).catch(() => undefined);
        this.#failing = undefined;
        break;
      case 'backlog':
        for (let i = 0; i < ROLLUP_CHANGES_KEPT + 10; i++) await theirs(anyStart());
        break;
    }
  }
}

describe("reading only what changed in a context's history", () => {
  it('decides as a read of the whole history would, through puts, other replicas, late files and time', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const next = random(seed * 7919);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
      let now = T0 + DAYS * 24 * HOUR + 7 * MINUTE;
      // Hourly files from the start to an hour ahead of the clock.
      let files: SourceFile[] = [];
      for (let hour = T0; hour < now + HOUR; hour += HOUR)
        files.push({ path: `hour-${hour}.csv`, etag: 'e0', span: { minMs: hour, maxMs: hour + HOUR - 1 } });
      let version = 0;
      let snapshot = snapshotOf(files, version);
      const spansOf = (): (TimeSpan | null)[] => files.map((f) => f.span);
      const inputsAt = (start: number): string =>
        SourceIndex.inputsByInterval(context, snapshot, spansOf(), start, start + FIVE).get(start) ?? '';

      const memory = new MemoryRollupLedger(() => now);
      let changedReads = 0;
      const replica = new ReplicaLedger(memory, () => now);
      const { ours } = replica;
      // What the whole history says, read apart from the replica under test.
      const truth = new IntervalLedger(memory, () => now);
      const states = new ContextStates(ours, () => now);

      const recordOf = (start: number, rollup: number): IntervalRecord => {
        const base = { start, attempts: 1, definition: definitionOf(context.rollups[rollup] ?? context.rollups[0]) };
        const audit = { at: '', rawRows: 1, rollupRows: 1, ok: true };
        switch (pick(['done', 'done', 'done', 'unaudited', 'stale', 'failed', 'pending', 'running'] as const)) {
          case 'done':
            return { ...base, state: 'done', inputs: inputsAt(start), audit };
          case 'unaudited':
            return { ...base, state: 'done', inputs: inputsAt(start) };
          case 'stale':
            return { ...base, state: 'done', inputs: 'files that were', audit };
          case 'failed':
            return { ...base, state: 'failed', attempts: 1 + Math.floor(next() * 4), finishedAt: now - next() * HOUR };
          case 'pending':
            return { ...base, state: 'pending', attempts: 0 };
          case 'running':
            return { ...base, state: 'running' };
        }
      };
      // Every interval done, as a rollup that has caught up.
      for (const start of starts(context, lastEnd(context, now)))
        for (const rollup of context.rollups) {
          const record = {
            start,
            state: 'done',
            attempts: 1,
            definition: definitionOf(rollup),
            inputs: inputsAt(start),
          };
          await memory.putRollupInterval(
            `acme/${rollup.name}`,
            start,
            JSON.stringify({ ...record, audit: { at: '', rawRows: 1, rollupRows: 1, ok: true } }),
          );
        }

      const steps = 100;
      for (let step = 0; step < steps; step++) {
        for (let action = 0, actions = 1 + Math.floor(next() * 3); action < actions; action++) {
          const end = lastEnd(context, now);
          const anyStart = () => T0 + Math.floor(next() * ((end - T0) / FIVE)) * FIVE;
          const rollup = Math.floor(next() * context.rollups.length);
          const name = context.rollups[rollup]?.name ?? '';
          const kinds = ['time', 'quiet', 'ours', 'ours', 'theirs', 'lost', 'timeout', 'backlog', 'late'] as const;
          const kind = pick([...kinds, 'rewritten', 'gone', 'wiped', 'filled', 'filled', 'none'] as const);
          switch (kind) {
            case 'filled': {
              // The ticks fill the holes, as the scheduler does, with the files each interval has now.
              const records = await truth.recordsOf(context);
              const inputs = SourceIndex.inputsByInterval(context, snapshot, spansOf(), context.startMs, end);
              const holes = holeCandidates(
                context,
                { lastEnd: end, records, inputs, handled: new Set() },
                { now, tickMs: TICK, backfillPerTick: Number.MAX_SAFE_INTEGER },
              );
              for (const { start } of holes)
                for (const [i, rollup] of context.rollups.entries()) {
                  const done = { start, state: 'done' as const, attempts: 1, definition: definitionOf(rollup) };
                  const audit = { at: '', rawRows: 1, rollupRows: 1, ok: true };
                  if (records[i]?.get(start)?.state !== 'running')
                    await ours.put('acme', rollup.name, { ...done, inputs: inputs.get(start) ?? '', audit });
                }
              break;
            }
            case 'time':
              now += next() < 0.9 ? next() * 20 * MINUTE : next() * 2 * HOUR;
              while (files.at(-1) && (files.at(-1)?.span.maxMs ?? 0) < now + HOUR) {
                const hour = (files.at(-1)?.span.maxMs ?? now) + 1;
                files.push({ path: `hour-${hour}.csv`, etag: 'e0', span: { minMs: hour, maxMs: hour + HOUR - 1 } });
                snapshot = snapshotOf(files, ++version);
              }
              break;
            case 'quiet':
              // Time passes and no file comes: the newest intervals may cross into a new block of the history.
              now += next() * 3 * HOUR;
              break;
            case 'ours':
            case 'theirs':
            case 'lost':
            case 'timeout':
            case 'backlog': {
              const puts = kind === 'timeout' ? 'lost' : kind;
              await replica.put(puts, name, { next, pick }, end - FIVE, anyStart, (start) => recordOf(start, rollup));
              break;
            }
            case 'late': {
              const at = anyStart();
              files.push({ path: `late-${step}.csv`, etag: 'e0', span: { minMs: at, maxMs: at + next() * 2 * HOUR } });
              snapshot = snapshotOf(files, ++version);
              break;
            }
            case 'rewritten': {
              const file = pick(files);
              files = files.map((f) => (f === file ? { ...f, etag: `e${step}` } : f));
              snapshot = snapshotOf(files, ++version);
              break;
            }
            case 'gone': {
              const file = pick(files);
              files = files.filter((f) => f !== file);
              snapshot = snapshotOf(files, ++version);
              break;
            }
            case 'wiped': {
              // Every file of a day, the newest ones included, removed.
              const from = next() < 0.5 ? now - 24 * HOUR : anyStart();
              files = files.filter((f) => f.span.maxMs < from || f.span.minMs >= from + 24 * HOUR);
              snapshot = snapshotOf(files, ++version);
              break;
            }
          }
        }
        const at = lastEnd(context, now);
        replica.reading = true;
        const read = await states.read(context, snapshot, spansOf(), at);
        replica.reading = false;
        if (read.open) changedReads++;
        const whole: ReadState = {
          lastEnd: at,
          records: await truth.recordsOf(context),
          inputs: SourceIndex.inputsByInterval(context, snapshot, spansOf(), context.startMs, at),
        };
        expect(decisions(read, now), `seed ${seed}, step ${step}`).toEqual(decisions(whole, now));
        // The metrics' summary of each rollup, as the whole history has it.
        for (const [i, rollup] of context.rollups.entries()) {
          const { newestDone, mismatched } = await ours.summary('acme', rollup.name);
          expect({ newestDone, mismatched }, `seed ${seed}, step ${step}, ${rollup.name}`).toEqual(
            summaryOf(whole.records[i]),
          );
        }
      }
      // Many reads took only what changed: the others follow another replica's backlog, the hour's reread (the clock
      // moves hours in some steps), or too many intervals due.
      expect(changedReads).toBeGreaterThan(steps / 4);
      expect(changedReads + replica.wholeReads / context.rollups.length).toBe(steps);
    }
  });

  it("decides for a table's context as a whole read would, through puts, other replicas, late rows and time", async () => {
    const LATE = 30 * MINUTE;
    for (const seed of [11, 12, 13, 14]) {
      const next = random(seed * 104_729);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
      let now = T0 + DAYS * 24 * HOUR + 7 * MINUTE;
      // The server's fingerprint of each interval: it changes when late rows come.
      const prints = new Map<number, string>();
      const printOf = (start: number): string => prints.get(start) ?? 'rows-0';
      let serverReads = 0;
      const recent = async (from: number, to: number) => {
        serverReads++;
        return new Map(intervalStarts(context, from, to).map((start) => [start, printOf(start)]));
      };
      const lateFromAt = (end: number) => Math.max(T0, Math.floor((end - LATE) / FIVE) * FIVE);

      const memory = new MemoryRollupLedger(() => now);
      const replica = new ReplicaLedger(memory, () => now);
      const { ours } = replica;
      const truth = new IntervalLedger(memory, () => now);
      const states = new ContextStates(ours, () => now);
      /** What a whole read of the history and the server's fingerprints say. */
      const wholeAt = async (end: number): Promise<ReadState> => {
        const lateFrom = lateFromAt(end);
        const records = await truth.recordsOf(context);
        const inputs = await recent(lateFrom, end);
        for (const [start, record] of records[0] ?? [])
          if (start < lateFrom && record.state === 'done' && record.inputs !== undefined)
            inputs.set(start, record.inputs);
        return { lastEnd: end, records, inputs };
      };
      const recordOf = (start: number, rollup: number): IntervalRecord => {
        const base = { start, attempts: 1, definition: definitionOf(context.rollups[rollup] ?? context.rollups[0]) };
        const audit = { at: '', rawRows: 1, rollupRows: 1, ok: true };
        switch (pick(['done', 'done', 'unaudited', 'stale', 'failed', 'pending'] as const)) {
          case 'done':
            return { ...base, state: 'done', inputs: printOf(start), audit };
          case 'unaudited':
            return { ...base, state: 'done', inputs: printOf(start) };
          case 'stale':
            return { ...base, state: 'done', inputs: 'rows that were', audit };
          case 'failed':
            return { ...base, state: 'failed', attempts: 1 + Math.floor(next() * 4), finishedAt: now - next() * HOUR };
          case 'pending':
            return { ...base, state: 'pending', attempts: 0 };
        }
      };
      /** The ticks fill every hole, as the scheduler does, with the fingerprints each interval has now. */
      const fill = async () => {
        const whole = await wholeAt(lastEnd(context, now));
        const holes = holeCandidates(
          context,
          { ...whole, handled: new Set() },
          { now, tickMs: TICK, backfillPerTick: Number.MAX_SAFE_INTEGER },
        );
        for (const { start } of holes)
          for (const rollup of context.rollups) {
            const audit = { at: '', rawRows: 1, rollupRows: 1, ok: true };
            const done = { start, state: 'done' as const, attempts: 1, definition: definitionOf(rollup), audit };
            await ours.put('acme', rollup.name, { ...done, inputs: printOf(start) });
          }
      };
      await fill();

      const steps = 80;
      let changedReads = 0;
      for (let step = 0; step < steps; step++) {
        const end = lastEnd(context, now);
        const anyStart = () => T0 + Math.floor(next() * ((end - T0) / FIVE)) * FIVE;
        const rollup = Math.floor(next() * context.rollups.length);
        const name = context.rollups[rollup]?.name ?? '';
        const kind = pick(['time', 'late', 'late', 'ours', 'theirs', 'lost', 'backlog', 'filled', 'filled'] as const);
        switch (kind) {
          case 'time':
            now += next() < 0.9 ? next() * 20 * MINUTE : next() * 2 * HOUR;
            break;
          case 'late': {
            // Late rows for an interval the server still fingerprints, or for one already final.
            const start = next() < 0.7 ? end - FIVE * Math.floor(1 + next() * 6) : anyStart();
            prints.set(start, `rows-${step}`);
            break;
          }
          case 'ours':
          case 'theirs':
          case 'lost':
          case 'backlog':
            await replica.put(kind, name, { next, pick }, end - FIVE, anyStart, (start) => recordOf(start, rollup));
            break;
          case 'filled':
            await fill();
            break;
        }
        const at = lastEnd(context, now);
        replica.reading = true;
        const before = serverReads;
        const read = await states.readTable(context, at, lateFromAt(at), recent);
        replica.reading = false;
        // The server is asked once per read, for the intervals late rows may change.
        expect(serverReads - before).toBe(1);
        if (read.open) changedReads++;
        expect(decisions(read, now), `seed ${seed}, step ${step}`).toEqual(decisions(await wholeAt(at), now));
      }
      expect(changedReads).toBeGreaterThan(steps / 4);
      expect(changedReads + replica.wholeReads / context.rollups.length).toBe(steps);
    }
  });

  it('reads again a block the newest intervals entered without a new file, once its files go', async () => {
    let now = T0 + 21 * HOUR;
    let files: SourceFile[] = [];
    for (let hour = T0; hour < T0 + 30 * HOUR; hour += HOUR)
      files.push({ path: `hour-${hour}.csv`, etag: 'e0', span: { minMs: hour, maxMs: hour + HOUR - 1 } });
    let snapshot = snapshotOf(files, 0);
    const spansOf = (): (TimeSpan | null)[] => files.map((f) => f.span);
    const memory = new MemoryRollupLedger(() => now);
    const ours = new IntervalLedger(memory, () => now);
    const states = new ContextStates(ours, () => now);
    /** Every interval up to the clock done, with the files it has now. */
    const catchUp = async () => {
      const end = lastEnd(context, now);
      const inputs = SourceIndex.inputsByInterval(context, snapshot, spansOf(), context.startMs, end);
      for (const start of starts(context, end))
        for (const rollup of context.rollups) {
          const audit = { at: '', rawRows: 1, rollupRows: 1, ok: true };
          const done = { start, state: 'done' as const, attempts: 1, definition: definitionOf(rollup), audit };
          await ours.put('acme', rollup.name, { ...done, inputs: inputs.get(start) ?? '' });
        }
    };
    const read = () => states.read(context, snapshot, spansOf(), lastEnd(context, now));
    const holes = async () => decisions(await read(), now).holes.map((h) => h.start);
    await catchUp();
    expect(await holes()).toEqual([]);
    // The clock moves into the history's second block (it begins 21 h 20 min in), and no file changes.
    now = T0 + 24 * HOUR;
    await catchUp();
    expect(await holes()).toEqual([]);
    expect(await holes()).toEqual([]);
    // Every file from 21 h on goes: the intervals done with them are due again.
    files = files.filter((f) => f.span.minMs < T0 + 21 * HOUR);
    snapshot = snapshotOf(files, 1);
    const due = await holes();
    expect(due).toHaveLength(36);
    expect(Math.min(...due)).toBe(T0 + 21 * HOUR);
  });
});
