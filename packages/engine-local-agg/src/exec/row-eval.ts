import type { Interner } from '../table/interner.js';
import type { RowSlots } from '../table/row-decoder.js';
import type { RowOperand, RowPredicate } from './plan.js';

/** Three-valued logic, as SQL: a comparison with NULL is unknown, and WHERE keeps only true. */
export const FALSE = 0;
export const TRUE = 1;
export const UNKNOWN = 2;
export type Truth = 0 | 1 | 2;

const MAX_EXACT = 2 ** 53;

/**
 * The start of the time bucket of `width` that holds `v` (both in microseconds). floor(v / width) is exact for
 * integers below 2^53 (the quotient's distance to the next integer, 1 / width, exceeds half its ulp) and much
 * cheaper than a floating-point remainder, which serves beyond.
 */
export function bucketStart(v: number, width: number): number {
  return Math.abs(v) < MAX_EXACT ? Math.floor(v / width) * width : v - (((v % width) + width) % width);
}

/** Reads an operand of the current row as a number (buckets and numeric columns); NaN never means NULL here. */
function numberReader(operand: RowOperand, slots: RowSlots): () => number {
  const { nums } = slots;
  const c = operand.column;
  if (operand.kind === 'bucket') {
    const width = operand.widthMicros;
    return () => bucketStart(nums[c] as number, width);
  }
  return () => nums[c] as number;
}

const compareNumbers: Record<string, (a: number, b: number) => boolean> = {
  '=': (a, b) => a === b,
  '<>': (a, b) => a !== b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

/**
 * Compiles a row predicate into a closure over the row slots. String comparisons use the column's interner: an
 * equality is one integer comparison, and a LIKE is decided once per distinct value.
 */
export function compileRowPredicate(
  predicate: RowPredicate,
  slots: RowSlots,
  interners: readonly (Interner | undefined)[],
): () => Truth {
  const { nulls, ids } = slots;
  switch (predicate.kind) {
    case 'unknown':
      return () => UNKNOWN;
    case 'and': {
      const left = compileRowPredicate(predicate.left, slots, interners);
      const right = compileRowPredicate(predicate.right, slots, interners);
      return () => {
        const a = left();
        if (a === FALSE) return FALSE;
        const b = right();
        return b === FALSE ? FALSE : a === TRUE && b === TRUE ? TRUE : UNKNOWN;
      };
    }
    case 'or': {
      const left = compileRowPredicate(predicate.left, slots, interners);
      const right = compileRowPredicate(predicate.right, slots, interners);
      return () => {
        const a = left();
        if (a === TRUE) return TRUE;
        const b = right();
        return b === TRUE ? TRUE : a === FALSE && b === FALSE ? FALSE : UNKNOWN;
      };
    }
    case 'not': {
      const inner = compileRowPredicate(predicate.operand, slots, interners);
      return () => {
        const v = inner();
        return v === UNKNOWN ? UNKNOWN : v === TRUE ? FALSE : TRUE;
      };
    }
    case 'is-null': {
      const c = predicate.operand.column;
      const negated = predicate.negated;
      return () => ((nulls[c] === 1) !== negated ? TRUE : FALSE);
    }
    default:
  }
  const operand = predicate.operand;
  const c = operand.column;
  const interner = interners[c];
  if (operand.kind === 'column' && operand.type === 'varchar' && interner) {
    const text = (id: number) => interner.string(id);
    switch (predicate.kind) {
      case 'compare': {
        const literal = String(predicate.value);
        if (predicate.op === '=' || predicate.op === '<>') {
          const target = interner.internString(literal);
          const equal = predicate.op === '=';
          return () => (nulls[c] === 1 ? UNKNOWN : (ids[c] === target) === equal ? TRUE : FALSE);
        }
        const test = compareNumbers[predicate.op] as unknown as (a: string, b: string) => boolean;
        return () => (nulls[c] === 1 ? UNKNOWN : test(text(ids[c] as number), literal) ? TRUE : FALSE);
      }
      case 'in': {
        const targets = new Set(predicate.values.map((v) => interner.internString(String(v))));
        const negated = predicate.negated;
        return () => (nulls[c] === 1 ? UNKNOWN : targets.has(ids[c] as number) !== negated ? TRUE : FALSE);
      }
      case 'like': {
        const regex = new RegExp(predicate.regex);
        const negated = predicate.negated;
        const decided = new Map<number, boolean>();
        return () => {
          if (nulls[c] === 1) return UNKNOWN;
          const id = ids[c] as number;
          let match = decided.get(id);
          if (match === undefined) {
            match = regex.test(text(id));
            decided.set(id, match);
          }
          return match !== negated ? TRUE : FALSE;
        };
      }
    }
  }
  const read = numberReader(operand, slots);
  switch (predicate.kind) {
    case 'compare': {
      const test = compareNumbers[predicate.op] as (a: number, b: number) => boolean;
      const value = Number(predicate.value);
      return () => (nulls[c] === 1 ? UNKNOWN : test(read(), value) ? TRUE : FALSE);
    }
    case 'in': {
      const targets = new Set(predicate.values.map(Number));
      const negated = predicate.negated;
      return () => (nulls[c] === 1 ? UNKNOWN : targets.has(read()) !== negated ? TRUE : FALSE);
    }
    default:
      return () => UNKNOWN;
  }
}
