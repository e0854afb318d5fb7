/**
 * A worker thread of the pass pool: keeps one {@link AggregationPass} per running query, aggregates the ranges it is
 * sent, and returns the partial groups when told the query's ranges are all sent; then, for a query, merges and
 * finishes its share of every thread's groups.
 */
import { parentPort } from 'node:worker_threads';
import type { FileLayout } from '../table/file-layout.js';
import type { FileRange } from '../table/line-reader.js';
import { AggregationPass } from './aggregation-pass.js';
import { type FinishedGroups, finishedTransferables, MergedGroups } from './merge-groups.js';
import { type FinishPlan, type GroupingSetPlan, type PartialGroups, type PassPlan, transferables } from './plan.js';

export type ToWorker =
  | { readonly type: 'begin'; readonly id: number; readonly plan: PassPlan }
  | { readonly type: 'range'; readonly id: number; readonly range: FileRange; readonly layout: FileLayout }
  /** `shares`: export the first grouping set in that many shares instead of whole. */
  | { readonly type: 'finish'; readonly id: number; readonly shares?: number }
  | {
      readonly type: 'merge';
      readonly id: number;
      readonly set: GroupingSetPlan;
      readonly finish: FinishPlan;
      readonly partials: readonly PartialGroups[];
      readonly index: number;
    }
  | { readonly type: 'cancel'; readonly id: number };

export type FromWorker =
  | { readonly type: 'ranged'; readonly id: number }
  | {
      readonly type: 'result';
      readonly id: number;
      readonly partials: ReturnType<AggregationPass['export']>;
      readonly rows: number;
    }
  | { readonly type: 'finished'; readonly id: number; readonly index: number; readonly groups: FinishedGroups }
  | { readonly type: 'failed'; readonly id: number; readonly code: string | undefined; readonly message: string };

const passes = new Map<number, AggregationPass>();
const port = parentPort;

function fail(id: number, error: unknown): void {
  passes.delete(id);
  const code = (error as { code?: unknown }).code;
  port?.postMessage({
    type: 'failed',
    id,
    code: typeof code === 'string' ? code : undefined,
    message: error instanceof Error ? error.message : String(error),
  } satisfies FromWorker);
}

port?.on('message', (message: ToWorker) => {
  const { id } = message;
  try {
    switch (message.type) {
      case 'begin':
        passes.set(id, new AggregationPass(message.plan));
        return;
      case 'range': {
        const pass = passes.get(id);
        if (!pass) return; // cancelled or failed: the rest of its ranges are dropped
        pass.consume(message.range, message.layout);
        port.postMessage({ type: 'ranged', id } satisfies FromWorker);
        return;
      }
      case 'finish': {
        const pass = passes.get(id);
        if (!pass) return;
        passes.delete(id);
        const partials = message.shares ? pass.exportShares(message.shares) : pass.export();
        // The typed arrays move to the main thread without a copy.
        port.postMessage(
          { type: 'result', id, partials, rows: pass.rows } satisfies FromWorker,
          transferables(partials),
        );
        return;
      }
      case 'merge': {
        // One share of every thread's groups, merged and finished here so that no single thread does it all.
        const merged = new MergedGroups(message.set);
        for (const partial of message.partials) merged.add(partial);
        const groups = merged.finished(message.finish);
        port.postMessage(
          { type: 'finished', id, index: message.index, groups } satisfies FromWorker,
          finishedTransferables(groups),
        );
        return;
      }
      case 'cancel':
        passes.delete(id);
        return;
    }
  } catch (error) {
    fail(id, error);
  }
});
