import type { RedisConnection } from './redis-connection.js';
import type { CancelHandler, ReplicaBus } from './replica-bus.js';

interface CancelMessage {
  readonly sessionId: number;
  readonly statementId: number;
}

/** The replica bus over Redis: cancels are published on one channel, liveness is a key per replica with a TTL. */
export class RedisReplicaBus implements ReplicaBus {
  readonly #connection: RedisConnection;
  readonly #cancelHandlers: CancelHandler[] = [];

  constructor(connection: RedisConnection) {
    this.#connection = connection;
    connection.subscribe(connection.keys.cancel, (message) => this.#deliver(message));
  }

  #deliver(message: string): void {
    const { sessionId, statementId } = JSON.parse(message) as CancelMessage;
    for (const handler of this.#cancelHandlers) handler(sessionId, statementId);
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

  heartbeat(replica: string, ttlMs: number): Promise<void> {
    return this.#connection.run(async (redis) => {
      await redis.set(this.#connection.keys.replica(replica), String(Date.now()), 'PX', ttlMs);
    });
  }

  isAlive(replica: string): Promise<boolean> {
    return this.#connection.run(async (redis) => (await redis.exists(this.#connection.keys.replica(replica))) === 1);
  }
}
