import type { CancelHandler, ReplicaBus } from './replica-bus.js';

/** The bus of a single gateway: every "replica" is this process, so a cancel goes straight to its handlers. */
export class MemoryReplicaBus implements ReplicaBus {
  readonly #cancelHandlers: CancelHandler[] = [];
  /** Epoch ms until which each replica counts as alive. */
  readonly #aliveUntil = new Map<string, number>();

  async publishCancel(sessionId: number, statementId: number): Promise<void> {
    for (const handler of this.#cancelHandlers) handler(sessionId, statementId);
  }

  onCancel(handler: CancelHandler): void {
    this.#cancelHandlers.push(handler);
  }

  async heartbeat(replica: string, ttlMs: number): Promise<void> {
    this.#aliveUntil.set(replica, Date.now() + ttlMs);
  }

  async isAlive(replica: string): Promise<boolean> {
    return (this.#aliveUntil.get(replica) ?? 0) > Date.now();
  }
}
