/**
 * The rollup ledger (interval records and claims) is the rollups package's interface; the gateway keeps it in Redis
 * (`redis-rollup-ledger.ts`) when `state.redisUrl` is set, else in the package's memory ledger.
 */
export type { RollupLedger } from '@lakegate/rollups';
