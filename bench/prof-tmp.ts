import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { bindAggregateQuery } from '../packages/engine-local-agg/src/exec/bind.ts';
import { MergedGroups } from '../packages/engine-local-agg/src/exec/merge-groups.ts';
import { WorkerPool } from '../packages/engine-local-agg/src/exec/worker-pool.ts';
import { parseLocalQuery } from '../packages/engine-local-agg/src/query/parse-query.ts';
import { sniffFile } from '../packages/engine-local-agg/src/table/file-layout.ts';
import { splitRanges } from '../packages/engine-local-agg/src/table/line-reader.ts';

const path = join(process.cwd(), '.data/local-agg/api-traffic-6000000.csv');
const { size } = await stat(path);
const sql = `SELECT organization, api_proxy, time_bucket(INTERVAL '5 minutes', ts) AS bucket, count(*) AS requests,
  sum(total_response_ms) AS total_ms, min(total_response_ms) AS min_ms, max(total_response_ms) AS max_ms,
  avg(total_response_ms) AS avg_ms,
  quantile_cont(total_response_ms, 0.5) AS p50, quantile_cont(total_response_ms, 0.95) AS p95,
  quantile_cont(total_response_ms, 0.99) AS p99,
  sum(request_size) AS request_bytes, sum(response_size) AS response_bytes,
  count(*) FILTER (WHERE status_code >= 500) AS errors FROM traffic GROUP BY 1, 2, 3`;
const layout = await sniffFile(path, 'csv');
const q = parseLocalQuery(process.env.SQL ?? sql);
if (q.shape !== 'aggregate') throw new Error();
const bound = bindAggregateQuery(q, layout.columns);
const pool = new WorkerPool(2);
const work = splitRanges([{ path, size }], () => layout, 16 * 1024 * 1024).map((range) => ({ range, layout }));
for (let i = 0; i < 2; i++) {
  let t = performance.now();
  const out = await pool.run(bound.pass, work, new AbortController().signal);
  console.log('pool.run', performance.now() - t);
  t = performance.now();
  const merged = new MergedGroups(bound.pass.sets[0]!);
  for (const p of out.partials) merged.add(p[0]!);
  console.log('merge', performance.now() - t);
  t = performance.now();
  const r = merged.finish(bound.finish, 1e9);
  console.log('finish', performance.now() - t, r.rowCount);
}
await pool.close();
