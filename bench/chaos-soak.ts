/**
 * A chaos soak: two gateway replicas (the built binary, each its own process) sharing a real redis-server and an
 * s3rver holding the datasets, under mixed clients (POST /v1/query, Livy sessions, the Trino protocol), while one
 * replica is SIGKILLed and restarted every 30 s, Redis is restarted twice and S3 goes away for 20 s twice. Every
 * answer is checked against a result known in advance. Goal: 0 lost, 0 wrong, 0 stuck, and every error a deliberate
 * 503/429 or a statement's `error` state.
 *
 *   npm run build && npm run bench -w @lakegate/bench -- chaos-soak     (10 minutes)
 *   SOAK_SECONDS=90 npm run bench -w @lakegate/bench -- chaos-soak
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  findRedisServer,
  freePort,
  type RedisHandle,
  type S3Handle,
  startRedis,
  startS3,
} from '../test/harness/services.js';
import { writeParquet } from '../test/support/duckdb-data.js';
import { type GatewayProcess, startGatewayProcess } from '../test/support/gateway-process.js';
import { createBucket, putObject, S3_CREDENTIALS, s3Client } from '../test/support/s3-fixtures.js';
import { report } from './support.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const KEY = 'soak-acme-key';
const BEARER = { Authorization: `Bearer ${KEY}` };
const BASIC = { Authorization: `Basic ${Buffer.from(`acme:${KEY}`).toString('base64')}` };
const EVENTS = 200_000;
const ORDERS = 5_000;
/** A statement not final this long after it was submitted is stuck (a dead replica's heartbeat lives 10 s). */
const STUCK_MS = 90_000;
/** A request not answered in this time is stuck. */
const REQUEST_MS = 60_000;
/** Errors a client is told to retry: the deliberate answers of a gateway under faults. */
const DELIBERATE_CODES = new Set([
  'STORAGE_UNAVAILABLE',
  'STATE_UNAVAILABLE',
  'ENGINE_BUSY',
  'ENGINE_CLOSED',
  'SHUTTING_DOWN',
  'RATE_LIMITED',
]);
const DELIBERATE_TRINO = new Set(['GENERIC_EXTERNAL', 'QUERY_QUEUE_FULL', 'SERVER_SHUTTING_DOWN']);
/** A statement's `error` state that a fault explains: its replica died, or a dependency was away. */
const DELIBERATE_STATEMENT = (ename: string, evalue: string): boolean =>
  DELIBERATE_CODES.has(ename) ||
  (ename === 'ENGINE_FAILURE' && /\) (stopped|restarted) before it finished/.test(evalue));

/** Queries with their answers, known from how the data is generated. */
function knownQueries(): { sql: string; expected: string }[] {
  let crossed = 0;
  for (let id = 0; id < EVENTS; id++) for (let r = 0; r < 10; r++) if ((id + r) % 7 === 3) crossed++;
  const rows = (values: unknown[][]): string => JSON.stringify(values.map((row) => row.map(String)));
  return [
    { sql: 'SELECT count(*), sum(amount) FROM events', expected: rows([[EVENTS, (EVENTS / 100) * 4950]]) },
    { sql: 'SELECT count(*) FROM events WHERE amount < 10', expected: rows([[EVENTS / 10]]) },
    { sql: 'SELECT max(id), min(id) FROM orders', expected: rows([[(ORDERS - 1) * 3, 0]]) },
    {
      sql: 'SELECT amount, count(*) FROM events GROUP BY amount ORDER BY amount LIMIT 3',
      expected: rows([
        [0, EVENTS / 100],
        [1, EVENTS / 100],
        [2, EVENTS / 100],
      ]),
    },
    { sql: 'SELECT count(*) FROM events e, range(10) r WHERE (e.id + r.range) % 7 = 3', expected: rows([[crossed]]) },
  ];
}
const QUERIES = knownQueries();
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const asText = (rows: unknown): string => JSON.stringify((rows as unknown[][]).map((row) => row.map(String)));

// Tallies
const requests: Record<string, number> = { query: 0, trino: 0, statement: 0, session: 0 };
const errors = new Map<string, number>();
const undeliberate: string[] = [];
let wrong = 0;
const wrongExamples: string[] = [];
let stuck = 0;
let lostSessions = 0;
let lostResults = 0;
const count = (what: string, deliberate: boolean, detail = what): void => {
  errors.set(what, (errors.get(what) ?? 0) + 1);
  if (!deliberate && undeliberate.length < 20) undeliberate.push(detail);
  if (!deliberate && undeliberate.length >= 20) errors.set('(more undeliberate)', 1);
};
const checkAnswer = (what: string, got: unknown, expected: string): void => {
  if (asText(got) === expected) return;
  wrong++;
  if (wrongExamples.length < 5) wrongExamples.push(`${what}: got ${asText(got)}, expected ${expected}`);
};

// Services
const root = await mkdtemp(join(tmpdir(), 'lakegate-chaos-soak-'));
let redis: RedisHandle | undefined;
let s3: S3Handle | undefined;
const names = ['a', 'b'] as const;
type Name = (typeof names)[number];
const replicas: Partial<Record<Name, GatewayProcess>> = {};
const up: Record<Name, boolean> = { a: false, b: false };
/** When each replica was last killed: a connection it drops soon after is the kill's doing. */
const killedAt: Record<Name, number> = { a: 0, b: 0 };
const ports: Record<Name, number> = { a: 0, b: 0 };
const rss: { t: number; a: number | null; b: number | null }[] = [];
const started = Date.now();
const elapsed = (): number => (Date.now() - started) / 1000;
let stopping = false;

const config = (name: Name) => ({
  server: { port: ports[name], shutdownGraceMs: 1000 },
  state: { redisUrl: redis?.url, replicaId: `replica-${name}`, resultsLocation: `file:${join(root, 'results')}/` },
  storage: {
    cacheDir: join(root, `cache-${name}`),
    warming: { enabled: false },
    s3: { endpoint: s3?.endpoint, forcePathStyle: true, ...S3_CREDENTIALS, requestTimeoutMs: 2000 },
  },
  engines: { duckdb: { threads: 1 } },
  sessions: { smallResultBytes: 200, reapIntervalSeconds: 1, outputRows: 10, maxSessionsPerTenant: 1000 },
  tenants: {
    acme: {
      apiKeys: [KEY],
      datasets: {
        events: { location: 's3://lake/events/', format: 'parquet', refreshIntervalSeconds: 5 },
        orders: { location: 's3://lake/orders/', format: 'parquet', refreshIntervalSeconds: 5 },
      },
    },
  },
});

const start = async (name: Name): Promise<void> => {
  replicas[name] = await startGatewayProcess(join(root, `replica-${name}.json`), config(name), ports[name]);
  up[name] = true;
};

/** Starts a killed replica again; a failed start is reported and tried again, as a supervisor would. */
const restart = async (name: Name): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(name);
    } catch (error) {
      console.error(
        `restart of replica-${name} failed (attempt ${attempt}): ${(error as Error).message.slice(0, 500)}`,
      );
      if (attempt >= 5) throw error;
    }
  }
};

/** A replica to send a request to: a random one among those up. */
const target = async (): Promise<{ name: Name; url: string }> => {
  for (;;) {
    const live = names.filter((n) => up[n]);
    if (live.length > 0) {
      const name = pick(live);
      return { name, url: replicas[name]?.url ?? '' };
    }
    await sleep(100);
  }
};

/** A failed fetch: deliberate when the replica was killed moments ago (its connections die with it). */
const transportError = (name: Name, what: string, error: unknown): void => {
  const recentKill = Date.now() - killedAt[name] < 20_000 || !up[name];
  const timeout = (error as Error).name === 'TimeoutError';
  if (timeout) stuck++;
  count(
    timeout ? `${what}: no answer in ${REQUEST_MS / 1000} s` : `${what}: connection lost (replica killed)`,
    recentKill && !timeout,
    `${what} on replica-${name} at ${elapsed().toFixed(0)} s: ${(error as Error).message}`,
  );
};

const fetchJson = async (url: string, init: RequestInit) => {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_MS) });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { raw: text };
  }
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field below
  return { status: response.status, body: body as any };
};

/** Answers with an error code: counted, deliberate or not. */
const httpError = (what: string, status: number, body: { error?: { code?: string; message?: string } }): void => {
  const code = body.error?.code ?? `HTTP ${status}`;
  const deliberate = DELIBERATE_CODES.has(code) && (status === 503 || status === 429);
  count(`${what}: ${status} ${code}`, deliberate, `${what}: ${status} ${code} ${body.error?.message ?? ''}`);
};

async function queryClient(): Promise<void> {
  while (!stopping) {
    const { name, url } = await target();
    const query = pick(QUERIES);
    requests.query = (requests.query ?? 0) + 1;
    try {
      const { status, body } = await fetchJson(`${url}/v1/query`, {
        method: 'POST',
        headers: BEARER,
        body: JSON.stringify({ sql: query.sql }),
      });
      if (status === 200 && !body.error) checkAnswer(query.sql, body.rows, query.expected);
      else httpError('query', status, body);
    } catch (error) {
      transportError(name, 'query', error);
    }
    await sleep(50);
  }
}

async function trinoClient(): Promise<void> {
  while (!stopping) {
    const { name, url } = await target();
    const query = pick(QUERIES);
    requests.trino = (requests.trino ?? 0) + 1;
    try {
      let page = await fetchJson(`${url}/v1/statement`, { method: 'POST', headers: BASIC, body: query.sql });
      const data: unknown[][] = [];
      const deadline = Date.now() + STUCK_MS;
      while (page.status === 200 && page.body.nextUri && Date.now() < deadline) {
        data.push(...(page.body.data ?? []));
        page = await fetchJson(page.body.nextUri, { headers: BASIC });
      }
      data.push(...(page.body.data ?? []));
      if (page.status !== 200) httpError('trino', page.status, page.body);
      else if (page.body.nextUri) {
        stuck++;
        count('trino: still running after 90 s', false);
      } else if (page.body.error) {
        const errorName = String(page.body.error.errorName);
        count(`trino: ${errorName}`, DELIBERATE_TRINO.has(errorName), `trino: ${errorName} ${page.body.error.message}`);
      } else checkAnswer(`trino ${query.sql}`, data, query.expected);
    } catch (error) {
      transportError(name, 'trino', error);
    }
    await sleep(50);
  }
}

/** Statements known `available`, with their expected answer: read again at the end, they must still be there. */
const finished: { session: number; statement: number; expected: string }[] = [];
const sessionsMade = new Set<number>();

/** Calls any live replica until one answers with something other than a deliberate 503 or a dropped connection. */
async function livy(method: string, path: string, body?: unknown) {
  const deadline = Date.now() + STUCK_MS;
  for (;;) {
    const { name, url } = await target();
    try {
      const answer = await fetchJson(`${url}${path}`, {
        method,
        headers: BEARER,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (answer.status !== 503 && answer.status !== 429) return answer;
      httpError(`livy ${method}`, answer.status, answer.body);
    } catch (error) {
      transportError(name, `livy ${method}`, error);
    }
    if (Date.now() > deadline) return undefined;
    await sleep(250);
  }
}

async function livyClient(): Promise<void> {
  let session: number | undefined;
  let statements = 0;
  while (!stopping) {
    // A new session now and then, so that sessions are also created (and later verified) under faults.
    if (statements++ % 100 === 0) session = undefined;
    if (session === undefined) {
      requests.session = (requests.session ?? 0) + 1;
      const created = await livy('POST', '/sessions', { kind: 'sql' });
      if (created?.status !== 201 && created?.status !== 200) {
        if (created) httpError('livy create', created.status, created.body);
        continue;
      }
      session = created.body.id as number;
      sessionsMade.add(session);
    }
    const query = pick(QUERIES);
    requests.statement = (requests.statement ?? 0) + 1;
    const submitted = await livy('POST', `/sessions/${session}/statements`, { code: query.sql });
    if (!submitted) continue;
    if (submitted.status === 404) {
      lostSessions++;
      count('livy: session lost', false, `session ${session} answered 404 at ${elapsed().toFixed(0)} s`);
      session = undefined;
      continue;
    }
    if (submitted.status !== 201) {
      httpError('livy submit', submitted.status, submitted.body);
      continue;
    }
    const id = submitted.body.id as number;
    const deadline = Date.now() + STUCK_MS;
    for (;;) {
      await sleep(100);
      const polled = await livy('GET', `/sessions/${session}/statements/${id}`);
      const state = polled?.body?.state as string | undefined;
      if (polled && polled.status === 404) {
        lostSessions++;
        count('livy: statement lost', false, `statement ${session}/${id} answered 404`);
        session = undefined;
        break;
      }
      if (state === 'available') {
        checkAnswer(`livy ${query.sql}`, polled?.body.output.data['application/json'].data, query.expected);
        finished.push({ session, statement: id, expected: query.expected });
        break;
      }
      if (state === 'error' || state === 'cancelled') {
        const { ename = state, evalue = '' } = polled?.body.output ?? {};
        count(`livy statement error: ${ename}`, DELIBERATE_STATEMENT(ename, evalue), `${ename}: ${evalue}`);
        break;
      }
      if (Date.now() > deadline) {
        stuck++;
        count('livy: statement stuck', false, `statement ${session}/${id} still ${state} after 90 s`);
        break;
      }
    }
  }
}

async function readRss(name: Name): Promise<number | null> {
  const pid = replicas[name]?.child.pid;
  if (!up[name] || !pid) return null;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1024) : null;
  } catch {
    return null;
  }
}

/** Kills one replica every 30 s (alternating; cold every third time and during S3 outages), restarts Redis and S3 twice each. */
async function chaos(): Promise<{ kills: number; redisRestarts: number; s3Outages: number }> {
  const done = { kills: 0, redisRestarts: 0, s3Outages: 0 };
  const redisAt = [SECONDS * 0.4, SECONDS * 0.8];
  const s3At = [SECONDS * 0.25, SECONDS * 0.65];
  let nextKill = 30;
  let nextRss = 0;
  let s3Down = false;
  const background: Promise<unknown>[] = [];
  while (elapsed() < SECONDS) {
    const t = elapsed();
    if (t >= nextRss) {
      nextRss += 10;
      rss.push({ t: Math.round(t), a: await readRss('a'), b: await readRss('b') });
    }
    if (s3At[0] !== undefined && t >= s3At[0]) {
      s3At.shift();
      done.s3Outages++;
      await s3?.setOutage(true);
      s3Down = true;
      background.push(
        sleep(20_000).then(async () => {
          await s3?.setOutage(false);
          s3Down = false;
        }),
      );
    }
    if (redisAt[0] !== undefined && t >= redisAt[0]) {
      redisAt.shift();
      done.redisRestarts++;
      await redis?.restart();
    }
    if (t >= nextKill && nextKill < SECONDS - 5) {
      const name: Name = done.kills % 2 === 0 ? 'a' : 'b';
      nextKill += 30;
      done.kills++;
      up[name] = false;
      killedAt[name] = Date.now();
      await replicas[name]?.kill('SIGKILL');
      // A replica restarted while S3 is away, with nothing cached, can only answer STORAGE_UNAVAILABLE.
      if (done.kills % 3 === 0 || s3Down) await rm(join(root, `cache-${name}`), { recursive: true, force: true });
      background.push(restart(name));
    }
    await sleep(250);
  }
  await Promise.all(background);
  return done;
}

/** After the run: every session made is still there, and every result once available still is, unchanged. */
async function verify(): Promise<void> {
  for (const session of sessionsMade) {
    const answer = await livy('GET', `/sessions/${session}`);
    if (answer?.status !== 200) {
      lostSessions++;
      count('livy: session lost', false, `session ${session} answered ${answer?.status} at the end`);
    }
  }
  for (const { session, statement, expected } of finished) {
    const answer = await livy('GET', `/sessions/${session}/statements/${statement}/result?offset=0&limit=10`);
    if (answer?.status !== 200 || asText(answer.body.rows) !== expected) {
      lostResults++;
      count('livy: finished result lost', false, `result ${session}/${statement}: ${answer?.status}`);
    }
  }
}

try {
  if (!findRedisServer()) throw new Error('chaos-soak needs redis-server (apt-get install -y redis-server)');
  await mkdir(join(root, 'redis'));
  redis = await startRedis(undefined, join(root, 'redis'));
  s3 = await startS3();
  const client = s3Client(s3.endpoint);
  await createBucket(client, 'lake');
  await writeParquet(join(root, 'events.parquet'), `SELECT i AS id, i % 100 AS amount FROM range(${EVENTS}) t(i)`);
  await writeParquet(join(root, 'orders.parquet'), `SELECT i * 3 AS id FROM range(${ORDERS}) t(i)`);
  await putObject(client, 'lake', 'events/part-0.parquet', await readFile(join(root, 'events.parquet')));
  await putObject(client, 'lake', 'orders/part-0.parquet', await readFile(join(root, 'orders.parquet')));
  client.destroy();
  ports.a = await freePort();
  ports.b = await freePort();
  await Promise.all(names.map(start));
  const baseline = { a: await readRss('a'), b: await readRss('b') };

  console.log(`chaos soak for ${SECONDS} s: 2 replicas, redis-server, s3rver; 2 query, 1 Trino, 2 Livy clients`);
  const clients = [queryClient(), queryClient(), trinoClient(), livyClient(), livyClient()];
  const faults = await chaos();
  stopping = true;
  await Promise.all(clients);
  // Both replicas up, Redis and S3 back: what was finished must still be there.
  while (!up.a || !up.b) await sleep(100);
  await verify();

  const total = Object.values(requests).reduce((a, b) => a + b, 0);
  const deliberate = [...errors.entries()]
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => [`  ${k}`, String(v)] as [string, string]);
  report(`chaos soak: ${SECONDS} s`, [
    [
      'requests',
      `${total} (query ${requests.query}, trino ${requests.trino}, statements ${requests.statement}, sessions ${requests.session})`,
    ],
    [
      'faults',
      `${faults.kills} replica kills, ${faults.redisRestarts} Redis restarts, ${faults.s3Outages} S3 outages of 20 s`,
    ],
    ['errors by kind', ''],
    ...deliberate,
    ['undeliberate errors', `${undeliberate.length}  (goal 0)`],
    ['lost sessions', `${lostSessions} of ${sessionsMade.size}  (goal 0)`],
    ['lost finished results', `${lostResults} of ${finished.length}  (goal 0)`],
    ['stuck', `${stuck}  (goal 0)`],
    ['wrong answers', `${wrong}  (goal 0)`],
  ]);
  for (const line of undeliberate) console.log(`  undeliberate: ${line}`);
  for (const line of wrongExamples) console.log(`  wrong: ${line}`);
  const every = Math.max(1, Math.round(rss.length / 20));
  report(
    `replica RSS (MB) every ${every * 10} s; baseline after start a ${baseline.a}, b ${baseline.b}; '-' while restarting`,
    [
      ['t (s)', 'replica-a  replica-b'],
      ...rss
        .filter((_, i) => i % every === 0)
        .map(
          (s) =>
            [String(s.t), `${String(s.a ?? '-').padStart(9)}  ${String(s.b ?? '-').padStart(9)}`] as [string, string],
        ),
      [
        'max',
        `${String(Math.max(...rss.map((s) => s.a ?? 0))).padStart(9)}  ${String(Math.max(...rss.map((s) => s.b ?? 0))).padStart(9)}`,
      ],
    ],
  );
} finally {
  stopping = true;
  await Promise.all(names.map((n) => replicas[n]?.kill('SIGKILL')));
  await redis?.stop();
  await s3?.stop();
  await rm(root, { recursive: true, force: true });
}
