import { createHash } from 'node:crypto';
import { LakegateError } from '@lakegate/engine-api';
import { type RollupDefinition, rollupSql } from '@lakegate/engine-local-agg';
import type { PostgresSinkSpec, PostgresSourceSpec } from './postgres/postgres-specs.js';

/** A rollup as configured: its definition, and when its intervals start and become complete. */
export interface RollupSpec extends RollupDefinition {
  /** Milliseconds since 1970 of the first interval; `undefined` for the default backfill. */
  readonly startAtMs: number | undefined;
  /** How long after an interval ends before it is computed, for late files. */
  readonly delayMs: number;
  /** Its source when that is a PostgreSQL table rather than a dataset (`source` then only names it). */
  readonly postgres?: PostgresSourceSpec | undefined;
  /** Where its rows are loaded besides the interval files. */
  readonly sink?: PostgresSinkSpec | undefined;
}

/** Rollups of one tenant that read the same source at the same interval: computed together, in one pass. */
export interface RollupContext {
  readonly tenant: string;
  readonly source: string;
  readonly intervalMs: number;
  /** The longest delay of its rollups. */
  readonly delayMs: number;
  /** The earliest first interval of its rollups. */
  readonly startMs: number;
  /** At least one; the first leads (its time column places rows, its records stand for the context's). */
  readonly rollups: readonly [RollupSpec, ...RollupSpec[]];
}

/** Groups each tenant's rollups into contexts; a rollup without `startAtMs` starts at `defaultStartMs`. */
export function groupContexts(
  tenants: Readonly<Record<string, readonly RollupSpec[]>>,
  defaultStartMs: number,
): RollupContext[] {
  const contexts = new Map<string, RollupContext>();
  for (const [tenant, rollups] of Object.entries(tenants)) {
    for (const rollup of rollups) {
      const key = `${tenant}\0${rollup.source}\0${rollup.intervalMs}`;
      const start = Math.floor((rollup.startAtMs ?? defaultStartMs) / rollup.intervalMs) * rollup.intervalMs;
      const existing = contexts.get(key);
      contexts.set(key, {
        tenant,
        source: rollup.source,
        intervalMs: rollup.intervalMs,
        delayMs: Math.max(existing?.delayMs ?? 0, rollup.delayMs),
        startMs: Math.min(existing?.startMs ?? Number.POSITIVE_INFINITY, start),
        rollups: existing ? [...existing.rollups, rollup] : [rollup],
      });
    }
  }
  return [...contexts.values()];
}

/** The end of the newest interval that is complete at `now` (and past its delay for late files). */
export const lastEnd = (context: RollupContext, now: number): number =>
  Math.floor((now - context.delayMs) / context.intervalMs) * context.intervalMs;

/**
 * The first interval late rows may still change at `now`, for a source that is a PostgreSQL table whose late rows
 * come within `lateRowsMs`: each tick fingerprints the intervals from there on, and computes again those changed.
 */
export const firstLate = (context: RollupContext, lateRowsMs: number, now: number): number =>
  Math.max(context.startMs, Math.floor((lastEnd(context, now) - lateRowsMs) / context.intervalMs) * context.intervalMs);

/** The starts of a context's intervals in `[from, to)`, `from` on an interval's start. */
export function intervalStarts(context: RollupContext, from: number, to: number): number[] {
  const starts: number[] = [];
  for (let start = from; start + context.intervalMs <= to; start += context.intervalMs) starts.push(start);
  return starts;
}

/** A rollup's name in the ledger. */
export const rollupKey = (tenant: string, name: string): string => `${tenant}/${name}`;

/** An interval's file in the sink: `<tenant>/<rollup>/<start, ISO 8601 basic>.ndjson`. */
export const fileKey = (tenant: string, name: string, start: number): string =>
  `${tenant}/${name}/${new Date(start).toISOString().replaceAll(':', '').replace('.000Z', 'Z')}.ndjson`;

export const fingerprint = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

const definitions = new WeakMap<RollupDefinition, string>();

/**
 * The definition fingerprint: the rollup's SQL (dimensions, measures, filters, order) and its interval. Kept per
 * definition object, since a tick asks it for every interval of the rollup's history.
 */
export function definitionOf(rollup: RollupDefinition): string {
  let known = definitions.get(rollup);
  if (known === undefined) {
    known = fingerprint(`${rollupSql(rollup)}|${rollup.intervalMs}`);
    definitions.set(rollup, known);
  }
  return known;
}

/** The context and spec of a tenant's rollup, or NOT_FOUND naming the tenant's rollups. */
export function findRollup(
  contexts: readonly RollupContext[],
  tenant: string,
  name: string,
): { context: RollupContext; rollup: RollupSpec } {
  for (const context of contexts) {
    if (context.tenant !== tenant) continue;
    const rollup = context.rollups.find((r) => r.name === name);
    if (rollup) return { context, rollup };
  }
  const names = contexts.filter((c) => c.tenant === tenant).flatMap((c) => c.rollups.map((r) => r.name));
  throw new LakegateError('NOT_FOUND', `Rollup "${name}" does not exist. Rollups: ${names.join(', ') || 'none'}.`);
}
