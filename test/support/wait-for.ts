/**
 * Polls `probe` every 50 ms until it gives a value, or throws after `timeoutMs` naming `what` and the last answer
 * (or error): for state a server reaches in its own time.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const last = await probe().catch((error: unknown) => String(error));
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
