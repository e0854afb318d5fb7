/** One replica's figures of one tenant for one minute, as replicas share them for the console's Overview. */
export interface MinuteFigures {
  readonly queries: number;
  readonly refused: number;
  readonly errors: Readonly<Record<string, number>>;
  /** A sample of the minute's durations (ms), for percentiles across replicas. */
  readonly durations: readonly number[];
}

/**
 * Where replicas share their per-minute figures, so that any replica's Overview shows the whole gateway's. Absent
 * (one gateway, state in memory), each replica shows its own.
 */
export interface OverviewStore {
  /** Stores this replica's figures of `tenant` for `minute` (epoch ms of its start), replacing its earlier ones. */
  publish(replica: string, tenant: string, minute: number, figures: MinuteFigures): Promise<void>;
  /** Every replica's figures of `tenant` for each of `minutes`, by minute. */
  read(tenant: string, minutes: readonly number[]): Promise<Map<number, MinuteFigures[]>>;
}
