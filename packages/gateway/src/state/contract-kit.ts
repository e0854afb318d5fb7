import { strict as assert } from 'node:assert';
import { isLakegateError } from '@lakegate/engine-api';

type TestFn = () => unknown | Promise<unknown>;

/**
 * The few test-runner functions the state contracts need; pass vitest's own. The contracts use `node:assert`, so
 * that the gateway package does not depend on a test runner.
 */
export interface ContractTestApi {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: TestFn, timeoutMs?: number): void;
}

/** An instance under test, and how to free it. */
export interface Opened<T> {
  readonly subject: T;
  close(): Promise<void>;
}

/** How a contract suite gets instances of one implementation. */
export interface ContractHarness<T> {
  /** A new instance over empty state (for Redis: a key prefix of its own). */
  open(): Promise<Opened<T>>;
  /**
   * An instance whose backend cannot be reached, for implementations that can lose it (Redis, not memory): the
   * suite then checks that every call fails at once with STATE_UNAVAILABLE.
   */
  openUnreachable?(): Promise<Opened<T>>;
}

/** Opens an instance, runs `fn` with it, and closes it however `fn` ends. */
export async function using<T>(open: () => Promise<Opened<T>>, fn: (subject: T) => Promise<void>): Promise<void> {
  const opened = await open();
  try {
    await fn(opened.subject);
  } finally {
    await opened.close();
  }
}

/** "At once": well within a client's command timeout, so a call that waits for a reconnection fails the check. */
const AT_ONCE_MS = 500;

/** Asserts that `call` rejects with STATE_UNAVAILABLE, without waiting for the backend. */
export async function expectUnavailable(what: string, call: () => Promise<unknown>): Promise<void> {
  const started = Date.now();
  await assert.rejects(call(), (error: unknown) => {
    assert.ok(isLakegateError(error), `${what}: expected a Lakegate error, got ${String(error)}`);
    assert.equal(error.code, 'STATE_UNAVAILABLE', `${what}: ${error.message}`);
    return true;
  });
  const tookMs = Date.now() - started;
  assert.ok(tookMs < AT_ONCE_MS, `${what}: took ${tookMs} ms to fail`);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds, or fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
