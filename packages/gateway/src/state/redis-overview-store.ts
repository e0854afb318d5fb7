import type { MinuteFigures, OverviewStore } from './overview-store.js';
import type { RedisConnection } from './redis-connection.js';

/** Figures are kept a little longer than the hour the Overview shows. */
const KEEP_MS = 65 * 60_000;

/** Per-minute figures in Redis: one hash per tenant and minute, a field per replica, expiring after the hour. */
export class RedisOverviewStore implements OverviewStore {
  constructor(readonly connection: RedisConnection) {}

  publish(replica: string, tenant: string, minute: number, figures: MinuteFigures): Promise<void> {
    return this.connection.run(async (redis) => {
      const key = this.connection.keys.overview(tenant, minute);
      await redis.multi().hset(key, replica, JSON.stringify(figures)).pexpire(key, KEEP_MS).exec();
    });
  }

  read(tenant: string, minutes: readonly number[]): Promise<Map<number, MinuteFigures[]>> {
    return this.connection.run(async (redis) => {
      const pipeline = redis.pipeline();
      for (const minute of minutes) pipeline.hvals(this.connection.keys.overview(tenant, minute));
      const results = (await pipeline.exec()) ?? [];
      const out = new Map<number, MinuteFigures[]>();
      minutes.forEach((minute, i) => {
        const values = (results[i]?.[1] as string[] | undefined) ?? [];
        if (values.length > 0)
          out.set(
            minute,
            values.map((v) => JSON.parse(v) as MinuteFigures),
          );
      });
      return out;
    });
  }
}
