import type { FileLayout } from '../table/file-layout.js';
import { Interner } from '../table/interner.js';
import { type FileRange, readLines } from '../table/line-reader.js';
import { createRowDecoder, type RowDecoder, RowSlots } from '../table/row-decoder.js';
import { GroupingSetAccumulator } from './grouping-set.js';
import type { PartialGroups, PassPlan } from './plan.js';
import { compileRowPredicate, TRUE } from './row-eval.js';

/**
 * One thread's share of a pass: reads ranges of files, decodes the needed columns of each line, and feeds every
 * grouping set, so several aggregations (a query's, or all rollups of a source) come from one read of the data.
 */
export class AggregationPass {
  readonly #plan: PassPlan;
  readonly #interners: (Interner | undefined)[];
  readonly #slots: RowSlots;
  readonly #decoders = new Map<string, RowDecoder>();
  readonly #sets: GroupingSetAccumulator[];
  readonly #where: (() => number) | undefined;
  rows = 0;

  constructor(plan: PassPlan) {
    this.#plan = plan;
    this.#interners = plan.columns.map((c, i) =>
      c.type === 'varchar' && plan.needed.includes(i) ? new Interner() : undefined,
    );
    this.#slots = new RowSlots(plan.columns.length);
    this.#sets = plan.sets.map((set) => new GroupingSetAccumulator(set, this.#slots, this.#interners));
    this.#where = plan.where ? compileRowPredicate(plan.where, this.#slots, this.#interners) : undefined;
  }

  #decoder(layout: FileLayout): RowDecoder {
    const key = `${layout.format}/${layout.delimiter}/${layout.quoted}`;
    let decoder = this.#decoders.get(key);
    if (!decoder) {
      decoder = createRowDecoder(layout, this.#plan.columns, this.#plan.needed, this.#interners, this.#slots);
      this.#decoders.set(key, decoder);
    }
    return decoder;
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
