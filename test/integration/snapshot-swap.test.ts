import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeParquet } from '../support/duckdb-data.js';

const KEY = 'swap-test-key-1';
const FILES = 3;

/**
 * Snapshot swap under load: queries keep arriving while the dataset is rewritten and refreshed again and
 * again. Every query must succeed and see exactly one version: all its rows from the same version's files.
 */
describe('snapshot swap under load', () => {
  let root: string;
  let origin: string;
  let gateway: RunningGateway;

  /** Version k: FILES files of 2000 + k rows each, every row tagged with k. Files are replaced by rename. */
  const publish = async (version: number) => {
    for (let f = 0; f < FILES; f++) {
      const staging = join(origin, `.staging-${f}.parquet`);
      await writeParquet(staging, `SELECT ${version} AS version, i FROM range(${2000 + version}) t(i)`);
      await rename(staging, join(origin, `part-${f}.parquet`));
    }
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-swap-'));
    origin = join(root, 'origin');
    await mkdir(origin);
    await publish(1);
    const config = parseConfig(
      {
        server: { port: 0 },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        engines: { duckdb: { threads: 1, connections: 8 } },
        tenants: {
          acme: {
            apiKeys: [KEY],
            datasets: { data: { location: `file:${origin}`, format: 'parquet', refreshIntervalSeconds: 3600 } },
          },
        },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  });
  afterAll(async () => {
    await gateway?.close();
    await rm(root, { recursive: true, force: true });
  });

  const query = async () => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ sql: 'SELECT min(version), max(version), count(*) FROM data, range(20) r' }),
    });
    return { status: response.status, body: (await response.json()) as { rows: number[][] } };
  };

  it('answers every query from one complete version while versions change', async () => {
    let stop = false;
    const answers: { status: number; body: { rows: number[][] } }[] = [];
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) answers.push(await query());
    });
    for (let version = 2; version <= 6; version++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await publish(version);
      const refreshed = await fetch(`${gateway.url}/v1/datasets/data/refresh`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY}` },
      });
      expect(refreshed.status).toBe(200);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    stop = true;
    await Promise.all(clients);

    expect(answers.length).toBeGreaterThan(20);
    const seen = new Set<number>();
    for (const { status, body } of answers) {
      expect(status).toBe(200);
      const [min, max, count] = body.rows[0] ?? [];
      expect(min).toBe(max);
      expect(count).toBe(FILES * (2000 + (min ?? 0)) * 20);
      seen.add(min ?? 0);
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
    expect((await query()).body.rows[0]?.[0]).toBe(6);
  });
});
