import { abortError } from './errors.js';

/**
 * A counting semaphore whose waiters are served first come, first served, and can give up on abort: the one
 * admission primitive behind engine connection pools, the gateway's engine slots and per-tenant statement slots.
 */
export class Slots {
  readonly #capacity: number;
  readonly #waiting: (() => void)[] = [];
  #used = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get used(): number {
    return this.#used;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves when a slot is free; rejects with the signal's error if it aborts first. */
  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    if (this.#used < this.#capacity && this.#waiting.length === 0) {
      this.#used++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', cancel);
        this.#used++;
        resolve();
      };
      const cancel = (): void => {
        const index = this.#waiting.indexOf(grant);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(abortError(signal));
      };
      signal.addEventListener('abort', cancel, { once: true });
      this.#waiting.push(grant);
    });
  }

  /**
   * Takes a slot at once, beyond the capacity if need be: for work already running that turns out to belong here.
   * Waiters are served again only once the slots in use are back under the capacity.
   */
  occupy(): void {
    this.#used++;
  }

  release(): void {
    this.#used--;
    if (this.#used < this.#capacity) this.#waiting.shift()?.();
  }
}
