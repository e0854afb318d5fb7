import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** mulberry32: a seeded generator, so every run writes the same rows. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const TRAFFIC_HEADER = 'ts,organization,api_proxy,status_code,total_response_ms,response_size';

/** `YYYY-MM-DD HH:MM:SS.mmm` (UTC) of epoch milliseconds, as DuckDB reads timestamps. */
export const timestampText = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 23);

/** API-traffic rows with timestamps spread over `[fromMs, toMs)`, as CSV text with a header. */
export function trafficCsv(seed: number, fromMs: number, toMs: number, rows: number): string {
  const next = seeded(seed);
  const lines = [TRAFFIC_HEADER];
  for (let i = 0; i < rows; i++) {
    const ts = fromMs + Math.floor(((toMs - fromMs) * i) / rows);
    lines.push(
      [
        timestampText(ts),
        `org-${Math.floor(next() ** 2 * 4)}`,
        ['orders', 'payments', 'search'][Math.floor(next() * 3)],
        next() < 0.05 ? 503 : 200,
        Math.floor(Math.exp(next() * 6)),
        Math.floor(next() * 5000),
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Writes one CSV file per `fileMs` of `[fromMs, toMs)` into `dir`; returns the files' paths. */
export async function writeTrafficFiles(
  dir: string,
  fromMs: number,
  toMs: number,
  fileMs: number,
  rowsPerFile: number,
): Promise<string[]> {
  const paths: string[] = [];
  for (let start = fromMs, i = 0; start < toMs; start += fileMs, i++) {
    const path = join(dir, `part-${String(i).padStart(4, '0')}.csv`);
    await writeFile(path, trafficCsv(i + 1, start, Math.min(toMs, start + fileMs), rowsPerFile));
    paths.push(path);
  }
  return paths;
}

/**
 * The 5-minute rollup the rollup tests and the rollup-serving bench define over API traffic: requests, total and
 * p95 latency and errors by organization and API proxy, from `startAt` (ms), each interval due as soon as it ends.
 */
export const trafficRollup = (startAt: number) => ({
  source: 'traffic',
  interval: '5m',
  timeColumn: 'ts',
  dimensions: ['organization', 'api_proxy'],
  measures: {
    requests: 'count(*)',
    total_ms: 'sum(total_response_ms)',
    p95_ms: 'quantile_cont(total_response_ms, 0.95)',
    errors: 'count(*) FILTER (WHERE status_code >= 500)',
  },
  startAt: new Date(startAt).toISOString(),
  delaySeconds: 0,
});
