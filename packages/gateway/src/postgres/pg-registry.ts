import { randomBytes, randomInt } from 'node:crypto';

/** The keys that let a CancelRequest on another connection reach this one's running query. */
export class CancelKeys {
  readonly #connections = new Map<number, { secret: number; cancel: () => void }>();

  issue(cancel: () => void): { pid: number; secret: number } {
    let pid: number;
    do pid = randomInt(1, 2 ** 31 - 1);
    while (this.#connections.has(pid));
    const secret = randomBytes(4).readInt32BE(0);
    this.#connections.set(pid, { secret, cancel });
    return { pid, secret };
  }

  /** Cancels the connection's running query when the key matches; says nothing either way, as Postgres. */
  cancel(pid: number, secret: number): void {
    const connection = this.#connections.get(pid);
    if (connection && connection.secret === secret) connection.cancel();
  }

  release(pid: number): void {
    this.#connections.delete(pid);
  }
}

/** Connections open, in all and by tenant, against the configured limits. */
export class ConnectionCounts {
  total = 0;
  readonly #tenants = new Map<string, number>();

  constructor(readonly perTenant: number) {}

  tryTenant(tenant: string): boolean {
    const open = this.#tenants.get(tenant) ?? 0;
    if (open >= this.perTenant) return false;
    this.#tenants.set(tenant, open + 1);
    return true;
  }

  /** Logged-in connections by tenant (tenants with none are absent). */
  byTenant(): Record<string, number> {
    return Object.fromEntries(this.#tenants);
  }

  releaseTenant(tenant: string): void {
    const open = (this.#tenants.get(tenant) ?? 1) - 1;
    if (open <= 0) this.#tenants.delete(tenant);
    else this.#tenants.set(tenant, open);
  }
}
