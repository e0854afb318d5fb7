import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/services.js';
import { type GatewayProcess, runGatewayProcess, startGatewayProcess } from '../support/gateway-process.js';
import { livyClient } from '../support/sessions-client.js';

const guide = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'engine-authors-guide.md');

/**
 * The worked example of the engine authors' guide ("Register your engine"), by file name: each block follows an
 * `<!-- example: <file> -->` marker. The test runs exactly what the guide shows, so the two cannot drift apart.
 */
async function guideExamples(): Promise<Record<string, string>> {
  const text = await readFile(guide, 'utf8');
  const blocks = [...text.matchAll(/<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)\n```\n/g)];
  return Object.fromEntries(blocks.map(([, name, body]) => [name as string, `${body}\n`]));
}

type Config = Record<string, unknown> & { engines: Record<string, Record<string, unknown>> };

/** A third-party engine package, loaded by the built `lakegate` binary from `engines.<id>.module`. */
describe('an engine registered by module', () => {
  let root: string;
  let examples: Record<string, string>;
  let docConfig: Config;
  let gateway: GatewayProcess;
  const ACME = 'acme-echo-key-1';
  const SQL = 'SELECT 1 AS one';

  /** Writes the example package into `folder` under its package name. */
  const writePackage = async (folder: string): Promise<void> => {
    const target = join(folder, 'lakegate-echo-engine');
    await mkdir(target, { recursive: true });
    for (const file of ['package.json', 'index.js']) {
      await writeFile(join(target, file), examples[`lakegate-echo-engine/${file}`] ?? '');
    }
  };
  /** The guide's config, listening on `port`; `module` replaces every engine's module when given. */
  const configFor = (port: number, module?: string): Config => ({
    ...docConfig,
    server: { port },
    storage: { warming: { enabled: false } },
    engines: Object.fromEntries(
      Object.entries(docConfig.engines).map(([id, section]) => [id, module ? { ...section, module } : section]),
    ),
  });
  const query = (url: string, key: string, body: Record<string, unknown>) =>
    fetch(`${url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

  beforeAll(async () => {
    examples = await guideExamples();
    expect(Object.keys(examples).sort()).toEqual([
      'lakegate-echo-engine/index.js',
      'lakegate-echo-engine/package.json',
      'lakegate.config.json',
    ]);
    docConfig = JSON.parse(examples['lakegate.config.json'] ?? '{}') as Config;
    // A temporary folder outside the repository: the module must be found from the config file, not from Lakegate.
    root = await mkdtemp(join(tmpdir(), 'lakegate-engine-module-'));
    await mkdir(join(root, 'by-path'));
    await writePackage(join(root, 'by-path'));
    const port = await freePort();
    gateway = await startGatewayProcess(join(root, 'by-path', 'lakegate.config.json'), configFor(port), port);
  });
  afterAll(async () => {
    await gateway?.kill('SIGTERM');
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("answers POST /v1/query as the tenant's default engine, with the tenant's options", async () => {
    const acme = await query(gateway.url, ACME, { sql: SQL });
    expect(acme.status).toBe(200);
    expect(acme.body).toMatchObject({
      columns: [
        { name: 'greeting', type: 'VARCHAR' },
        { name: 'sql', type: 'VARCHAR' },
      ],
      rows: [['bonjour', SQL]],
      stats: { engine: 'echo' },
    });
    // globex set no options: the engine's own greeting.
    expect((await query(gateway.url, 'globex-echo-key-1', { sql: SQL })).body.rows).toEqual([['hello', SQL]]);
  });

  it('serves the same module under a second id, with its own config, when a request names it', async () => {
    const loud = await query(gateway.url, ACME, { sql: SQL, engine: 'echo-loud' });
    expect(loud.body).toMatchObject({ rows: [['HELLO', SQL]], stats: { engine: 'echo-loud' } });
  });

  it('answers a session statement', async () => {
    const livy = livyClient(() => gateway.url, ACME);
    const session = await livy.call('POST', '/sessions', { kind: 'sql' });
    expect(session.status).toBe(201);
    const statement = await livy.call('POST', `/sessions/${session.body.id}/statements`, { code: SQL });
    expect(statement.status).toBe(201);
    const done = await livy.waitFor(session.body.id, statement.body.id);
    expect(done).toMatchObject({ state: 'available', output: { status: 'ok' } });
    expect(done.output.data['application/json'].data).toEqual([['bonjour', SQL]]);
  });

  it('answers a Trino protocol query', async () => {
    const headers = { Authorization: `Basic ${Buffer.from(`acme:${ACME}`).toString('base64')}` };
    let page = (await (await fetch(`${gateway.url}/v1/statement`, { method: 'POST', headers, body: SQL })).json()) as {
      nextUri?: string;
      columns?: { name: string }[];
      data?: unknown[][];
      error?: unknown;
    };
    const rows: unknown[][] = [];
    let columns: string[] = [];
    for (;;) {
      expect(page.error).toBeUndefined();
      if (page.columns) columns = page.columns.map((c) => c.name);
      rows.push(...(page.data ?? []));
      if (!page.nextUri) break;
      page = (await (await fetch(page.nextUri, { headers })).json()) as typeof page;
    }
    expect(columns).toEqual(['greeting', 'sql']);
    expect(rows).toEqual([['bonjour', SQL]]);
  });

  it('sends a query over a table the engine holds to that engine only, whatever the request asks', async () => {
    const folder = join(root, 'held');
    await writePackage(folder);
    const port = await freePort();
    const base = configFor(port);
    const tenants = base.tenants as Record<string, Record<string, unknown>>;
    const acme = tenants.acme ?? {};
    const config = {
      ...base,
      tenants: {
        ...tenants,
        acme: { ...acme, datasets: { ...(acme.datasets as object), events: { engine: 'echo', table: 'events_v2' } } },
      },
    };
    const held = await startGatewayProcess(join(folder, 'lakegate.config.json'), config, port);
    try {
      const sql = 'SELECT count(*) FROM events';
      const asked = await query(held.url, ACME, { sql, engine: 'duckdb' });
      expect(asked.status).toBe(200);
      expect(asked.body).toMatchObject({
        rows: [['bonjour', sql]],
        stats: {
          engine: 'echo',
          route: 'duckdb declined: the query reads datasets that live in echo; answered by echo',
        },
      });
      // Another tenant has no such dataset: the same text is an unknown table there.
      expect((await query(held.url, 'globex-echo-key-1', { sql })).body).toMatchObject({
        error: { code: 'UNKNOWN_TABLE' },
      });
    } finally {
      await held.kill('SIGTERM');
    }
  });

  it('finds the module by package name in node_modules beside the config', async () => {
    const folder = join(root, 'by-name');
    await writePackage(join(folder, 'node_modules'));
    const port = await freePort();
    const byName = await startGatewayProcess(
      join(folder, 'lakegate.config.json'),
      configFor(port, 'lakegate-echo-engine'),
      port,
    );
    try {
      expect((await query(byName.url, ACME, { sql: SQL })).body.rows).toEqual([['bonjour', SQL]]);
    } finally {
      await byName.kill('SIGTERM');
    }
  });

  describe('refuses to start, in one line and with exit code 1,', () => {
    /** Starts the binary with `engines.broken` set to `section`, beside `files`; returns its exit and stderr. */
    const start = async (name: string, section: Record<string, unknown>, files: Record<string, string> = {}) => {
      const folder = join(root, name);
      await mkdir(folder, { recursive: true });
      for (const [file, text] of Object.entries(files)) await writeFile(join(folder, file), text);
      const configPath = join(folder, 'lakegate.config.json');
      const config = { server: { port: await freePort() }, engines: { broken: section }, tenants: {} };
      return { configPath, folder, ...(await runGatewayProcess(configPath, config)) };
    };
    /** The whole of stderr: one JSON line naming the config file and the one problem, and no stack. */
    const expectOneLine = (run: Awaited<ReturnType<typeof start>>, line: string) => {
      expect(run.code).toBe(1);
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] ?? '')).toMatchObject({
        level: 'error',
        event: 'gateway.start_failed',
        message: `Invalid configuration in ${run.configPath}`,
        problems: [line],
      });
    };

    it('when the module is not there', async () => {
      const run = await start('missing', { module: './nope.js' });
      expectOneLine(run, `engines.broken: cannot load module "./nope.js" (relative to ${run.folder}): not found`);
    });

    it('when the module exports no factory, or something that is not one', async () => {
      const none = await start('no-export', { module: './engine.js' }, { 'engine.js': 'export const factory = {};\n' });
      expectOneLine(
        none,
        `engines.broken: cannot load module "./engine.js" (relative to ${none.folder}): it exports no engine factory (export one as the default export or as "engineFactory")`,
      );
      const half = await start(
        'wrong-export',
        { module: './engine.js' },
        { 'engine.js': "export default { id: 'half', parseConfig: () => ({ ok: true, config: {} }) };\n" },
      );
      expectOneLine(
        half,
        `engines.broken: cannot load module "./engine.js" (relative to ${half.folder}): its default export is not an engine factory: create() is missing`,
      );
    });

    it("when the factory refuses the engine's config", async () => {
      const folder = join(root, 'refused');
      await writePackage(folder);
      const run = await start('refused', { module: './lakegate-echo-engine/index.js', greeting: 42 });
      expectOneLine(
        run,
        `engines.broken: module "./lakegate-echo-engine/index.js" (relative to ${folder}) refused its config: greeting: must be a non-empty string`,
      );
    });

    it('when create() throws', async () => {
      const run = await start(
        'throws',
        { module: './engine.js' },
        {
          'engine.js': `export const engineFactory = {
  id: 'remote',
  parseConfig: () => ({ ok: true, config: {} }),
  create: async () => {
    throw new Error('cannot reach the cluster at 10.0.0.1:7000');
  },
};
`,
        },
      );
      expectOneLine(
        run,
        `engines.broken: module "./engine.js" (relative to ${run.folder}) failed to create its engine: cannot reach the cluster at 10.0.0.1:7000`,
      );
    });
  });
});
