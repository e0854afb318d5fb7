import {
  type HistoryEntry,
  type HistoryFilter,
  type HistoryLimits,
  matches,
  type QueryHistory,
} from './query-history.js';
import type { RedisConnection } from './redis-connection.js';

/**
 * History in Redis, shared by every replica: per tenant a list, newest first, trimmed to its bound, expiring with
 * the retention period. Recording never fails a query: while Redis is unreachable, entries are dropped.
 */
export class RedisQueryHistory implements QueryHistory {
  constructor(
    readonly connection: RedisConnection,
    readonly limits: HistoryLimits,
    /** The tenants an administrator's list reads. */
    readonly tenants: () => readonly string[],
    readonly clock: () => number = Date.now,
  ) {}

  record(entry: HistoryEntry): void {
    void this.connection
      .run(async (redis) => {
        const key = this.connection.keys.history(entry.tenant);
        await redis
          .multi()
          .lpush(key, JSON.stringify(entry))
          .ltrim(key, 0, this.limits.maxPerTenant - 1)
          .pexpire(key, this.limits.retentionMs)
          .exec();
      })
      .catch(() => undefined);
  }

  async list(filter: HistoryFilter): Promise<readonly HistoryEntry[]> {
    const oldest = this.clock() - this.limits.retentionMs;
    const tenants = filter.tenant !== undefined ? [filter.tenant] : this.tenants();
    const lists = await this.connection.run((redis) =>
      Promise.all(
        tenants.map((tenant) => redis.lrange(this.connection.keys.history(tenant), 0, this.limits.maxPerTenant - 1)),
      ),
    );
    return lists
      .flat()
      .map((text) => JSON.parse(text) as HistoryEntry)
      .filter((entry) => entry.at >= oldest && matches(entry, filter))
      .sort((a, b) => b.at - a.at)
      .slice(0, filter.limit);
  }
}
