import type { RedisConnection } from './redis-connection.js';
import type { CancelHandler, QueryCancel, ReplicaBus, ReplicaStatus } from './replica-bus.js';

interface CancelMessage {
  readonly sessionId: number;
  readonly statementId: number;
}

/**
 * The replica bus over Redis: cancels are published on channels; liveness is a key per replica with a TTL holding
 * its last status, and a sorted set of replicas by when that lapses lists them without scanning keys.
 */
export class RedisReplicaBus implements ReplicaBus {
  readonly #connection: RedisConnection;
  readonly #cancelHandlers: CancelHandler[] = [];
  readonly #queryCancelHandlers: ((cancel: QueryCancel) => void)[] = [];

  constructor(connection: RedisConnection) {
    this.#connection = connection;
    connection.subscribe(connection.keys.cancel, (message) => {
      const { sessionId, statementId } = JSON.parse(message) as CancelMessage;
      for (const handler of this.#cancelHandlers) handler(sessionId, statementId);
    });
    connection.subscribe(connection.keys.queryCancel, (message) => {
      const cancel = JSON.parse(message) as QueryCancel;
      for (const handler of this.#queryCancelHandlers) handler(cancel);
    });
  }

  publishCancel(sessionId: number, statementId: number): Promise<void> {
    const message: CancelMessage = { sessionId, statementId };
    return this.#connection.run(async (redis) => {
      await redis.publish(this.#connection.keys.cancel, JSON.stringify(message));
    });
  }

  onCancel(handler: CancelHandler): void {
    this.#cancelHandlers.push(handler);
  }

  publishQueryCancel(cancel: QueryCancel): Promise<void> {
    return this.#connection.run(async (redis) => {
      await redis.publish(this.#connection.keys.queryCancel, JSON.stringify(cancel));
    });
  }

  onQueryCancel(handler: (cancel: QueryCancel) => void): void {
    this.#queryCancelHandlers.push(handler);
  }

  heartbeat(replica: string, ttlMs: number, status?: ReplicaStatus): Promise<void> {
    const { keys } = this.#connection;
    const value = status ? JSON.stringify(status) : String(Date.now());
    return this.#connection.run(async (redis) => {
      await redis
        .multi()
        .set(keys.replica(replica), value, 'PX', ttlMs)
        .zadd(keys.replicas, Date.now() + ttlMs, replica)
        .exec();
    });
  }

  isAlive(replica: string): Promise<boolean> {
    return this.#connection.run(async (redis) => (await redis.exists(this.#connection.keys.replica(replica))) === 1);
  }

  replicas(): Promise<ReplicaStatus[]> {
    const { keys } = this.#connection;
    return this.#connection.run(async (redis) => {
      await redis.zremrangebyscore(keys.replicas, '-inf', Date.now());
      const ids = await redis.zrange(keys.replicas, 0, -1);
      if (ids.length === 0) return [];
      const values = await redis.mget(...ids.map((id) => keys.replica(id)));
      const out: ReplicaStatus[] = [];
      for (const value of values) {
        // A replica of an earlier version beats with a bare timestamp: alive, with nothing to show.
        if (value?.startsWith('{')) out.push(JSON.parse(value) as ReplicaStatus);
      }
      return out.sort((a, b) => a.id.localeCompare(b.id));
    });
  }
}
