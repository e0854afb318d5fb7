import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { type DatasetSnapshot, type EngineLogger, LakegateError, type StorageAccess } from '@lakegate/engine-api';
import { writeFileAtomic } from './atomic-file.js';
import { DatasetHandle, type DatasetInfo, type DatasetSpec, type SnapshotLease } from './dataset-handle.js';
import { DiskCache } from './disk-cache.js';
import { createLocalObjectStore } from './local-object-store.js';
import type { Location } from './location.js';
import type { ObjectStore } from './object-store.js';
import { createS3Client, createS3ObjectStore, type S3Settings } from './s3-object-store.js';
import { MetricsRegistry, type TenantCacheMetrics } from './storage-metrics.js';
import { DEFAULT_WARMING, planWarming, UsageHistory, type WarmingPolicyOptions } from './usage-history.js';

export interface StorageDatasetSpec extends DatasetSpec {
  readonly location: Location;
}

export interface StorageTenantSpec {
  /** This tenant's cache quota in bytes; no quota when absent. */
  readonly cacheMaxBytes?: number | undefined;
  readonly datasets: Readonly<Record<string, StorageDatasetSpec>>;
}

export interface WarmingOptions extends Partial<WarmingPolicyOptions> {
  /** Run the policy every `intervalSeconds`; default off (call `runWarming` yourself). */
  readonly intervalSeconds?: number;
}

export interface StorageOptions {
  /** Root of the local cache; each tenant gets a folder below it. */
  readonly cacheDir: string;
  readonly cacheMaxBytes: number;
  readonly tenants: Readonly<Record<string, StorageTenantSpec>>;
  /** S3 client settings; the SDK's defaults and credential chain when absent. */
  readonly s3?: Partial<S3Settings> | undefined;
  /** Poll each loaded dataset's listing at its `refreshIntervalSeconds`. Default true. */
  readonly autoRefresh?: boolean;
  /** Parallel downloads per snapshot. Default 8. */
  readonly fetchConcurrency?: number;
  readonly warming?: WarmingOptions | undefined;
  readonly clock?: () => number;
  readonly logger?: EngineLogger | undefined;
}

export interface WarmingReport {
  readonly warmed: readonly string[];
  readonly letGo: readonly string[];
  readonly failed: readonly string[];
}

/** The storage layer as the gateway sees it. */
export interface Storage extends StorageAccess {
  /** The tenant's dataset names, sorted. */
  datasetNames(tenant: string): readonly string[];
  /**
   * The dataset's current snapshot for a query, entirely in the local cache. Release the lease when the query
   * ends. Never waits on a refresh; waits on the origin only for a dataset not yet (or no longer) cached.
   */
  acquire(tenant: string, dataset: string, signal?: AbortSignal): Promise<SnapshotLease>;
  /**
   * The dataset's current snapshot and whether it is stale, when it is entirely in the local cache, for an answer that
   * reads none of its files (a cached result); not held. Undefined when `acquire` would wait for the origin, or the
   * tenant has no such dataset. A query answered from it calls `usedPeeked`.
   */
  peek(tenant: string, dataset: string): { snapshot: DatasetSnapshot; stale: boolean } | undefined;
  /** Counts a query answered from `peek`'s snapshot as a use of the dataset, as `acquire` counts one. */
  usedPeeked(tenant: string, dataset: string): void;
  /** Re-lists the dataset now (explicit invalidation); resolves once any new version is current. */
  refresh(tenant: string, dataset: string): Promise<DatasetInfo>;
  /** Prefetches the dataset's current snapshot into the cache. */
  warm(tenant: string, dataset: string, signal?: AbortSignal): Promise<DatasetInfo>;
  describe(tenant: string): DatasetInfo[];
  metrics(tenant: string): TenantCacheMetrics;
  /** Bytes `[start, end)` of one file of the current snapshot (e.g. a Parquet footer), cached. */
  readRange(tenant: string, dataset: string, key: string, start: number, end: number): Promise<Uint8Array>;
  /** Runs the warming policy once: prefetch the datasets likely to be queried soon, let cold ones go. */
  runWarming(now?: number): Promise<WarmingReport>;
  /**
   * What the warming policy would do with each of the tenant's datasets now, and why: the likelihood of a query
   * within the lookahead (from the usage history), and the decision (`warm`, `let-go` or `keep`).
   */
  warmingPlan(tenant: string, now?: number): WarmingPlanEntry[];
  /** The S3 client of this storage's settings, made on first use: share it to share its connections. */
  s3Client(): S3Client;
  /**
   * Takes a new set of tenants and datasets (a configuration reload) without dropping a query: a dataset whose spec
   * is unchanged keeps its handle; a new or changed one gets a new handle (restored from the cache when its location
   * and format match what is cached); a removed one stops polling and takes no new query, while leases already
   * given keep their files until released.
   */
  reconfigure(tenants: Readonly<Record<string, StorageTenantSpec>>): Promise<ReconfigureReport>;
  close(): Promise<void>;
}

/** One dataset in the warming plan: how likely a query is soon, and what the policy does about it. */
export interface WarmingPlanEntry {
  readonly dataset: string;
  /** Likelihood of a query within the lookahead, 0 to 1. */
  readonly likelihood: number;
  readonly decision: 'warm' | 'let-go' | 'keep';
  readonly reason: string;
}

export interface ReconfigureReport {
  /** `tenant/dataset` names. */
  readonly added: readonly string[];
  readonly changed: readonly string[];
  readonly removed: readonly string[];
}

const USAGE_FILE = '_usage.json';

/** Opens the storage layer: indexes the cache folder, restores the last complete snapshots, starts timers. */
export async function createStorage(options: StorageOptions): Promise<Storage> {
  const clock = options.clock ?? Date.now;
  /** The tenants as last configured (a reload replaces them). */
  let tenantSpecs = options.tenants;
  const metrics = new MetricsRegistry();
  const cache = await DiskCache.open({
    dir: options.cacheDir,
    maxBytes: options.cacheMaxBytes,
    quotaFor: (tenant) => tenantSpecs[tenant]?.cacheMaxBytes,
    clock,
    onEvict: (entry) => {
      metrics.add(entry.tenant, 'evictions');
      metrics.add(entry.tenant, 'evictedBytes', entry.size);
    },
  });
  const usagePath = join(options.cacheDir, USAGE_FILE);
  const usage = UsageHistory.fromJSON(await readFile(usagePath, 'utf8').then(JSON.parse, () => undefined));
  let s3: S3Client | undefined;
  const s3Client = (): S3Client => {
    s3 ??= createS3Client(options.s3, options.logger);
    return s3;
  };
  const storeFor = (location: Location): ObjectStore => {
    if (location.kind === 'file') return createLocalObjectStore(location.path);
    return createS3ObjectStore(s3Client(), location.bucket, location.prefix, {
      bodyIdleTimeoutMs: options.s3?.requestTimeoutMs,
    });
  };
  const ctx = {
    cache,
    metrics,
    clock,
    fetchConcurrency: options.fetchConcurrency ?? 8,
    autoRefresh: options.autoRefresh ?? true,
    logger: options.logger,
  };
  const handles = new Map<string, Map<string, DatasetHandle>>();
  /** Each open handle's spec, by `tenant/dataset`: a reload compares against it. */
  const openSpecs = new Map<string, StorageDatasetSpec>();
  /** A dataset's handle; it starts warm from the last complete snapshot cached, and a background refresh checks it. */
  const openHandle = async (tenant: string, name: string, spec: StorageDatasetSpec): Promise<DatasetHandle> => {
    const opened = new DatasetHandle(tenant, name, spec, storeFor(spec.location), ctx);
    openSpecs.set(`${tenant}/${name}`, spec);
    if (await opened.restore()) opened.refresh().catch(() => undefined);
    return opened;
  };
  for (const [tenant, spec] of Object.entries(options.tenants)) {
    const datasets = new Map<string, DatasetHandle>();
    for (const [name, dataset] of Object.entries(spec.datasets))
      datasets.set(name, await openHandle(tenant, name, dataset));
    handles.set(tenant, datasets);
  }
  // Specs come from the same config parser, field by field in the same order: equal specs serialise equally.
  const sameSpec = (a: StorageDatasetSpec, b: StorageDatasetSpec): boolean => JSON.stringify(a) === JSON.stringify(b);
  const reconfigure = async (next: Readonly<Record<string, StorageTenantSpec>>): Promise<ReconfigureReport> => {
    const added: string[] = [];
    const changed: string[] = [];
    const removed: string[] = [];
    for (const [tenant, datasets] of handles) {
      for (const [name, old] of datasets) {
        if (next[tenant]?.datasets[name]) continue;
        old.stop();
        datasets.delete(name);
        openSpecs.delete(`${tenant}/${name}`);
        removed.push(`${tenant}/${name}`);
      }
      if (!next[tenant]) handles.delete(tenant);
    }
    for (const [tenant, spec] of Object.entries(next)) {
      let datasets = handles.get(tenant);
      if (!datasets) {
        datasets = new Map();
        handles.set(tenant, datasets);
      }
      for (const [name, dataset] of Object.entries(spec.datasets)) {
        const old = datasets.get(name);
        const was = openSpecs.get(`${tenant}/${name}`);
        if (old && was && sameSpec(was, dataset)) continue;
        old?.stop();
        datasets.set(name, await openHandle(tenant, name, dataset));
        (old ? changed : added).push(`${tenant}/${name}`);
      }
    }
    tenantSpecs = next;
    return { added, changed, removed };
  };

  const handle = (tenant: string, dataset: string): DatasetHandle => {
    const found = handles.get(tenant)?.get(dataset);
    if (!found) {
      const names = [...(handles.get(tenant)?.keys() ?? [])].sort();
      throw new LakegateError(
        'UNKNOWN_TABLE',
        `Dataset "${dataset}" does not exist. Your datasets: ${names.length ? names.join(', ') : '(none)'}.`,
      );
    }
    return found;
  };

  const warming: WarmingPolicyOptions = { ...DEFAULT_WARMING, ...options.warming };
  /** The warming policy's plan over every tenant's datasets at `now`. */
  const planNow = (now: number) =>
    planWarming(
      usage,
      [...handles.values()].flatMap((m) =>
        [...m.values()].map((h) => ({ tenant: h.tenant, dataset: h.name, bytes: h.bytes })),
      ),
      now,
      cache.maxBytes,
      warming,
    );
  const runWarming = async (now = clock()): Promise<WarmingReport> => {
    const plan = planNow(now);
    const name = (c: { tenant: string; dataset: string }): string => `${c.tenant}/${c.dataset}`;
    for (const candidate of plan.letGo) handle(candidate.tenant, candidate.dataset).letGo();
    const failed: string[] = [];
    for (const candidate of plan.warm) {
      try {
        await handle(candidate.tenant, candidate.dataset).warm();
      } catch {
        failed.push(name(candidate));
      }
    }
    return { warmed: plan.warm.map(name), letGo: plan.letGo.map(name), failed };
  };

  const warmingPlan = (tenant: string, now = clock()): WarmingPlanEntry[] => {
    const mine = [...(handles.get(tenant)?.values() ?? [])];
    const plan = planNow(now);
    const minutes = Math.round(warming.lookaheadMs / 60_000);
    return mine.map((h) => {
      const likelihood = usage.likelihood(tenant, h.name, now, now + warming.lookaheadMs);
      const percent = `${Math.round(likelihood * 100)}%`;
      const warm = plan.warm.some((c) => c.tenant === tenant && c.dataset === h.name);
      const letGo = plan.letGo.some((c) => c.tenant === tenant && c.dataset === h.name);
      return {
        dataset: h.name,
        likelihood,
        decision: warm ? 'warm' : letGo ? 'let-go' : 'keep',
        reason: warm
          ? `queried at this time before: ${percent} likely within ${minutes} min, so it is warmed ahead`
          : letGo
            ? `${percent} likely within ${minutes} min and idle: its files may leave the cache first`
            : likelihood >= warming.warmThreshold
              ? `${percent} likely within ${minutes} min, but the cache has no room for it`
              : `${percent} likely within ${minutes} min: fetched when first queried`,
      };
    });
  };

  const saveUsage = async (): Promise<void> => {
    await writeFileAtomic(usagePath, JSON.stringify(usage));
  };
  const timers: NodeJS.Timeout[] = [setInterval(() => void saveUsage().catch(() => undefined), 60_000)];
  if (options.warming?.intervalSeconds) {
    timers.push(setInterval(() => void runWarming().catch(() => undefined), options.warming.intervalSeconds * 1000));
  }
  for (const timer of timers) timer.unref();

  return {
    s3Client,
    datasetNames: (tenant) => [...(handles.get(tenant)?.keys() ?? [])].sort(),
    tenantDirectories: (tenant) => [cache.tenantDirectory(tenant)],
    async acquire(tenant, dataset, signal) {
      const h = handle(tenant, dataset);
      usage.record(tenant, dataset, clock());
      return h.acquire(signal);
    },
    peek(tenant, dataset) {
      return handles.get(tenant)?.get(dataset)?.peek();
    },
    usedPeeked(tenant, dataset) {
      usage.record(tenant, dataset, clock());
      handles.get(tenant)?.get(dataset)?.countPeeked();
    },
    async refresh(tenant, dataset) {
      const h = handle(tenant, dataset);
      await h.refresh();
      return h.info();
    },
    async warm(tenant, dataset, signal) {
      const h = handle(tenant, dataset);
      await h.warm(signal);
      return h.info();
    },
    describe: (tenant) =>
      [...(handles.get(tenant)?.values() ?? [])].map((h) => h.info()).sort((a, b) => (a.name < b.name ? -1 : 1)),
    metrics: (tenant) => metrics.report(tenant, cache.usage(tenant), tenantSpecs[tenant]?.cacheMaxBytes),
    async readRange(tenant, dataset, key, start, end) {
      const h = handle(tenant, dataset);
      const file = await h.fileFor(key);
      if (!(start >= 0 && end > start && end <= file.size)) {
        throw new LakegateError('INVALID_REQUEST', `Range ${start}-${end} is outside "${key}" (${file.size} bytes).`);
      }
      // Served from the whole file when it is cached, else from a cached copy of just the range.
      const whole = cache.lookup(file.id, file.size);
      if (whole) cache.retain(whole);
      const entry = whole ?? (await h.fetchFile(file, { start, end }));
      try {
        const handleFile = await open(entry.path, 'r');
        try {
          const offset = whole ? start : 0;
          const buffer = new Uint8Array(end - start);
          await handleFile.read(buffer, 0, buffer.length, offset);
          return buffer;
        } finally {
          await handleFile.close();
        }
      } finally {
        cache.release(entry);
      }
    },
    runWarming,
    warmingPlan,
    reconfigure,
    async close() {
      for (const timer of timers) clearInterval(timer);
      for (const datasets of handles.values()) for (const h of datasets.values()) h.stop();
      await saveUsage().catch(() => undefined);
      s3?.destroy();
    },
  };
}
