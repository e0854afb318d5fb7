import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRedisServer } from '../harness/services.js';
import { LONG_SQL } from '../support/sessions-client.js';
import { twoReplicas } from '../support/two-replicas.js';

const KEY = 'acme-faults-key';
const TRINO_AUTH = { Authorization: `Basic ${Buffer.from(`acme:${KEY}`).toString('base64')}` };

interface TrinoPage {
  readonly nextUri?: string;
  readonly stats?: { readonly state?: string };
  readonly data?: unknown[][];
  readonly error?: { readonly errorName: string };
}

/** Follows a Trino query's nextUri to its end: its data, its error, or the transport failure that stopped it. */
async function followTrino(first: TrinoPage, onPage: (page: TrinoPage) => void = () => undefined) {
  const data: unknown[][] = [];
  let page = first;
  try {
    for (;;) {
      onPage(page);
      data.push(...(page.data ?? []));
      if (!page.nextUri) return { data, error: page.error?.errorName };
      page = (await (await fetch(page.nextUri, { headers: TRINO_AUTH })).json()) as TrinoPage;
    }
  } catch (error) {
    return { data, error: `transport: ${(error as Error).message}` };
  }
}

const submitTrino = async (url: string, sql: string): Promise<TrinoPage> =>
  (await (await fetch(`${url}/v1/statement`, { method: 'POST', headers: TRINO_AUTH, body: sql })).json()) as TrinoPage;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Faults around two gateway processes sharing one real Redis: a replica SIGKILLed in the middle of a Trino query or
 * a session statement, and Redis restarted while statements run. Clients get an answer or an error, never a hang;
 * sessions and finished results survive.
 */
describe.skipIf(!findRedisServer())('faults: killed replicas and a restarted Redis', () => {
  const cluster = twoReplicas('lakegate-faults-', KEY);
  const { replicas, start, url, a, b } = cluster;
  beforeAll(() => cluster.setUp(), 90_000);
  afterAll(() => cluster.tearDown());

  it('ends a Trino client’s query promptly when its replica is SIGKILLed, while the other replica serves', async () => {
    let running!: () => void;
    const isRunning = new Promise<void>((resolve) => {
      running = resolve;
    });
    const follower = followTrino(await submitTrino(url('a')(), LONG_SQL), (page) => {
      if (page.stats?.state === 'RUNNING') running();
    });
    await isRunning;
    await sleep(200);
    const killedAt = Date.now();
    expect(await replicas.a?.kill('SIGKILL')).toBeNull();
    const ended = await follower;
    expect(ended.error).toBeDefined();
    expect(Date.now() - killedAt).toBeLessThan(3000);

    const other = await followTrino(await submitTrino(url('b')(), 'SELECT count(*), max(twice) FROM events'));
    expect(other).toEqual({ data: [[3000, 5998]], error: undefined });
    await start('a');
  });

  it('ends a statement of a SIGKILLed replica in error via the survivor’s reaper; the session stays usable', async () => {
    const session = (await b.call('POST', '/sessions', { kind: 'sql', name: 'orphaned' })).body.id as number;
    const finished = (await a.call('POST', `/sessions/${session}/statements`, { code: 'SELECT count(*) FROM events' }))
      .body.id as number;
    expect((await a.waitFor(session, finished)).output.data['application/json'].data).toEqual([[3000]]);
    const running = (await a.call('POST', `/sessions/${session}/statements`, { code: LONG_SQL })).body.id as number;
    await b.waitFor(session, running, (s) => s === 'running');

    expect(await replicas.a?.kill('SIGKILL')).toBeNull();
    // The heartbeat lives 10 s; the survivor ends the statement soon after it lapses, with no help from replica-a.
    const ended = await b.waitFor(session, running, undefined, 20_000);
    expect(ended).toMatchObject({ state: 'error', output: { status: 'error', ename: 'ENGINE_FAILURE' } });
    expect(ended.output.evalue).toMatch(/\(replica-a\) stopped before it finished/);

    expect((await b.call('GET', `/sessions/${session}`)).body).toMatchObject({ name: 'orphaned', state: 'idle' });
    const next = (await b.call('POST', `/sessions/${session}/statements`, { code: 'SELECT sum(id) FROM events' })).body
      .id as number;
    expect((await b.waitFor(session, next)).output.data['application/json'].data).toEqual([[4_498_500]]);
    expect((await b.waitFor(session, finished)).output.data['application/json'].data).toEqual([[3000]]);
    await start('a');
  }, 40_000);

  it('loses no session or finished result when Redis restarts while statements run, and ends every statement', async () => {
    // A replica restarted by the test before this one may still be connecting to Redis (session calls answer 503
    // until it is): create with a retry, as a client honouring Retry-After would.
    const created = async (client: typeof a, path: string, body: unknown): Promise<number> => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const answer = await client.call('POST', path, body);
        if (answer.status === 201) return answer.body.id as number;
        if (answer.status !== 503 || Date.now() > deadline) {
          throw new Error(`POST ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
        }
        await sleep(200);
      }
    };
    const sessions = [
      await created(a, '/sessions', { kind: 'sql', name: 'on-a' }),
      await created(b, '/sessions', { kind: 'sql', name: 'on-b' }),
    ];
    // One result small enough for Redis, one large enough for the results folder.
    const small = await created(a, `/sessions/${sessions[0]}/statements`, { code: 'SELECT 41 + 1' });
    const large = await created(b, `/sessions/${sessions[1]}/statements`, {
      code: 'SELECT id, twice FROM events ORDER BY id',
    });
    await a.waitFor(sessions[0] as number, small);
    await b.waitFor(sessions[1] as number, large);

    // Statements that run across the outage: some end while Redis is away, some after it is back.
    const inFlight: { session: number; id: number; client: typeof a; expected: unknown[][] }[] = [];
    for (const [i, session] of sessions.entries()) {
      const client = i === 0 ? a : b;
      for (const n of [2, 3]) {
        const sql = `SELECT count(*) FROM range(${n * 40_000_000}) t(i) WHERE i % 7 = 3`;
        const id = (await client.call('POST', `/sessions/${session}/statements`, { code: sql })).body.id as number;
        inFlight.push({ session, id, client, expected: [[Math.floor((n * 40_000_000 - 4) / 7) + 1]] });
      }
    }
    await a.waitFor(sessions[0] as number, inFlight[0]?.id as number, (s) => s === 'running');
    await cluster.redis.pause();
    await sleep(1500);
    await cluster.redis.restart();

    // Generous: on a busy machine (other test files run beside this one) the four statements take a while.
    const deadline = Date.now() + 60_000;
    for (const { session, id, client, expected } of inFlight) {
      let statement = (await client.call('GET', `/sessions/${session}/statements/${id}`)).body;
      while (!['available', 'error', 'cancelled'].includes(statement?.state) && Date.now() < deadline) {
        await sleep(100);
        statement = (await client.call('GET', `/sessions/${session}/statements/${id}`)).body;
      }
      // A statement that ends while Redis is away records its end once Redis is back: nothing is lost.
      expect(statement.state, JSON.stringify(statement)).toBe('available');
      expect(statement.output.data['application/json'].data).toEqual(expected);
    }

    for (const [i, session] of sessions.entries()) {
      expect((await b.call('GET', `/sessions/${session}`)).body).toMatchObject({
        name: i === 0 ? 'on-a' : 'on-b',
        state: 'idle',
      });
    }
    expect((await b.call('GET', `/sessions/${sessions[0]}/statements/${small}/result`)).body.rows).toEqual([[42]]);
    const page = await a.call('GET', `/sessions/${sessions[1]}/statements/${large}/result?offset=2998&limit=5`);
    expect(page.body).toMatchObject({
      total: 3000,
      rows: [
        [2998, 5996],
        [2999, 5998],
      ],
    });
    const next = (await b.call('POST', `/sessions/${sessions[0]}/statements`, { code: 'SELECT 7' })).body.id as number;
    expect((await a.waitFor(sessions[0] as number, next)).output.data['application/json'].data).toEqual([[7]]);
  }, 120_000);
});
