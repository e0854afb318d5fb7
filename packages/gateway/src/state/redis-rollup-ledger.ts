import { ROLLUP_CHANGES_KEPT, type RollupChanges } from '@lakegate/rollups';
import type { RedisConnection } from './redis-connection.js';
import type { RollupLedger } from './rollup-ledger.js';

/**
 * Puts a record, counts it in the rollup's version and notes its interval under that version, dropping the notes
 * of puts too old to keep: one script, so a reader never sees one without the others.
 */
const PUT_SCRIPT =
  "redis.call('hset', KEYS[1], ARGV[1], ARGV[2]) " +
  "local version = redis.call('incr', KEYS[2]) " +
  "redis.call('zadd', KEYS[3], version, ARGV[1]) " +
  "redis.call('zremrangebyscore', KEYS[3], '-inf', version - tonumber(ARGV[3])) return version";

/** Takes the claim if free, or renews it if it is the owner's: one script, so two replicas never both hold it. */
const CLAIM_SCRIPT =
  "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end " +
  "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end return 0";

/** Deletes the claim only if it is the owner's: a lapsed claim another replica has taken since stays theirs. */
const RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/** The rollup ledger in Redis: a hash of interval records per rollup, and a key with a TTL per claim. */
export class RedisRollupLedger implements RollupLedger {
  readonly #connection: RedisConnection;

  constructor(connection: RedisConnection) {
    this.#connection = connection;
  }

  rollupIntervals(rollup: string): Promise<Map<number, string>> {
    return this.#connection.run(async (redis) => {
      const all = await redis.hgetall(this.#connection.keys.rollup(rollup));
      return new Map(Object.entries(all).map(([start, record]) => [Number(start), record]));
    });
  }

  rollupIntervalsAt(rollup: string, starts: readonly number[]): Promise<Map<number, string>> {
    return this.#connection.run(async (redis) => {
      const found = new Map<number, string>();
      if (starts.length === 0) return found;
      const records = await redis.hmget(this.#connection.keys.rollup(rollup), ...starts.map(String));
      for (const [i, record] of records.entries()) if (record !== null) found.set(starts[i] as number, record);
      return found;
    });
  }

  putRollupInterval(rollup: string, start: number, record: string): Promise<void> {
    const { keys } = this.#connection;
    return this.#connection.run(async (redis) => {
      const rollupKeys = [keys.rollup(rollup), keys.rollupVersion(rollup), keys.rollupChanges(rollup)];
      await redis.eval(PUT_SCRIPT, 3, ...rollupKeys, String(start), record, String(ROLLUP_CHANGES_KEPT));
    });
  }

  rollupChanges(rollup: string, since: number): Promise<RollupChanges> {
    const { keys } = this.#connection;
    return this.#connection.run(async (redis) => {
      const results = await redis
        .multi()
        .get(keys.rollupVersion(rollup))
        .zrangebyscore(keys.rollupChanges(rollup), `(${since}`, '+inf')
        .exec();
      const failed = results?.find(([error]) => error)?.[0];
      if (failed) throw failed;
      const version = Number(results?.[0]?.[1] ?? 0);
      if (since > version || since < version - ROLLUP_CHANGES_KEPT) return { version, starts: undefined };
      return { version, starts: ((results?.[1]?.[1] as string[] | undefined) ?? []).map(Number) };
    });
  }

  claimRollupInterval(rollup: string, start: number, owner: string, ttlMs: number): Promise<boolean> {
    const key = this.#connection.keys.rollupClaim(rollup, start);
    return this.#connection.run(async (redis) => (await redis.eval(CLAIM_SCRIPT, 1, key, owner, String(ttlMs))) === 1);
  }

  releaseRollupInterval(rollup: string, start: number, owner: string): Promise<void> {
    const key = this.#connection.keys.rollupClaim(rollup, start);
    return this.#connection.run(async (redis) => {
      await redis.eval(RELEASE_SCRIPT, 1, key, owner);
    });
  }
}
