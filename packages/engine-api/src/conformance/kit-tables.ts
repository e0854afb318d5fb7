import type { InMemoryTable } from '../reference-engine.js';

/** The tenant every conformance query runs as. */
export const KIT_TENANT = 'kit_tenant';

const DAY_2024_01_01 = 19723;

/** Small fixed table with every basic kind and a NULL. Rows are ordered by `id`. */
export const KIT_PEOPLE: InMemoryTable = Object.freeze<InMemoryTable>({
  columns: [
    { name: 'id', type: { kind: 'bigint', sqlType: 'BIGINT' } },
    { name: 'name', type: { kind: 'string', sqlType: 'VARCHAR' } },
    { name: 'score', type: { kind: 'float', sqlType: 'DOUBLE' } },
    { name: 'active', type: { kind: 'boolean', sqlType: 'BOOLEAN' } },
    { name: 'joined', type: { kind: 'date', sqlType: 'DATE' } },
  ],
  rows: [
    [1n, 'ada', 91.5, true, DAY_2024_01_01],
    [2n, 'brian', 78.25, false, DAY_2024_01_01 + 1],
    [3n, null, 66, true, DAY_2024_01_01 + 40],
    [4n, 'dennis', -1.5, false, DAY_2024_01_01 + 366],
    [5n, 'edsger', 0, true, DAY_2024_01_01 - 365],
  ],
});

/** Row count of `kit_series`: enough batches in any engine for mid-stream cancellation tests. */
export const KIT_SERIES_ROWS = 200_000;

function series(): InMemoryTable {
  const rows: (readonly unknown[])[] = new Array(KIT_SERIES_ROWS);
  for (let n = 0; n < KIT_SERIES_ROWS; n++) rows[n] = [BigInt(n)];
  return Object.freeze<InMemoryTable>({ columns: [{ name: 'n', type: { kind: 'bigint', sqlType: 'BIGINT' } }], rows });
}

export interface KitTables {
  readonly kit_people: InMemoryTable;
  readonly kit_series: InMemoryTable;
}

let cached: KitTables | undefined;

/** The tables every engine under test must serve, as datasets of {@link KIT_TENANT}. */
export function kitTables(): KitTables {
  cached ??= Object.freeze({ kit_people: KIT_PEOPLE, kit_series: series() });
  return cached;
}
