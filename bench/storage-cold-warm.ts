/**
 * Cold vs warm reads of a tenant dataset through the storage cache, against s3rver on loopback with an
 * injected origin delay of 20 ms per request (real S3's first-byte latency). The dataset is ~200 MB of Parquet
 * in 8 files. Baselines: reading the same files straight from S3 with the AWS SDK, in the same run, as one array per
 * object (`transformToByteArray`) and as a stream.
 *
 *   npm run bench -w @lakegate/bench -- storage-cold-warm
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { createStorage } from '@lakegate/storage';
import { startS3 } from '../test/harness/services.js';
import { writeParquet } from '../test/support/duckdb-data.js';
import { createBucket, putObject, s3Client, s3Settings } from '../test/support/s3-fixtures.js';
import { ms, report, summarise } from './support.js';

const FILES = 8;
const ROWS_PER_FILE = 800_000;
const DELAY_MS = Number(process.env.BENCH_ORIGIN_DELAY_MS ?? 20);
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 3);
const WARM_RUNS = Number(process.env.BENCH_WARM_RUNS ?? 10);

const dataDir = join(import.meta.dirname, '.data', 'cold-warm');
await mkdir(dataDir, { recursive: true });
for (let i = 0; i < FILES; i++) {
  const path = join(dataDir, `part-${i}.parquet`);
  if (existsSync(path)) continue;
  // Hashes do not compress: ~25 MB per file.
  await writeParquet(
    path,
    `SELECT hash(i, ${i}) AS a, hash(i, ${i + 100}) AS b, hash(i, ${i + 200}) AS c, hash(i, ${i + 300}) AS d
     FROM range(${ROWS_PER_FILE}) t(i)`,
  );
}

const server = await startS3();
const s3 = s3Client(server.endpoint);
const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-cold-warm-'));
let totalBytes = 0;
try {
  await createBucket(s3, 'lake');
  for (let i = 0; i < FILES; i++) {
    const body = await readFile(join(dataDir, `part-${i}.parquet`));
    totalBytes += body.byteLength;
    await putObject(s3, 'lake', `acme/events/part-${i}.parquet`, body);
  }
  await server.setDelay(DELAY_MS);

  const tenants = {
    acme: {
      datasets: {
        events: {
          location: { kind: 's3' as const, bucket: 'lake', prefix: 'acme/events/' },
          format: 'parquet' as const,
        },
      },
    },
  };
  const readAll = async (paths: readonly string[]) => {
    let bytes = 0;
    await Promise.all(paths.map(async (p) => (bytes += (await readFile(p)).byteLength)));
    return bytes;
  };

  // Baselines: every read goes to S3, the bytes read as the SDK offers (one array per object), and as a stream
  // whose chunks are kept as they come (the least a reader can do).
  const direct: number[] = [];
  const streamed: number[] = [];
  const readS3 = async (read: (body: NonNullable<GetObjectCommandOutput['Body']>) => Promise<unknown>) => {
    const start = performance.now();
    await Promise.all(
      Array.from({ length: FILES }, async (_, i) => {
        const object = await s3.send(new GetObjectCommand({ Bucket: 'lake', Key: `acme/events/part-${i}.parquet` }));
        if (object.Body) await read(object.Body);
      }),
    );
    return performance.now() - start;
  };
  for (let run = 0; run < COLD_RUNS; run++) {
    direct.push(await readS3((body) => body.transformToByteArray()));
    streamed.push(
      await readS3(async (body) => {
        const chunks: Uint8Array[] = [];
        for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(chunk);
        return chunks;
      }),
    );
  }

  const cold: number[] = [];
  const warm: number[] = [];
  for (let run = 0; run < COLD_RUNS; run++) {
    const cacheDir = join(root, `cache-${run}`);
    const storage = await createStorage({
      cacheDir,
      cacheMaxBytes: 4 * totalBytes,
      autoRefresh: false,
      s3: s3Settings(server.endpoint),
      tenants,
    });
    let start = performance.now();
    const first = await storage.acquire('acme', 'events');
    await readAll(first.snapshot.files.map((f) => f.path));
    cold.push(performance.now() - start);
    first.release();
    for (let i = 0; i < WARM_RUNS; i++) {
      start = performance.now();
      const lease = await storage.acquire('acme', 'events');
      await readAll(lease.snapshot.files.map((f) => f.path));
      warm.push(performance.now() - start);
      lease.release();
    }
    await storage.close();
    await rm(cacheDir, { recursive: true, force: true });
  }
  const d = summarise(direct);
  const st = summarise(streamed);
  const c = summarise(cold);
  const w = summarise(warm);
  report(
    `storage-cold-warm: ${(totalBytes / 1e6).toFixed(0)} MB in ${FILES} Parquet files, origin delay ${DELAY_MS} ms/request`,
    [
      ['direct S3 read as one array per object, median (baseline)', ms(d.median)],
      ['direct S3 read as a stream, median (baseline)', ms(st.median)],
      ['cold read through the cache, median', ms(c.median)],
      ['cold / direct (array)', `${(c.median / d.median).toFixed(2)}x`],
      ['cold / direct (stream)', `${(c.median / st.median).toFixed(2)}x`],
      ['warm read from the cache, median', ms(w.median)],
      ['cold / warm', `${(c.median / w.median).toFixed(1)}x`],
      ['direct S3 / warm', `${(d.median / w.median).toFixed(1)}x`],
    ],
  );
} finally {
  s3.destroy();
  await server.stop();
  await rm(root, { recursive: true, force: true });
}
