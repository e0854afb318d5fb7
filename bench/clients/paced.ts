/**
 * An open-loop client: POSTs `sql` to `url`/v1/query with `key` at `rate` queries a second for `seconds` (a query
 * every 1/rate seconds whatever the answers' latency, as dashboards do), at most `inFlight` unanswered at once
 * (beyond that a query is not sent). Used in-process, or run as its own process (see the bottom) so that a flooding
 * client's CPU can be kept apart from the gateway's and from the measured client's.
 */
export interface PacedResult {
  /** Latencies of the 200 answers, in milliseconds. */
  readonly latencies: number[];
  /** Answers by HTTP status. */
  readonly statuses: Record<string, number>;
  readonly notSent: number;
}

export async function paced(
  url: string,
  key: string,
  sql: string,
  rate: number,
  seconds: number,
  inFlight: number,
): Promise<PacedResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const started = performance.now();
  const pending = new Set<Promise<void>>();
  let notSent = 0;
  for (let n = 0; ; n++) {
    const due = started + (n * 1000) / rate;
    if (due > started + seconds * 1000) break;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
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
      if (response.status === 200) latencies.push(performance.now() - sent);
    })();
    pending.add(request);
    void request.finally(() => pending.delete(request));
  }
  await Promise.all(pending);
  return { latencies, statuses, notSent };
}

// As a process: the arguments as JSON on the command line, the result as JSON on stdout.
if (process.argv[1] === import.meta.filename) {
  const { url, key, sql, rate, seconds, inFlight } = JSON.parse(process.argv[2] as string);
  process.stdout.write(JSON.stringify(await paced(url, key, sql, rate, seconds, inFlight)));
}
