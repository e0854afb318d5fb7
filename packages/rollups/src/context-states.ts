import type { DatasetSnapshot } from '@lakegate/engine-api';
import type { TimeSpan } from '@lakegate/engine-local-agg';
import { type ContextState, isDone, starts } from './due-intervals.js';
import type { IntervalLedger } from './interval-ledger.js';
import type { IntervalRecord } from './interval-record.js';
import { fingerprint, intervalStarts, type RollupContext } from './rollup-context.js';
import type { RollupChanges } from './rollup-ledger.js';
import { fileVersion, SourceIndex } from './source-index.js';

/** Intervals of a context's history whose files are fingerprinted together, to tell which ones a new file changes. */
const BLOCK_INTERVALS = 256;
/** A context with more intervals that may be due than this is read whole at each tick, as its backlog fills. */
const MAX_OPEN = 512;
/**
 * A context's history is read whole at least this often, whatever its versions say: within one and one and a half
 * times this, so that contexts first read together are not read whole together again.
 */
const REREAD_MS = 60 * 60_000;

/** A context's state as read, before a tick handles any of its intervals. */
export type ReadState = Omit<ContextState, 'handled'>;

/** What a context's last read leaves for the next: enough to read only what changed since. */
interface ContextMemo {
  /** When the history is to be read whole again. */
  readonly rereadAt: number;
  /** Per rollup, the version of its records in the ledger when they were read. */
  readonly versions: readonly number[];
  readonly lastEnd: number;
  /** Intervals that may be due (not done, or done without an audit), with the fingerprint of their inputs. */
  readonly open: ReadonlyMap<number, string>;
  /** A file source's: its snapshot, and the fingerprints of its blocks of intervals. */
  readonly files?: FilesMemo | undefined;
}

interface FilesMemo {
  readonly snapshot: string;
  /** The fingerprint of the files of each block of intervals up to `lastBlock`, by the block's number. */
  readonly blocks: ReadonlyMap<number, string>;
  readonly lastBlock: number;
}

/**
 * What each tick knows of a context: its interval records and the fingerprints of each interval's inputs. The
 * first read takes the context's whole history. A later one reads only what may have changed since, as long as the
 * ledger still knows every interval put since (by any replica): the intervals that were not done or not audited,
 * those put since, those after the last read's end, and those whose inputs may have changed (for a file source,
 * every interval of a block of the history whose files changed; for a table, those late rows may still change).
 * Any doubt reads the whole history again, as does the hour's reread. So an idle tick's cost does not grow with
 * the rollups' age. What a read leaves is kept per context object: a reload, which may change the definitions,
 * makes new ones, read whole at first.
 */
export class ContextStates {
  readonly #ledger: IntervalLedger;
  readonly #clock: () => number;
  readonly #memos = new WeakMap<RollupContext, ContextMemo>();

  constructor(ledger: IntervalLedger, clock: () => number) {
    this.#ledger = ledger;
    this.#clock = clock;
  }

  /** The state up to `end` of a file source's context over `snapshot` of its source, whose files span `spans`. */
  async read(
    context: RollupContext,
    snapshot: DatasetSnapshot,
    spans: readonly (TimeSpan | null)[],
    end: number,
  ): Promise<ReadState> {
    const memo = this.#take(context);
    // The versions first: a put after them shows as a change at the next read, whether this read saw it or not.
    const changes = await this.#changes(context, memo);
    const lastBlock = blockOf(context, end - context.intervalMs);
    const files: FilesMemo = {
      snapshot: snapshot.version,
      lastBlock,
      blocks:
        memo?.files?.snapshot === snapshot.version && memo.files.lastBlock === lastBlock
          ? memo.files.blocks
          : blockFingerprints(context, snapshot, spans, lastBlock),
    };
    const changed = memo ? await this.#changed(context, memo, changes, snapshot, spans, files.blocks, end) : undefined;
    const state = changed ?? {
      lastEnd: end,
      records: await this.#ledger.recordsOf(context),
      inputs: SourceIndex.inputsByInterval(context, snapshot, spans, context.startMs, end),
    };
    this.#remember(context, state, memo, changes, changed !== undefined, files);
    return state;
  }

  /**
   * The state up to `end` of a context whose source is a table: `recent` gives the fingerprints of the intervals
   * from `lateFrom` (late rows may still change them), read from the server at each tick; an older interval done
   * keeps those it was computed with.
   */
  async readTable(
    context: RollupContext,
    end: number,
    lateFrom: number,
    recent: (from: number, to: number) => Promise<Map<number, string>>,
  ): Promise<ReadState> {
    const memo = this.#take(context);
    const changes = await this.#changes(context, memo);
    const inputs = await recent(lateFrom, end);
    const open = memo ? this.#openSince(context, memo, changes, end) : undefined;
    if (open) for (const start of intervalStarts(context, lateFrom, end)) open.add(start);
    const changed = open && open.size <= MAX_OPEN ? await this.#recordsOfOpen(context, changes, open) : undefined;
    const records = changed?.records ?? (await this.#ledger.recordsOf(context));
    for (const [start, record] of records[0] ?? []) {
      if (start < lateFrom && record.state === 'done' && record.inputs !== undefined) inputs.set(start, record.inputs);
    }
    const state: ReadState = { lastEnd: end, records, inputs, ...(changed ? { open: changed.starts } : {}) };
    this.#remember(context, state, memo, changes, changed !== undefined);
    return state;
  }

  /** The context's memo, which the read replaces: a read that fails leaves none, and the next reads whole. */
  #take(context: RollupContext): ContextMemo | undefined {
    const memo = this.#memos.get(context);
    this.#memos.delete(context);
    return memo;
  }

  /** Per rollup of the context, its puts since the memo's versions (all of them without a memo). */
  #changes(context: RollupContext, memo: ContextMemo | undefined): Promise<RollupChanges[]> {
    const { tenant, rollups } = context;
    return Promise.all(rollups.map((r, i) => this.#ledger.changes(tenant, r.name, memo?.versions[i] ?? -1)));
  }

  /**
   * The intervals that may be due since `memo`: those open then, those put since, those after its end. `undefined`
   * when that cannot be known: the hour's reread is due, the clock went back, or the ledger forgot some puts.
   */
  #openSince(
    context: RollupContext,
    memo: ContextMemo,
    changes: readonly RollupChanges[],
    end: number,
  ): Set<number> | undefined {
    if (this.#clock() >= memo.rereadAt || end < memo.lastEnd) return undefined;
    const open = new Set(memo.open.keys());
    for (const { starts: put } of changes) {
      if (!put) return undefined;
      for (const start of put) if (start >= context.startMs && start < end) open.add(start);
    }
    for (const start of intervalStarts(context, memo.lastEnd, end)) open.add(start);
    return open;
  }

  /** The records of the `open` intervals, newest first; the metrics' summaries take in the intervals put since. */
  async #recordsOfOpen(
    context: RollupContext,
    changes: readonly RollupChanges[],
    open: ReadonlySet<number>,
  ): Promise<{ records: Map<number, IntervalRecord>[]; starts: number[] }> {
    const { tenant, rollups } = context;
    const starts = [...open].sort((a, b) => b - a);
    const records = await Promise.all(rollups.map((r) => this.#ledger.recordsFor(tenant, r.name, starts)));
    // The intervals put since, by this replica or another.
    for (const [i, rollup] of rollups.entries()) {
      const put = (changes[i]?.starts ?? []).map((start) => records[i]?.get(start));
      this.#ledger.noteChanged(
        tenant,
        rollup.name,
        put.filter((record) => record !== undefined),
      );
    }
    return { records, starts };
  }

  /** A file source's state from what changed since `memo`, or `undefined` when that cannot be known. */
  async #changed(
    context: RollupContext,
    memo: ContextMemo,
    changes: readonly RollupChanges[],
    snapshot: DatasetSnapshot,
    spans: readonly (TimeSpan | null)[],
    blocks: ReadonlyMap<number, string>,
    end: number,
  ): Promise<ReadState | undefined> {
    const { startMs } = context;
    const open = this.#openSince(context, memo, changes, end);
    const before = memo.files?.blocks;
    if (!open || !before) return undefined;
    const stale = new Set<number>();
    for (const [block, print] of blocks) if (before.get(block) !== print) stale.add(block);
    for (const block of before.keys()) if (!blocks.has(block)) stale.add(block);
    for (const block of stale) for (const start of blockStarts(context, block, end)) open.add(start);
    if (open.size > MAX_OPEN) return undefined;

    // The files' fingerprints kept for the open intervals of unchanged blocks; the others' blocks are walked again.
    const inputs = new Map<number, string>();
    const unknown = new Set<number>();
    for (const start of open) {
      const kept = memo.open.get(start);
      if (kept === undefined || stale.has(blockOf(context, start))) unknown.add(start);
      else if (kept !== '') inputs.set(start, kept);
    }
    for (const block of new Set([...unknown].map((start) => blockOf(context, start)))) {
      const from = Math.max(startMs, blockStart(context, block));
      const to = Math.min(end, blockStart(context, block + 1));
      for (const [start, print] of SourceIndex.inputsByInterval(context, snapshot, spans, from, to))
        if (unknown.has(start)) inputs.set(start, print);
    }
    const { records, starts } = await this.#recordsOfOpen(context, changes, open);
    return { lastEnd: end, records, inputs, open: starts };
  }

  /**
   * Keeps what the next read needs of `state`, unless too many of its intervals may be due. A read of what changed
   * keeps the hour's reread of the memo before it; a whole read sets the next.
   */
  #remember(
    context: RollupContext,
    state: ReadState,
    before: ContextMemo | undefined,
    changes: readonly RollupChanges[],
    changed: boolean,
    files?: FilesMemo,
  ): void {
    const open = new Map<number, string>();
    for (const start of state.open ?? starts(context, state.lastEnd)) {
      const inputs = state.inputs.get(start) ?? '';
      if (isDone(context, state.records, start, inputs) && !isUnaudited(state.records[0]?.get(start))) continue;
      if (open.size === MAX_OPEN) return;
      open.set(start, inputs);
    }
    const rereadAt = changed && before ? before.rereadAt : this.#clock() + REREAD_MS * (1 + Math.random() / 2);
    const versions = changes.map((c) => c.version);
    this.#memos.set(context, { rereadAt, versions, lastEnd: state.lastEnd, open, files });
  }
}

/** Whether an interval is done but was never audited: a tick audits a few such. */
export const isUnaudited = (record: IntervalRecord | undefined): boolean =>
  record?.state === 'done' && record.audit === undefined;

const blockMs = (context: RollupContext): number => context.intervalMs * BLOCK_INTERVALS;
const blockOf = (context: RollupContext, start: number): number =>
  Math.floor((start - context.startMs) / blockMs(context));
const blockStart = (context: RollupContext, block: number): number => context.startMs + block * blockMs(context);

/** The interval starts of a block that are before `end`. */
const blockStarts = (context: RollupContext, block: number, end: number): number[] =>
  intervalStarts(context, blockStart(context, block), Math.min(end, blockStart(context, block + 1)));

/**
 * For each block of the context's intervals up to the `last`, a fingerprint of the files that may hold
 * its rows (their names and ETags): a block whose fingerprint is unchanged has the same files for each interval.
 */
function blockFingerprints(
  context: RollupContext,
  snapshot: DatasetSnapshot,
  spans: readonly (TimeSpan | null)[],
  last: number,
): Map<number, string> {
  const names = new Map<number, string[]>();
  for (const [i, file] of snapshot.files.entries()) {
    const span = spans[i];
    if (!span || span.maxMs < context.startMs) continue;
    const first = Math.max(0, blockOf(context, span.minMs));
    for (let block = first; block <= Math.min(last, blockOf(context, span.maxMs)); block++) {
      const list = names.get(block) ?? [];
      list.push(fileVersion(file));
      names.set(block, list);
    }
  }
  const prints = new Map<number, string>();
  for (const [block, list] of names) prints.set(block, fingerprint(list.sort().join('\n')));
  return prints;
}
