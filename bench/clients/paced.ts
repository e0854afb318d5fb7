/**
 * An open-loop client: POSTs `sql` to `url`/v1/query with `key` at `rate` queries a second for `seconds` (a query
 * every 1/rate seconds whatever the answers' latency, as dashboards do), at most `inFlight` unanswered at once
 * (beyond that a query is not sent). Used in-process, or run as its own process (see the bottom) so that a flooding
 * client's CPU can be kept apart from the gateway's and from the measured client's.
 */
export interface PacedOptions {
  readonly url: string;
  readonly key: string;
  readonly sql: string;
  readonly rate: number;
  readonly seconds: number;
  readonly inFlight: number;
  /** When to send the first query (epoch milliseconds), so that clients in several processes share one clock. */
  readonly startAt?: number;
  /**
   * Send only in the first `onMs` of every `periodMs` (counted from the start): a client that alternates between
   * sending and silence, so that measurements with and without it interleave.
   */
  readonly pattern?: { readonly periodMs: number; readonly onMs: number };
}

export interface PacedResult {
  /** Latencies of the 200 answers, in milliseconds. */
  readonly latencies: number[];
  /** When each of those queries was sent, in milliseconds from the start (same order as `latencies`). */
  readonly sentAt: number[];
  /** Answers by HTTP status. */
  readonly statuses: Record<string, number>;
  readonly notSent: number;
  /** How late the client started, past `startAt`, in milliseconds. */
  readonly lateMs: number;
}

export async function paced(options: PacedOptions): Promise<PacedResult> {
  const { url, key, sql, rate, seconds, inFlight, pattern } = options;
  const latencies: number[] = [];
  const sentAt: number[] = [];
  const statuses: Record<string, number> = {};
  const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const lateMs = options.startAt === undefined ? 0 : Math.max(0, Date.now() - options.startAt);
  if (options.startAt !== undefined) await delay(Math.max(0, options.startAt - Date.now()));
  const started = performance.now();
  const pending = new Set<Promise<void>>();
  let notSent = 0;
  for (let n = 0; ; n++) {
    const offset = (n * 1000) / rate;
    if (offset > seconds * 1000) break;
    if (pattern && offset % pattern.periodMs >= pattern.onMs) continue;
    const wait = started + offset - performance.now();
    if (wait > 0) await delay(wait);
    if (pending.size >= inFlight) {
      notSent++;
      continue;
    }
    const request = (async () => {
      const sent = performance.now();
      const response = await fetch(`${url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}` },
        body: JSON.stringify({ sql }),
      });
      await response.text();
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      if (response.status === 200) {
        latencies.push(performance.now() - sent);
        sentAt.push(sent - started);
      }
    })();
    pending.add(request);
    void request.finally(() => pending.delete(request));
  }
  await Promise.all(pending);
  return { latencies, sentAt, statuses, notSent, lateMs };
}

// As a process: the options as JSON on the command line, the result as JSON on stdout.
if (process.argv[1] === import.meta.filename) {
  process.stdout.write(JSON.stringify(await paced(JSON.parse(process.argv[2] as string) as PacedOptions)));
}
