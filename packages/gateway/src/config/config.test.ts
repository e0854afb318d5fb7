import { mkdtemp, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from './config.js';

/** The configuration example of the public contract, verbatim. */
const CONTRACT_EXAMPLE = {
  server: { host: '127.0.0.1', port: 8080 },
  state: { redisUrl: 'redis://127.0.0.1:6379' },
  storage: {
    cacheDir: '.lakegate/cache',
    cacheMaxBytes: 10737418240,
    s3: {
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: '...',
      secretAccessKey: '...',
    },
  },
  tenants: {
    acme: {
      apiKeys: ['acme-secret-1'],
      datasets: {
        events: { location: 's3://bucket/acme/events/', format: 'parquet' },
        users: { location: 'file:./data/acme/users/', format: 'csv' },
      },
    },
  },
};

const problemsOf = (raw: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] => {
  try {
    parseConfig(raw, { baseDir: '/srv/lakegate', env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('configuration', () => {
  it('refuses a default session idle timeout past the 365 days a session lasts', () => {
    expect(problemsOf({ tenants: {}, sessions: { defaultIdleTimeout: '1000d' } })).toEqual([
      'sessions.defaultIdleTimeout: must be at most 365 days, the most a session lasts',
    ]);
    expect(problemsOf({ tenants: {}, sessions: { defaultIdleTimeout: '365d' } })).toEqual([]);
  });

  it('accepts the documented example and resolves paths against the config folder', () => {
    const config = parseConfig(CONTRACT_EXAMPLE, { baseDir: '/srv/lakegate' });
    expect(config.storage.cacheDir).toBe('/srv/lakegate/.lakegate/cache');
    expect(config.tenants.acme?.datasets.users?.location).toEqual({
      kind: 'file',
      path: '/srv/lakegate/data/acme/users',
    });
    expect(config.tenants.acme?.datasets.events?.location).toEqual({
      kind: 's3',
      bucket: 'bucket',
      prefix: 'acme/events/',
    });
    expect(config.tenants.acme?.datasets.events?.refreshIntervalSeconds).toBe(60);
    expect(Object.isFrozen(config.tenants.acme?.datasets)).toBe(true);
  });

  it('fills defaults: loopback on 8080, no Redis, 10k rows', () => {
    const config = parseConfig({ tenants: {} }, { baseDir: '/x' });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(config.state.redisUrl).toBeUndefined();
    expect(config.state.resultsLocation).toEqual({ kind: 'file', path: '/x/.lakegate/results' });
    expect(config.query.defaultMaxRows).toBe(10_000);
  });

  it('lists every problem at once, each with its path', () => {
    const problems = problemsOf({
      server: { port: 'eighty' },
      storage: { cacheMaxBytes: -1 },
      tenants: {
        Acme: { apiKeys: ['acme-secret-1'] },
        ok: {
          apiKeys: [],
          datasets: {
            'bad name': { location: 'file:./x', format: 'parquet' },
            fine: { location: 'ftp://x', format: 'xls' },
          },
        },
      },
      colour: 'red',
    });
    expect(problems.length).toBeGreaterThanOrEqual(7);
    for (const path of [
      'server.port',
      'storage.cacheMaxBytes',
      'tenants.Acme',
      'tenants.ok.apiKeys',
      'tenants.ok.datasets.fine.format',
    ]) {
      expect(
        problems.some((p) => p.startsWith(path)),
        path,
      ).toBe(true);
    }
  });

  it('refuses keys shared by two tenants and local folders shared across tenants', () => {
    const problems = problemsOf({
      tenants: {
        a: { apiKeys: ['same-key-123'], datasets: { x: { location: 'file:./data/', format: 'csv' } } },
        b: { apiKeys: ['same-key-123'], datasets: { y: { location: 'file:./data/b/', format: 'csv' } } },
      },
    });
    expect(problems.some((p) => p.includes('also used by tenant'))).toBe(true);
    expect(problems.some((p) => p.includes('must not share local folders'))).toBe(true);
  });

  it('takes an http or https trino.publicUrl, without a trailing slash, and refuses anything else', () => {
    const publicUrl = (url: string) => parseConfig({ trino: { publicUrl: url }, tenants: {} }, { baseDir: '/x' }).trino;
    expect(publicUrl('https://gw-1.example.com/').publicUrl).toBe('https://gw-1.example.com');
    expect(publicUrl('https://example.com:8443/lakegate').publicUrl).toBe('https://example.com:8443/lakegate');
    expect(parseConfig({ tenants: {} }, { baseDir: '/x' }).trino.publicUrl).toBeUndefined();
    for (const url of ['ftp://example.com', 'example.com', 'https://u:p@example.com', 'https://example.com/?a=1'])
      expect(() => publicUrl(url), url).toThrow(/trino\.publicUrl/);
  });

  it('lets LAKEGATE_PORT override the port and rejects a bad one', () => {
    expect(parseConfig({ tenants: {} }, { baseDir: '/x', env: { LAKEGATE_PORT: '9191' } }).server.port).toBe(9191);
    expect(problemsOf({ tenants: {} }, { LAKEGATE_PORT: 'http' })[0]).toMatch(/^LAKEGATE_PORT/);
  });

  it('serves the Postgres protocol on 5433 by default, on a free port beside a free HTTP port, TLS files resolved', () => {
    const defaults = parseConfig({ tenants: {} }, { baseDir: '/x' }).server.postgres;
    expect(defaults).toMatchObject({ enabled: true, host: '127.0.0.1', port: 5433, allowCleartextPassword: false });
    expect(parseConfig({ server: { port: 0 }, tenants: {} }, { baseDir: '/x' }).server.postgres.port).toBe(0);
    const tls = parseConfig(
      { server: { postgres: { port: 6543, tls: { cert: 'tls/cert.pem', key: '/keys/key.pem' } } }, tenants: {} },
      { baseDir: '/srv', env: { LAKEGATE_POSTGRES_PORT: '7000' } },
    ).server.postgres;
    expect(tls).toMatchObject({ port: 7000, tls: { cert: '/srv/tls/cert.pem', key: '/keys/key.pem' } });
    expect(() =>
      parseConfig({ server: { postgres: { maxMessageBytes: 10 } }, tenants: {} }, { baseDir: '/x' }),
    ).toThrow(/server.postgres.maxMessageBytes/);
  });

  it('reads LAKEGATE_CONFIG, falls back to ./lakegate.config.json, and reports a missing or broken file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lakegate-config-'));
    expect(loadConfig({}, dir)).toBeUndefined();
    expect(() => loadConfig({ LAKEGATE_CONFIG: 'nope.json' }, dir)).toThrow(/does not exist/);
    await writeFile(join(dir, 'lakegate.config.json'), '{"tenants": {}');
    expect(() => loadConfig({}, dir)).toThrow(/not valid JSON/);
    await writeFile(join(dir, 'custom.json'), JSON.stringify({ tenants: {}, server: { port: 1234 } }));
    expect(loadConfig({ LAKEGATE_CONFIG: 'custom.json' }, dir)?.server.port).toBe(1234);
  });
});

describe('rollup configuration', () => {
  const tenant = (rollups: Record<string, unknown>, datasets: Record<string, unknown> = {}) => ({
    tenants: {
      acme: {
        apiKeys: ['acme-secret-1'],
        datasets: {
          traffic: { location: 'file:./data/acme/traffic/', format: 'csv' },
          events: { location: 's3://bucket/acme/events/', format: 'parquet' },
          regional: { location: 'file:./data/acme/regional/', format: 'csv', rowFilter: "region = 'eu'" },
          ...datasets,
        },
        rollups,
      },
    },
  });
  const good = { source: 'traffic', interval: '5m', timeColumn: 'ts', measures: { n: 'count(*)' } };

  it('adds each rollup as an NDJSON dataset of the tenant under rollups.location', () => {
    const config = parseConfig(
      { ...tenant({ traffic_5m: { ...good, dimensions: ['org'] } }), rollups: { location: 'file:./rollups/' } },
      { baseDir: '/srv/lakegate' },
    );
    expect(config.tenants.acme?.datasets.traffic_5m).toMatchObject({
      format: 'ndjson',
      location: { kind: 'file', path: '/srv/lakegate/rollups/acme/traffic_5m' },
    });
    expect(config.tenants.acme?.rollups.traffic_5m).toMatchObject({ intervalMs: 300_000, dimensions: ['org'] });
    expect(config.rollups.auditEngine).toBe('duckdb');
    expect(
      parseConfig({ ...tenant({}), rollups: { auditEngine: 'mydb' } }, { baseDir: '/srv' }).rollups.auditEngine,
    ).toBe('mydb');
    // PostgreSQL dumps in as many parts as cores, at most 4, unless told.
    expect(config.rollups.postgresDumpParts).toBe(Math.min(4, availableParallelism()));
    expect(
      parseConfig({ ...tenant({}), rollups: { postgresDumpParts: 8 } }, { baseDir: '/srv' }).rollups,
    ).toMatchObject({
      postgresDumpParts: 8,
    });
    expect(() => parseConfig({ ...tenant({}), rollups: { postgresDumpParts: 0 } }, { baseDir: '/srv' })).toThrow(
      /postgresDumpParts/,
    );
  });

  it('lists every problem of every rollup at once', () => {
    const problems = problemsOf(
      tenant({
        unknown_source: { ...good, source: 'missing' },
        from_parquet: { ...good, source: 'events' },
        filtered: { ...good, source: 'regional' },
        odd_interval: { ...good, interval: '7m' },
        bad_measure: { ...good, measures: { x: 'sum(a) + 1' } },
        traffic: good,
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^tenants\.acme\.rollups\.unknown_source\.source: "missing" is not a dataset/),
        expect.stringMatching(/^tenants\.acme\.rollups\.from_parquet\.source: rollups read CSV, TSV or NDJSON/),
        expect.stringMatching(/^tenants\.acme\.rollups\.filtered\.source: a dataset with a rowFilter/),
        expect.stringMatching(/^tenants\.acme\.rollups\.odd_interval\.interval: must divide a day/),
        expect.stringMatching(/^tenants\.acme\.rollups\.bad_measure\.measures/),
        expect.stringMatching(/^tenants\.acme\.rollups\.traffic: a dataset has the same name/),
      ]),
    );
  });
});

describe('rollups from and to PostgreSQL', () => {
  const url = 'postgres://rollups:s3cret@db.internal:5432/facts';
  const source = { postgres: { url, table: 'public.api_calls', timeColumn: 'ts', scopeColumn: 'org' } };
  const config = (rollup: Record<string, unknown>) => ({
    tenants: { acme: { apiKeys: ['acme-secret-1'], rollups: { api_5m: { measures: { n: 'count(*)' }, ...rollup } } } },
  });

  it('takes a table as the source, its time column and its scope as a dimension, and a table as the sink', () => {
    const parsed = parseConfig(config({ source, sink: { postgres: { table: 'api_rollup' } }, dimensions: ['proxy'] }), {
      baseDir: '/srv',
    });
    const rollup = parsed.tenants.acme?.rollups.api_5m;
    expect(rollup).toMatchObject({
      timeColumn: 'ts',
      dimensions: ['org', 'proxy'],
      postgres: { url, table: 'public.api_calls', scopeColumn: 'org', lateRowsMs: 600_000 },
      sink: { url: undefined, table: 'api_rollup' },
    });
    // The source's name says which table, never where or with which password.
    expect(rollup?.source).toMatch(/^postgres:public\.api_calls@[0-9a-f]{8}$/);
    expect(rollup?.source).not.toContain('s3cret');
  });

  it('refuses another time column than the source’s, a URL of another kind, and a dataset source without one', () => {
    expect(
      problemsOf({
        tenants: {
          acme: {
            apiKeys: ['acme-secret-1'],
            datasets: { traffic: { location: 'file:./t/', format: 'csv' } },
            rollups: {
              a: { source, timeColumn: 'created', measures: { n: 'count(*)' } },
              c: { source: 'traffic', measures: { n: 'count(*)' } },
            },
          },
        },
      }),
    ).toEqual([
      expect.stringMatching(/^tenants\.acme\.rollups\.a\.timeColumn: a PostgreSQL source's rollup uses the source's/),
      'tenants.acme.rollups.c.timeColumn: required',
    ]);
    expect(problemsOf(config({ source: { postgres: { ...source.postgres, url: 'mysql://x' } } }))).toEqual([
      'tenants.acme.rollups.api_5m.source.postgres.url: must be a postgres:// URL',
    ]);
    // Each load replaces an interval's rows in its table: two rollups may not share one.
    const sink = { postgres: { url, table: 'api_rollup' } };
    expect(
      problemsOf({
        tenants: {
          acme: {
            apiKeys: ['acme-secret-1'],
            rollups: {
              a: { source, sink, measures: { n: 'count(*)' } },
              b: { source, sink, measures: { m: 'count(*)' } },
            },
          },
        },
      }),
    ).toEqual(['tenants.acme.rollups.b.sink: tenants.acme.rollups.a loads the same table; give each rollup its own']);
  });
});

describe('rollup column names', () => {
  it('refuses measures or dimensions named like the columns every rollup has', () => {
    const problems = problemsOf({
      tenants: {
        acme: {
          apiKeys: ['acme-secret-1'],
          datasets: { traffic: { location: 'file:./data/acme/traffic/', format: 'csv' } },
          rollups: {
            r1: { source: 'traffic', timeColumn: 'ts', measures: { _rows: 'count(*)' } },
            r2: { source: 'traffic', timeColumn: 'ts', dimensions: ['bucket'], measures: { n: 'count(*)' } },
            r3: { source: 'traffic', timeColumn: 'ts', dimensions: ['n'], measures: { n: 'count(*)' } },
          },
        },
      },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'tenants.acme.rollups.r1: "_rows" is a column every rollup has; rename it',
        'tenants.acme.rollups.r2: "bucket" is a column every rollup has; rename it',
        'tenants.acme.rollups.r3: dimensions and measures need distinct names',
      ]),
    );
  });
});

describe('datasets held by engines', () => {
  const tenant = (datasets: Record<string, unknown>, rollups: Record<string, unknown> = {}) => ({
    tenants: { acme: { apiKeys: ['acme-secret-1'], datasets, rollups } },
  });

  it('keeps a dataset named by engine and table apart from datasets of files', () => {
    const config = parseConfig(
      tenant({
        events: { engine: 'warehouse', table: 'events_all', rowFilter: "region = 'eu'" },
        users: { location: 'file:./users/', format: 'csv' },
      }),
      { baseDir: '/srv/lakegate' },
    );
    expect(config.tenants.acme?.engineTables).toEqual({
      events: { engine: 'warehouse', table: 'events_all', rowFilter: "region = 'eu'" },
    });
    expect(Object.keys(config.tenants.acme?.datasets ?? {})).toEqual(['users']);
  });

  it('says what is wrong with either kind, at its path, and refuses rolling up a held table', () => {
    expect(
      problemsOf(
        tenant({
          a: { engine: 'warehouse' },
          b: { engine: 'warehouse', table: 'b', location: 'file:./b/' },
          c: { location: 'file:./c/' },
        }),
      ),
    ).toEqual([
      'tenants.acme.datasets.a.table: Invalid input: expected string, received undefined',
      'tenants.acme.datasets.b: Unrecognized key: "location"',
      'tenants.acme.datasets.c.format: Invalid option: expected one of "parquet"|"csv"|"tsv"|"ndjson"',
    ]);
    expect(
      problemsOf(
        tenant(
          { d: { engine: 'warehouse', table: 'd' } },
          { r: { source: 'd', timeColumn: 'ts', measures: { n: 'count(*)' } } },
        ),
      ),
    ).toEqual(['tenants.acme.rollups.r.source: rollups read files; "d" is held by the warehouse engine']);
  });
});

describe('engine sections', () => {
  it("splits engines.<id>.module from the factory's options and keeps each tenant's engine options", () => {
    const config = parseConfig(
      {
        engines: { duckdb: { threads: 2 }, echo: { module: './engines/echo.js', greeting: 'hi' } },
        tenants: { acme: { apiKeys: ['acme-secret-1'], defaultEngine: 'echo', engines: { echo: { greeting: 'yo' } } } },
      },
      { baseDir: '/srv/lakegate', source: '/srv/lakegate/lakegate.config.json' },
    );
    expect(config.source).toBe('/srv/lakegate/lakegate.config.json');
    expect(config.engines).toEqual({
      duckdb: { module: undefined, options: { threads: 2 } },
      echo: { module: { specifier: './engines/echo.js', baseDir: '/srv/lakegate' }, options: { greeting: 'hi' } },
    });
    expect(config.tenants.acme?.engines).toEqual({ echo: { greeting: 'yo' } });
  });

  it('refuses a module that is not a string, and tenant options that are not objects', () => {
    const problems = problemsOf({
      engines: { echo: { module: 3 }, other: { module: '' }, odd: 'x' },
      tenants: { acme: { apiKeys: ['acme-secret-1'], engines: { echo: 'loud' } } },
    });
    for (const path of ['engines.echo.module', 'engines.other.module', 'engines.odd', 'tenants.acme.engines.echo']) {
      expect(
        problems.some((p) => p.startsWith(path)),
        path,
      ).toBe(true);
    }
  });

  it('refuses engine ids that tenants could not name', () => {
    expect(problemsOf({ engines: { 'My DB': {} }, tenants: {} })).toEqual([
      'engines.My DB: engine ids are lower case letters, digits, - and _, starting with a letter',
    ]);
  });
});
