/// <reference lib="dom" />
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { consoleDir } from '@lakegate/console';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeParquet } from '../support/duckdb-data.js';
import { trafficRollup, writeTrafficFiles } from '../support/traffic-csv.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));
const ACME = 'acme-console-key';
const GLOBEX = 'globex-console-key';
const ADMIN = 'admin-console-key-0123456789';
/** Screenshots of every page go here (the test prints the folder). */
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', '.tmp', 'console-screenshots');

/**
 * The web console in a real browser (Debian's Chromium, headless, driven by playwright-core) against a gateway the
 * test starts: sign-in, Query, History, Sessions, Datasets, an operator's view of every tenant, narrow and wide
 * screens and keyboard-only use, with no console error, no failed request and no request leaving loopback.
 */
describe.skipIf(!CHROMIUM)('web console in Chromium', () => {
  let root: string;
  let gateway: RunningGateway;
  let browser: Browser;
  /** Problems every page must not have: console errors, failed requests, requests off loopback. */
  const problems: string[] = [];
  /** Answers deliberately refused in a test (a wrong key), not counted as failed requests. */
  const deliberate = new Set<string>();

  const open = async (width = 1280): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    page.on('console', (message) => {
      if (message.type() === 'error' && !deliberate.has(message.text())) problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message} ${error.stack ?? ''}`));
    page.on('request', (request) => {
      const { hostname } = new URL(request.url());
      if (!['127.0.0.1', 'localhost', ''].includes(hostname) && !request.url().startsWith('blob:')) {
        problems.push(`request off loopback: ${request.url()}`);
      }
    });
    page.on('requestfailed', (request) => {
      // A query cancelled on purpose is aborted by the page itself.
      if (request.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`failed: ${request.url()}`);
    });
    page.on('response', (response) => {
      if (response.status() >= 400 && !deliberate.has(`${response.status()} ${new URL(response.url()).pathname}`)) {
        problems.push(`${response.status()}: ${response.url()}`);
      }
    });
    return page;
  };
  const signIn = async (page: Page, key: string): Promise<void> => {
    await page.goto(`${gateway.url}/`);
    await page.fill('#key', key);
    await page.press('#key', 'Enter');
    await page.waitForSelector('#nav:not([hidden])');
  };
  const shoot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-console-'));
    await mkdir(SHOTS, { recursive: true });
    for (const [tenant, rows] of [
      ['acme', 100_000],
      ['globex', 10],
    ] as const) {
      await mkdir(join(root, tenant, 'events'), { recursive: true });
      await writeParquet(
        join(root, tenant, 'events', 'part-1.parquet'),
        `SELECT i AS id, 'api-' || (i % 7) AS api, (i % 500) * 1.5 AS ms FROM range(${rows}) t(i)`,
      );
    }
    // An hour of API traffic for a 5-minute rollup, so that the Rollups page has intervals, progress and audits.
    const hourAgo = Math.floor(Date.now() / 300_000) * 300_000 - 3_600_000;
    await mkdir(join(root, 'acme', 'traffic'), { recursive: true });
    await writeTrafficFiles(join(root, 'acme', 'traffic'), hourAgo, hourAgo + 3_600_000, 20 * 60_000, 600);
    const config = parseConfig(
      {
        server: { port: 0, postgres: { enabled: false } },
        admin: { apiKeys: [ADMIN] },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        query: { maxMaxRows: 200_000 },
        engines: { duckdb: { threads: 1 } },
        rollups: { location: `file:${join(root, 'rollups')}/`, tickSeconds: 0.5, backfillPerTick: 2 },
        tenants: {
          acme: {
            apiKeys: [ACME],
            datasets: {
              events: { location: `file:${join(root, 'acme', 'events')}/`, format: 'parquet' },
              traffic: { location: `file:${join(root, 'acme', 'traffic')}/`, format: 'csv' },
            },
            rollups: { traffic_5m: trafficRollup(hourAgo) },
          },
          globex: {
            apiKeys: [GLOBEX],
            datasets: { events: { location: `file:${join(root, 'globex', 'events')}/`, format: 'parquet' } },
          },
        },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
    browser = await chromium.launch({ executablePath: CHROMIUM as string, args: ['--no-sandbox', '--headless=new'] });
    console.log(`console screenshots: ${SHOTS}`);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('refuses a wrong key at sign-in', async () => {
    const page = await open();
    deliberate.add('401 /v1/whoami');
    deliberate.add('Failed to load resource: the server responded with a status of 401 (Unauthorized)');
    await page.goto(`${gateway.url}/`);
    await page.fill('#key', 'not-a-key');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('#sign-in-error')).toBe('This key is not valid.');
    expect(await page.isHidden('#nav')).toBe(true);
    await shoot(page, 'sign-in');
    await page.close();
  });

  it('runs a query from the keyboard alone, shows its rows, route and timings, and 100k rows in a virtual table', async () => {
    const page = await open();
    await signIn(page, ACME);
    // Keyboard only: the editor has the focus; select all, type, run with Ctrl+Enter.
    await page.keyboard.press('Control+A');
    await page.keyboard.type('SELECT api, count(*) AS n FROM events GROUP BY api ORDER BY api');
    await page.keyboard.press('Control+Enter');
    await page.waitForSelector('#stats');
    expect(await page.textContent('#stats')).toMatch(
      /7 rows.*engine duckdb.*route: default.*admission wait \d+ ms\d+ B/,
    );
    const cells = await page.$$eval('.grid .r:first-of-type .c', (nodes) => nodes.map((n) => n.textContent));
    expect(cells).toEqual(['api-0', '14286']);
    await page.click('text=Bar chart');
    expect(await page.$$eval('.chart rect', (bars) => bars.length)).toBe(7);
    await shoot(page, 'query');

    await page.fill('#sql', 'SELECT id, api, ms FROM events ORDER BY id');
    await page.press('#sql', 'Control+Enter');
    await page
      .waitForFunction(() => document.querySelector('#stats')?.textContent?.includes('100000 rows'), undefined, {
        timeout: 20_000,
      })
      .catch(async (error: unknown) => {
        throw new Error(`${String(error)}; status: ${await page.textContent('#status')}`);
      });
    // Only the rows in view are in the page, as text; scrolling brings the last ones.
    expect(await page.$$eval('.grid .r', (rows) => rows.length)).toBeLessThan(200);
    await page.$eval('.grid', (grid) => {
      grid.scrollTop = grid.scrollHeight;
    });
    await page.waitForFunction(() => document.querySelector('.grid')?.textContent?.includes('99999'));
    await page.close();
  });

  it('lists the query in History and runs it again from there', async () => {
    const page = await open();
    await signIn(page, ACME);
    await page.goto(`${gateway.url}/ui/#/history`);
    await page.waitForSelector('#history table');
    await page.fill('#history-search', 'GROUP BY api');
    await page.waitForFunction(() => document.querySelectorAll('#history tbody tr').length === 1);
    expect(await page.textContent('#history tbody tr')).toContain('http');
    await shoot(page, 'history');
    await page.click('#history .rerun');
    await page.waitForSelector('#sql');
    expect(await page.inputValue('#sql')).toBe('SELECT api, count(*) AS n FROM events GROUP BY api ORDER BY api');
    await page.click('#run');
    await page.waitForSelector('#stats');
    await page.close();
  });

  it('cancels a long statement from Sessions', async () => {
    const headers = { Authorization: `Bearer ${ACME}`, 'Content-Type': 'application/json' };
    const session = (await (
      await fetch(`${gateway.url}/sessions`, { method: 'POST', headers, body: '{"kind":"sql"}' })
    ).json()) as { id: number };
    await fetch(`${gateway.url}/sessions/${session.id}/statements`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ code: 'SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3' }),
    });
    const page = await open();
    await signIn(page, ACME);
    await page.goto(`${gateway.url}/ui/#/sessions`);
    await page.waitForSelector(`[data-session="${session.id}"] .cancel-statement`);
    await shoot(page, 'sessions');
    await page.click(`[data-session="${session.id}"] .cancel-statement`);
    await expect
      .poll(() => page.textContent(`[data-session="${session.id}"] .statement-state`), { timeout: 10_000 })
      .toBe('cancelled');
    await page.close();
  });

  it('refreshes a dataset and shows its new version', async () => {
    const page = await open();
    await signIn(page, ACME);
    await page.goto(`${gateway.url}/ui/#/datasets`);
    await page.waitForSelector('.version[data-dataset="events"]');
    const before = await page.textContent('.version[data-dataset="events"]');
    await writeParquet(join(root, 'acme', 'events', 'part-2.parquet'), "SELECT 1 AS id, 'api-0' AS api, 1.5 AS ms");
    await page.click('.refresh[data-dataset="events"]');
    await expect.poll(() => page.textContent('.version[data-dataset="events"]')).not.toBe(before);
    // The cache's hit ratio per minute: this hour's queries of acme read its files.
    expect(await page.$$eval('#cache-trend .trend span', (bars) => bars.length)).toBeGreaterThanOrEqual(1);
    // The warming plan says what will be warmed, and why.
    expect(await page.textContent('#warming')).toMatch(/events\d+%(keep|warm|let-go)/);
    await shoot(page, 'datasets');
    await page.close();
  });

  it('shows an operator every tenant, and a tenant only its own', async () => {
    await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${GLOBEX}` },
      body: JSON.stringify({ sql: 'SELECT count(*) FROM events' }),
    });
    const admin = await open();
    await signIn(admin, ADMIN);
    expect(await admin.textContent('#who')).toBe('Operator (all tenants)');
    await admin.goto(`${gateway.url}/ui/#/history`);
    await admin.waitForSelector('#history table');
    const tenants = await admin.$$eval('#history tbody tr td:first-child', (cells) =>
      [...new Set(cells.map((c) => c.textContent))].sort(),
    );
    expect(tenants).toEqual(['acme', 'globex']);
    await admin.goto(`${gateway.url}/ui/#/overview`);
    await admin.waitForSelector('[data-tenant="globex"]');
    // Every replica alive: here the one gateway, serving, with its heartbeat.
    await admin.waitForSelector('#replicas table');
    expect(await admin.textContent('#replicas tbody')).toMatch(/\(this one\)serving/);
    await shoot(admin, 'overview');
    await admin.close();

    const tenant = await open();
    await signIn(tenant, GLOBEX);
    await tenant.goto(`${gateway.url}/ui/#/history`);
    await tenant.waitForSelector('#history table');
    expect(await tenant.textContent('#history')).not.toContain('GROUP BY api');
    await tenant.close();
  });

  it('lets an operator cancel any tenant’s running query and close any tenant’s session', async () => {
    const long = fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ACME}` },
      body: JSON.stringify({ sql: 'SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3' }),
    }).then(async (r) => (await r.json()) as { error?: { code: string; message: string } });
    const globexHeaders = { Authorization: `Bearer ${GLOBEX}`, 'Content-Type': 'application/json' };
    const session = (await (
      await fetch(`${gateway.url}/sessions`, { method: 'POST', headers: globexHeaders, body: '{"kind":"sql"}' })
    ).json()) as { id: number };
    const admin = await open();
    await signIn(admin, ADMIN);
    await admin.goto(`${gateway.url}/ui/#/overview`);
    await admin.waitForSelector('#running .cancel-query');
    expect(await admin.textContent('#running')).toContain('acme');
    await admin.click('#running .cancel-query');
    expect((await long).error).toMatchObject({
      code: 'QUERY_CANCELLED',
      message: 'The query was cancelled by an operator.',
    });

    await admin.goto(`${gateway.url}/ui/#/sessions`);
    await admin.waitForSelector('#sessions .delete-session');
    const rows = await admin.$$eval('#sessions tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    const index = rows.findIndex((row) => row.startsWith(`globex${session.id}`));
    expect(index).toBeGreaterThanOrEqual(0);
    await (await admin.$$('#sessions .delete-session'))[index]?.click();
    await expect
      .poll(async () => (await fetch(`${gateway.url}/sessions/${session.id}`, { headers: globexHeaders })).status)
      .toBe(404);
    await admin.close();
  });

  it('shows a rollup’s intervals, its backfill progress to the end, and its audits', async () => {
    const page = await open();
    await signIn(page, ACME);
    await page.goto(`${gateway.url}/ui/#/rollups`);
    await page.waitForSelector('#rollups progress');
    // An hour of 5-minute intervals: 12, or 13 once the next interval has ended since the gateway started.
    const first = /^Backfill: \d+ of (\d+) intervals done/.exec((await page.textContent('#rollups .backfill')) ?? '');
    expect(Number(first?.[1])).toBeGreaterThanOrEqual(12);
    // The page reads the rollup afresh on each visit: visit until every interval is done.
    let total = 0;
    await expect
      .poll(
        async () => {
          await page.goto(`${gateway.url}/ui/#/query`);
          await page.goto(`${gateway.url}/ui/#/rollups`);
          await page.waitForSelector('#rollups .backfill');
          const text = (await page.textContent('#rollups .backfill')) ?? '';
          total = Number(/ of (\d+) intervals/.exec(text)?.[1]);
          return text;
        },
        { timeout: 30_000, interval: 500 },
      )
      .toMatch(/^Backfill: (\d+) of \1 intervals done \(100%\), complete$/);
    expect(total).toBeGreaterThanOrEqual(12);
    expect(await page.getAttribute('#rollups progress', 'value')).toBe(String(total));
    expect(await page.$$eval('#rollups .intervals span.done', (cells) => cells.length)).toBe(total);
    const outcomes = await page.$$eval('#rollups .audits tbody tr td:last-child', (cells) =>
      cells.map((c) => c.textContent),
    );
    expect(outcomes.length).toBeGreaterThan(0);
    expect(new Set(outcomes)).toEqual(new Set(['ok']));
    await shoot(page, 'rollups');
    await page.close();
  });

  it('lays out every page at 1280 and 390 px, renders the API reference, and loads fast', async () => {
    for (const width of [1280, 390]) {
      const page = await open(width);
      await signIn(page, ACME);
      for (const name of ['query', 'history', 'sessions', 'datasets', 'rollups', 'overview', 'api']) {
        await page.goto(`${gateway.url}/ui/#/${name}`);
        await page.waitForFunction(() => (document.querySelector('main')?.children.length ?? 0) > 0);
        if (name === 'api') {
          await page.waitForSelector('text="/v1/query"');
          // The query body's schema, from the schema that validates it, is rendered in the page.
          await page.click('details >> nth=0');
          expect(await page.textContent('pre.schema >> nth=0')).toContain('"sql"');
        }
        // Nothing wider than the screen: the page never scrolls sideways.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, `${name} at ${width} px`).toBeLessThanOrEqual(0);
        await shoot(page, `${name}-${width}`);
      }
      await page.close();
    }
    // A cold load of the console (a new browser context, nothing cached) and the size of everything it loads.
    const context = await browser.newContext();
    const page = await context.newPage();
    const started = Date.now();
    await page.goto(`${gateway.url}/ui/`, { waitUntil: 'load' });
    await page.waitForSelector('#key');
    const loadMs = Date.now() - started;
    const files = await readdir(consoleDir, { recursive: true });
    let bytes = 0;
    for (const file of files) {
      const info = await stat(join(consoleDir, file));
      if (info.isFile()) bytes += info.size;
    }
    console.log(`console: cold load to the sign-in form ${loadMs} ms; all files ${(bytes / 1024).toFixed(1)} KiB`);
    await context.close();
    expect(problems).toEqual([]);
  });
});
