/**
 * Skewed multi-tenant replay: 100 tenant datasets, a cache smaller than their total, Zipf-distributed query
 * rates, and time-of-day patterns (each tenant works business hours in its own time zone, with occasional
 * off-hours queries). Replays three simulated weeks through the real storage layer (simulated clock, local
 * origin) twice, with the same random sequence: plain LRU, then LRU plus the usage-driven warming policy run
 * at the top of every hour. Reports the hit ratio of weeks 2-3 (week 1 is the policy's learning time).
 *
 *   npm run bench -w @lakegate/bench -- storage-warming-replay
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorage, type Storage } from '@lakegate/storage';
import { report } from './support.js';

const TENANTS = 100;
const WEEKS = 3;
const CACHE_SHARE = Number(process.env.BENCH_CACHE_SHARE ?? 0.5);
const HOUR = 3_600_000;

/** A small deterministic PRNG (mulberry32), so both runs replay the same accesses. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tenant {
  readonly id: string;
  readonly bytes: number;
  /** Hours added to UTC to get the tenant's local time. */
  readonly zone: number;
  /** Queries per active hour, Zipf by rank. */
  readonly rate: number;
}

const setup = random(42);
const tenants: Tenant[] = Array.from({ length: TENANTS }, (_, rank) => ({
  id: `t${String(rank).padStart(3, '0')}`,
  bytes: Math.round(100_000 * 10 ** (setup() * 1.3)),
  zone: Math.floor(setup() * 24),
  rate: Math.max(1, Math.round(40 / (rank + 1) ** 1.1)),
}));
const totalBytes = tenants.reduce((sum, t) => sum + t.bytes, 0);

/** Whether a tenant is at work in a given UTC hour, and how busy. */
function activity(tenant: Tenant, hour: number, rng: () => number): number {
  const local = hour + tenant.zone;
  const localHour = local % 24;
  const weekday = Math.floor(local / 24) % 7 < 5;
  const office = weekday && localHour >= 8 && localHour < 18;
  const p = office ? 0.9 : weekday ? 0.01 : 0.02;
  return rng() < p ? tenant.rate * (office ? 1 : 0.2) : 0;
}

interface Outcome {
  hits: number;
  misses: number;
  /** Origin bytes of weeks 2-3, warming's prefetches included. */
  originBytes: number;
}

async function replay(warming: boolean): Promise<Outcome> {
  const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-replay-'));
  let now = 0;
  let storage: Storage | undefined;
  try {
    for (const t of tenants) {
      await mkdir(join(root, 'origin', t.id), { recursive: true });
      await writeFile(join(root, 'origin', t.id, 'part-0.parquet'), Buffer.alloc(t.bytes, 1));
    }
    storage = await createStorage({
      cacheDir: join(root, 'cache'),
      cacheMaxBytes: Math.round(totalBytes * CACHE_SHARE),
      autoRefresh: false,
      clock: () => now,
      tenants: Object.fromEntries(
        tenants.map((t) => [
          t.id,
          {
            datasets: {
              events: {
                location: { kind: 'file' as const, path: join(root, 'origin', t.id) },
                format: 'parquet' as const,
              },
            },
          },
        ]),
      ),
    });
    const rng = random(7);
    const measured: Outcome = { hits: 0, misses: 0, originBytes: 0 };
    const originBytes = (): number => tenants.reduce((sum, t) => sum + (storage?.metrics(t.id).originBytes ?? 0), 0);
    let originAtWeek2 = 0;
    for (let hour = 0; hour < WEEKS * 7 * 24; hour++) {
      now = hour * HOUR;
      if (hour === 7 * 24) originAtWeek2 = originBytes();
      if (warming) await storage.runWarming(now);
      const queries: { tenant: Tenant; at: number }[] = [];
      for (const tenant of tenants) {
        const count = activity(tenant, hour, rng);
        for (let q = 0; q < count; q++) queries.push({ tenant, at: now + Math.floor(rng() * HOUR) });
      }
      queries.sort((a, b) => a.at - b.at);
      for (const { tenant, at } of queries) {
        now = at;
        const before = storage.metrics(tenant.id);
        (await storage.acquire(tenant.id, 'events')).release();
        if (hour >= 7 * 24) {
          const after = storage.metrics(tenant.id);
          measured.hits += after.hits - before.hits;
          measured.misses += after.misses - before.misses;
        }
      }
    }
    measured.originBytes = originBytes() - originAtWeek2;
    return measured;
  } finally {
    await storage?.close();
    await rm(root, { recursive: true, force: true });
  }
}

const started = performance.now();
const lru = await replay(false);
const warmed = await replay(true);
const ratio = (r: { hits: number; misses: number }): string =>
  `${((100 * r.hits) / (r.hits + r.misses)).toFixed(2)}% (${r.hits} hits, ${r.misses} misses)`;
report(
  `storage-warming-replay: ${TENANTS} tenant datasets, ${(totalBytes / 1e6).toFixed(1)} MB, cache ${Math.round(CACHE_SHARE * 100)}% of that, ${WEEKS} simulated weeks`,
  [
    ['hit ratio, LRU only (baseline)', ratio(lru)],
    ['hit ratio, LRU + warming policy', ratio(warmed)],
    ['origin bytes read in weeks 2-3, LRU only', `${(lru.originBytes / 1e6).toFixed(1)} MB`],
    [
      'origin bytes read in weeks 2-3, with warming (prefetches included)',
      `${(warmed.originBytes / 1e6).toFixed(1)} MB`,
    ],
    ['replay time', `${((performance.now() - started) / 1000).toFixed(1)} s`],
  ],
);
