import type { CancelHandler, QueryCancel, ReplicaBus, ReplicaStatus } from './replica-bus.js';

/** The bus of a single gateway: every "replica" is this process, so a cancel goes straight to its handlers. */
export class MemoryReplicaBus implements ReplicaBus {
  readonly #cancelHandlers: CancelHandler[] = [];
  readonly #queryCancelHandlers: ((cancel: QueryCancel) => void)[] = [];
  /** Epoch ms until which each replica counts as alive, and what it last told. */
  readonly #aliveUntil = new Map<string, { until: number; status: ReplicaStatus | undefined }>();

  async publishCancel(sessionId: number, statementId: number): Promise<void> {
    for (const handler of this.#cancelHandlers) handler(sessionId, statementId);
  }

  onCancel(handler: CancelHandler): void {
    this.#cancelHandlers.push(handler);
  }

  async publishQueryCancel(cancel: QueryCancel): Promise<void> {
    for (const handler of this.#queryCancelHandlers) handler(cancel);
  }

  onQueryCancel(handler: (cancel: QueryCancel) => void): void {
    this.#queryCancelHandlers.push(handler);
  }

  async heartbeat(replica: string, ttlMs: number, status?: ReplicaStatus): Promise<void> {
    this.#aliveUntil.set(replica, { until: Date.now() + ttlMs, status });
  }

  async isAlive(replica: string): Promise<boolean> {
    return (this.#aliveUntil.get(replica)?.until ?? 0) > Date.now();
  }

  async replicas(): Promise<ReplicaStatus[]> {
    const now = Date.now();
    return [...this.#aliveUntil.values()]
      .filter((entry) => entry.until > now && entry.status !== undefined)
      .map((entry) => entry.status as ReplicaStatus)
      .sort((a, b) => a.id.localeCompare(b.id));
  }
}
