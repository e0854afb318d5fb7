import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReferenceEngine, type Engine, type InMemoryTable } from '@lakegate/engine-api';
import { createStorage } from '@lakegate/storage';
import { Admission } from './admission/admission.js';
import { createApp } from './app.js';
import { type GatewayConfig, parseConfig } from './config/config.js';
import { EngineRegistry } from './engines/engine-registry.js';
import { ManagedEngine } from './engines/managed-engine.js';
import { storageOptions } from './gateway.js';
import { silentLogger } from './logging/logger.js';

export const ACME_KEY = 'acme-test-key-1';
export const GLOBEX_KEY = 'globex-test-key-1';

export const PEOPLE: InMemoryTable = {
  columns: [
    { name: 'id', type: { kind: 'bigint', sqlType: 'BIGINT' } },
    { name: 'name', type: { kind: 'string', sqlType: 'VARCHAR' } },
  ],
  rows: [
    [1n, 'ada'],
    [2n, 'brian'],
    [3n, null],
  ],
};

/** A gateway app over the reference engine (and any extra engines), with local datasets in a temp folder. */
export async function testApp(
  options: {
    engines?: readonly Engine[];
    config?: Record<string, unknown>;
    acmeLimits?: Record<string, number>;
    /** The tenants' default engine; the reference engine unless given. */
    defaultEngine?: string;
  } = {},
) {
  const root = await mkdtemp(join(tmpdir(), 'lakegate-gateway-'));
  // The reference engine serves rows from memory; the files only give the storage layer something to snapshot.
  for (const dir of ['acme/people', 'globex/people']) {
    await mkdir(join(root, dir), { recursive: true });
    await writeFile(join(root, dir, 'part-0.parquet'), dir);
  }
  const config: GatewayConfig = parseConfig(
    {
      storage: { cacheDir: join(root, 'cache') },
      server: { maxBodyBytes: 4096 },
      ...options.config,
      tenants: {
        acme: {
          apiKeys: [ACME_KEY],
          defaultEngine: options.defaultEngine ?? 'reference',
          limits: options.acmeLimits ?? {},
          datasets: { people: { location: `file:${join(root, 'acme/people')}`, format: 'parquet' } },
        },
        globex: {
          apiKeys: [GLOBEX_KEY],
          defaultEngine: options.defaultEngine ?? 'reference',
          datasets: { people: { location: `file:${join(root, 'globex/people')}`, format: 'parquet' } },
        },
      },
    },
    { baseDir: root },
  );
  const storage = await createStorage(storageOptions(config));
  const reference = createReferenceEngine({
    datasets: { acme: { people: PEOPLE }, globex: { people: { ...PEOPLE, rows: [[9n, 'globex-only']] } } },
    batchSize: 2,
  });
  const managed = [reference, ...(options.engines ?? [])].map(
    (engine) => new ManagedEngine(engine, { maxConcurrent: 4, maxQueued: 4 }),
  );
  const engines = EngineRegistry.of(managed);
  const admission = new Admission({
    global: config.limits,
    tenant: (t) => config.tenants[t]?.limits ?? {},
    maxMemoryBytes: config.limits.maxMemoryBytes,
  });
  const app = createApp({ config, storage, engines, admission, logger: silentLogger });
  const query = (body: unknown, headers: Record<string, string> = {}) =>
    app.request('/v1/query', {
      method: 'POST',
      headers: { Authorization: `Bearer ${ACME_KEY}`, 'Content-Type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  return { app, config, engines, query, root };
}

/** A response body as tests read it: any JSON shape, checked by the assertions themselves. */
// biome-ignore lint/suspicious/noExplicitAny: test bodies are checked by assertions, not by the type system
export type JsonBody = any;

export async function jsonOf(response: Response): Promise<JsonBody> {
  return response.json();
}
