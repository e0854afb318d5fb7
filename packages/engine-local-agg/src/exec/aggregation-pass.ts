import type { FileLayout } from '../table/file-layout.js';
import { Interner } from '../table/interner.js';
import { type FileRange, readLines } from '../table/line-reader.js';
import { decoderCache, type RowDecoder, RowSlots } from '../table/row-decoder.js';
import { GroupingSetAccumulator } from './grouping-set.js';
import type { PartialGroups, PassPlan } from './plan.js';
import { compileRowPredicate, TRUE } from './row-eval.js';

/**
 * One thread's share of a pass: reads ranges of files, decodes the needed columns of each line, and feeds every
 * grouping set, so several aggregations (a query's, or all rollups of a source) come from one read of the data.
 */
export class AggregationPass {
  readonly #decoder: (layout: FileLayout) => RowDecoder;
  readonly #sets: GroupingSetAccumulator[];
  readonly #where: (() => number) | undefined;
  rows = 0;

  constructor(plan: PassPlan) {
    const interners = plan.columns.map((c, i) =>
      c.type === 'varchar' && plan.needed.includes(i) ? new Interner() : undefined,
    );
    const slots = new RowSlots(plan.columns.length);
    for (const { column, value } of plan.constants ?? []) slots.nums[column] = value;
    this.#decoder = decoderCache(plan.columns, plan.needed, interners, slots);
    this.#sets = plan.sets.map((set) => new GroupingSetAccumulator(set, slots, interners));
    this.#where = plan.where ? compileRowPredicate(plan.where, slots, interners) : undefined;
  }

  /** Aggregates the lines of one range. `onBlock` may return false to stop early (cancellation). */
  consume(range: FileRange, layout: FileLayout, onBlock?: () => boolean): void {
    const decoder = this.#decoder(layout);
    const where = this.#where;
    const sets = this.#sets;
    readLines(
      range,
      layout,
      (bytes, start, end) => {
        decoder.decode(bytes, start, end);
        this.rows++;
        if (where && where() !== TRUE) return;
        for (let s = 0; s < sets.length; s++) (sets[s] as GroupingSetAccumulator).add();
      },
      onBlock,
    );
  }

  export(): PartialGroups[] {
    return this.#sets.map((set) => set.export());
  }

  /** The first grouping set's groups in `count` shares (see {@link GroupingSetAccumulator.exportShares}). */
  exportShares(count: number): PartialGroups[] {
    return (this.#sets[0] as GroupingSetAccumulator).exportShares(count);
  }
}
