import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, type PostgresGateway, startPostgresGateway } from '../support/postgres-gateway.js';
import { cstring, errorFields, message, WireClient } from '../support/postgres-wire.js';

/**
 * The Postgres front end driven by raw messages: protocol-level abuse (whatever a client sends, it gets an
 * ErrorResponse, and for a broken frame a closed connection, never a crash, and the server goes on serving
 * everyone else), backpressure, and the binary format, which drivers choose on their own.
 */
describe('Postgres protocol: raw messages', () => {
  let server: PostgresGateway;

  beforeAll(async () => {
    server = await startPostgresGateway({ postgres: { maxMessageBytes: 131_072, maxConnectionsPerTenant: 3 } });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  /** The server still answers a real client. */
  async function stillServing(): Promise<void> {
    const client = new pg.Client(server.acme);
    await client.connect();
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
  }

  it('refuses a startup packet claiming 1 GB at once, without reading it', async () => {
    const client = await WireClient.open(server.port);
    const head = Buffer.alloc(8);
    head.writeInt32BE(1_073_741_824, 0);
    head.writeInt32BE(196_608, 4);
    client.send(head);
    const reply = await client.next();
    expect(reply?.type).toBe('E');
    expect(errorFields(reply as { type: string; body: Buffer })).toMatchObject({ S: 'FATAL', C: '08P01' });
    expect(await client.waitClosed()).toBe(true);
    await stillServing();
  });

  it('closes a connection whose message is truncated, lies about its length, or is of no known type', async () => {
    const truncated = await WireClient.login(server.port, 'acme', ACME_KEY);
    const whole = message('Q', cstring('SELECT 1'));
    truncated.send(whole.subarray(0, 7));
    truncated.socket.end();
    expect(await truncated.waitClosed()).toBe(true);

    const short = await WireClient.login(server.port, 'acme', ACME_KEY);
    const lying = Buffer.from(whole);
    lying.writeInt32BE(6, 1);
    short.send(lying);
    expect(errorFields(await short.expect('E'))).toMatchObject({ S: 'FATAL', C: '08P01' });
    expect(await short.waitClosed()).toBe(true);

    const negative = await WireClient.login(server.port, 'acme', ACME_KEY);
    const below = Buffer.from(whole);
    below.writeInt32BE(-5, 1);
    negative.send(below);
    expect(errorFields(await negative.expect('E'))).toMatchObject({ C: '08P01' });

    const unknown = await WireClient.login(server.port, 'acme', ACME_KEY);
    unknown.send(message('!', Buffer.alloc(3)));
    expect(errorFields(await unknown.expect('E'))).toMatchObject({ S: 'FATAL', C: '08P01' });
    expect(await unknown.waitClosed()).toBe(true);
    await stillServing();
  });

  it('refuses a message over maxMessageBytes when its length arrives', async () => {
    const client = await WireClient.login(server.port, 'acme', ACME_KEY);
    const head = Buffer.alloc(5);
    head.write('Q');
    head.writeInt32BE(10_000_000, 1);
    client.send(head);
    const error = errorFields(await client.expect('E'));
    expect(error).toMatchObject({ S: 'FATAL', C: '08P01' });
    expect(error.M).toMatch(/at most 131072/);
    expect(await client.waitClosed()).toBe(true);
  });

  it('refuses a Parse of 10,000 statements, and the connection goes on after Sync', async () => {
    const client = await WireClient.login(server.port, 'acme', ACME_KEY);
    // 10,000 statements within maxMessageBytes.
    const text = 'SELECT 1;'.repeat(6000) + 'x;'.repeat(4000);
    client.send(
      Buffer.concat([
        message('P', Buffer.concat([cstring(''), cstring(text), Buffer.from([0, 0])])),
        message('B', Buffer.concat([cstring(''), cstring(''), Buffer.alloc(6)])),
        message('E', Buffer.concat([cstring(''), Buffer.alloc(4)])),
        message('S', Buffer.alloc(0)),
      ]),
    );
    const replies = await client.until('Z');
    expect(replies.map((r) => r.type)).toEqual(['E', 'Z']);
    expect(errorFields(replies[0] as { type: string; body: Buffer }).C).toBe('42601');
    client.send(message('Q', cstring('SELECT 2 AS two')));
    expect((await client.until('Z')).map((r) => r.type)).toEqual(['T', 'D', 'C', 'Z']);
    client.close();
  });

  it("reads a Bind's counts unsigned, and refuses result formats that fit neither all columns nor each", async () => {
    const client = await WireClient.login(server.port, 'acme', ACME_KEY);
    const count = (n: number) => {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(n);
      return b;
    };
    // Parse, Bind with `formats` result formats (all text), Execute and Sync.
    const bound = (formats: number) =>
      Buffer.concat([
        message('P', Buffer.concat([cstring(''), cstring('SELECT 1 AS one, 2 AS two'), count(0)])),
        message(
          'B',
          Buffer.concat([cstring(''), cstring(''), count(0), count(0), count(formats), Buffer.alloc(2 * formats)]),
        ),
        message('E', Buffer.concat([cstring(''), Buffer.alloc(4)])),
        message('S', Buffer.alloc(0)),
      ]);
    // Three formats for two columns; then 40,000, a count past 32767 (read signed, it was a negative count and the
    // message's length did not match it). The columns are known once the statement runs, at Execute.
    for (const formats of [3, 40_000]) {
      client.send(bound(formats));
      const replies = await client.until('Z');
      expect(replies.map((r) => r.type)).toEqual(['1', '2', 'E', 'Z']);
      expect(errorFields(replies[2] as { type: string; body: Buffer })).toMatchObject({
        S: 'ERROR',
        C: '08P01',
        M: `bind message has ${formats} result formats but query has 2 columns`,
      });
    }
    // A statement described first has known columns: Bind refuses them, as PostgreSQL does.
    client.send(
      Buffer.concat([
        message('P', Buffer.concat([cstring('described'), cstring('SELECT 1 AS one, 2 AS two'), count(0)])),
        message('D', Buffer.concat([Buffer.from('S'), cstring('described')])),
        message('B', Buffer.concat([cstring(''), cstring('described'), count(0), count(0), count(3), Buffer.alloc(6)])),
        message('E', Buffer.concat([cstring(''), Buffer.alloc(4)])),
        message('S', Buffer.alloc(0)),
      ]),
    );
    const described = await client.until('Z');
    expect(described.map((r) => r.type)).toEqual(['1', 't', 'T', 'E', 'Z']);
    expect(errorFields(described[3] as { type: string; body: Buffer }).C).toBe('08P01');
    // One format for all columns, or one each: the connection goes on.
    for (const formats of [1, 2]) {
      client.send(bound(formats));
      expect((await client.until('Z')).map((r) => r.type)).toEqual(['1', '2', 'D', 'C', 'Z']);
    }
    client.close();
  });

  it('refuses text that is not UTF-8 with 22021 and keeps the connection', async () => {
    const client = await WireClient.login(server.port, 'acme', ACME_KEY);
    client.send(message('Q', cstring(Buffer.from([0x53, 0x45, 0x4c, 0xed, 0xa0, 0x80]))));
    const replies = await client.until('Z');
    expect(replies.map((r) => r.type)).toEqual(['E', 'Z']);
    expect(errorFields(replies[0] as { type: string; body: Buffer }).C).toBe('22021');
    client.send(message('Q', cstring('SELECT 3')));
    expect((await client.until('Z')).map((r) => r.type)).toEqual(['T', 'D', 'C', 'Z']);
    client.close();
  });

  it('refuses a startup packet whose parameters are not UTF-8 with 22021, not an internal error', async () => {
    const client = await WireClient.open(server.port);
    const body = Buffer.concat([
      cstring('user'),
      cstring('acme'),
      cstring('application_name'),
      cstring(Buffer.from([0x64, 0xe9, 0x6a, 0xe0])),
      cstring('database'),
      cstring('lakegate'),
      Buffer.from([0]),
    ]);
    const head = Buffer.alloc(8);
    head.writeInt32BE(body.length + 8, 0);
    head.writeInt32BE(196_608, 4);
    client.send(Buffer.concat([head, body]));
    const reply = await client.next();
    expect(errorFields(reply as { type: string; body: Buffer })).toMatchObject({ S: 'FATAL', C: '22021' });
    expect(await client.waitClosed()).toBe(true);
    await stillServing();
  });

  it('answers GSSENCRequest and SSLRequest with N, then logs in on the same connection', async () => {
    const client = await WireClient.open(server.port);
    for (const code of [80_877_104, 80_877_103]) {
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(code, 4);
      client.send(request);
      expect(await client.byte()).toBe('N');
    }
    await WireClient.login(server.port, 'acme', ACME_KEY, client);
    client.send(message('Q', cstring('SELECT 4')));
    expect((await client.until('Z')).map((r) => r.type)).toEqual(['T', 'D', 'C', 'Z']);
    client.close();
  });

  it('refuses a tenant’s connections beyond its limit with 53300, and ignores a CancelRequest with a wrong key', async () => {
    const open = await Promise.all([1, 2, 3].map(() => WireClient.login(server.port, 'acme', ACME_KEY)));
    const refused = new pg.Client(server.acme);
    await expect(refused.connect()).rejects.toMatchObject({ code: '53300' });
    const cancel = await WireClient.open(server.port);
    const request = Buffer.alloc(16);
    request.writeInt32BE(16, 0);
    request.writeInt32BE(80_877_102, 4);
    request.writeInt32BE(12_345, 8);
    request.writeInt32BE(678, 12);
    cancel.send(request);
    expect(await cancel.waitClosed()).toBe(true);
    for (const client of open) client.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await stillServing();
  });

  it('refuses what would grow a connection without bound, with 54000 or 22023, and goes on serving it', async () => {
    const client = new pg.Client(server.acme);
    await client.connect();
    try {
      // A parameter numbered past what the protocol can bind, which would size an array by it.
      await expect(client.query({ text: 'SELECT $40000::int AS n', values: [1] })).rejects.toMatchObject({
        code: '54000',
        message: expect.stringContaining('at most 32767 parameters'),
      });
      // Named prepared statements, up to a thousand a connection.
      for (let i = 0; i < 1000; i++) await client.query({ name: `s${i}`, text: `SELECT ${i} AS n` });
      await expect(client.query({ name: 's1000', text: 'SELECT 1000 AS n' })).rejects.toMatchObject({
        code: '54000',
        message: expect.stringContaining('1000 prepared statements'),
      });
      expect((await client.query({ name: 's999', text: 'SELECT 999 AS n' })).rows).toEqual([{ n: 999 }]);
      // A timeout past PostgreSQL's range (and Node's timers', which would fire at once).
      await expect(client.query("SET statement_timeout = '25d'")).rejects.toMatchObject({ code: '22023' });
      await client.query("SET statement_timeout = '24d'");
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
  });

  it('holds a query back while its client does not read, instead of buffering the result', async () => {
    const client = await WireClient.login(server.port, 'acme', ACME_KEY);
    client.socket.pause();
    // About 2M rows of several columns: far more than socket buffers hold.
    client.send(message('Q', cstring('SELECT e.*, r.x FROM events e, range(20) r(x)')));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const active = () => server.gateway.engineStats().duckdb?.activeQueries;
    // Still running: the gateway waits for the client to drain what it wrote.
    expect(active()).toBe(1);
    // Without backpressure the gateway (in this process) would go on reading and encoding rows into memory, and
    // spend the CPU to do it; held back, it waits and spends next to none.
    const cpu = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const spent = process.cpuUsage(cpu);
    expect((spent.user + spent.system) / 1000).toBeLessThan(400);
    expect(active()).toBe(1);
    // A client that goes away frees the query.
    client.close();
    const deadline = Date.now() + 5000;
    while (active() !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(active()).toBe(0);
  });

  it('closes a connection idle past its timeout after a query that ran longer than the timeout', async () => {
    const quick = await startPostgresGateway({ postgres: { idleTimeoutSeconds: 1 } });
    try {
      const client = await WireClient.login(quick.port, 'acme', ACME_KEY);
      client.socket.pause();
      client.send(message('Q', cstring('SELECT e.*, r.x FROM events e, range(2) r(x)')));
      // The query runs past the idle timeout, held back by a client that does not read.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      client.socket.resume();
      expect((await client.until('Z')).at(-1)?.type).toBe('Z');
      // Idle from then on: open for the second its timeout gives it, then closed.
      expect(await client.waitClosed(600)).toBe(false);
      expect(await client.waitClosed(5000)).toBe(true);
    } finally {
      await quick.close();
    }
  }, 30_000);

  it('binds a binary parameter and writes binary result columns when Bind asks for them', async () => {
    const client = await WireClient.login(server.port, 'acme', ACME_KEY);
    const sql = 'SELECT id, even, day, ts, amount, name, pair, score FROM events WHERE id = $1';
    const int8 = Buffer.alloc(8);
    int8.writeBigInt64BE(5n);
    const types = Buffer.alloc(6);
    types.writeInt16BE(1, 0);
    types.writeInt32BE(20, 2);
    const bind = Buffer.concat([
      cstring(''),
      cstring(''),
      Buffer.from([0, 1, 0, 1]), // one parameter format: binary
      Buffer.from([0, 1, 0, 0, 0, 8]), // one parameter of 8 bytes
      int8,
      Buffer.from([0, 1, 0, 1]), // one result format: binary for every column
    ]);
    client.send(
      Buffer.concat([
        message('P', Buffer.concat([cstring(''), cstring(sql), types])),
        message('B', bind),
        message('D', Buffer.concat([Buffer.from('P'), cstring('')])),
        message('E', Buffer.concat([cstring(''), Buffer.alloc(4)])),
        message('S', Buffer.alloc(0)),
      ]),
    );
    const replies = await client.until('Z');
    expect(replies.map((r) => r.type)).toEqual(['1', '2', 'T', 'D', 'C', 'Z']);
    const row = replies[3]?.body as Buffer;
    const fields: Buffer[] = [];
    for (let at = 2, i = 0; i < row.readInt16BE(0); i++) {
      const length = row.readInt32BE(at);
      fields.push(row.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    const [id, even, day, ts, amount, name, pair, score] = fields as Buffer[];
    expect(id?.readBigInt64BE(0)).toBe(5n);
    expect(even?.[0]).toBe(0);
    // Days and microseconds since 2000-01-01.
    expect(day?.readInt32BE(0)).toBe(Date.UTC(2024, 0, 6) / 86_400_000 - 10_957);
    expect(ts?.readBigInt64BE(0)).toBe(
      BigInt(Date.UTC(2024, 0, 1, 10, 0, 5) - Date.UTC(2000, 0, 1)) * 1000n + 123_456n,
    );
    // numeric 1.25: one base-10000 digit group before the point (1) and one after (2500), scale 2.
    expect(amount?.toString('hex')).toBe('0002000000000002000109c4');
    expect(name?.toString()).toBe('name-5');
    // int8[] {5,6}: one dimension, no NULL, element type int8, length 2 from 1, then the elements.
    expect(pair?.toString('hex')).toBe(
      `${'00000001'}${'00000000'}${'00000014'}${'00000002'}${'00000001'}${'00000008'}${'0000000000000005'}${'00000008'}${'0000000000000006'}`,
    );
    expect(score?.length).toBeGreaterThan(8);
    client.close();
  });

  it('describes a prepared statement from its plan, without running it', async () => {
    const client = await WireClient.login(server.port, 'acme', ACME_KEY);
    // error() fails the query at the first row it reaches: Describe reaches none, Execute does.
    const sql =
      "SELECT id, CASE WHEN id >= 0 THEN error('the query ran') END AS v FROM events WHERE coalesce(CAST($1 AS VARCHAR), name) = name";
    client.send(
      Buffer.concat([
        message('P', Buffer.concat([cstring('described'), cstring(sql), Buffer.from([0, 0])])),
        message('D', Buffer.concat([Buffer.from('S'), cstring('described')])),
        message('S', Buffer.alloc(0)),
      ]),
    );
    const described = await client.until('Z');
    expect(described.map((r) => r.type)).toEqual(['1', 't', 'T', 'Z']);
    expect(described[2]?.body.toString()).toContain('id');
    const bind = Buffer.concat([
      cstring(''),
      cstring('described'),
      Buffer.from([0, 0, 0, 1, 0, 0, 0, 6]),
      Buffer.from('name-1'),
      Buffer.from([0, 0]),
    ]);
    client.send(
      Buffer.concat([
        message('B', bind),
        message('E', Buffer.concat([cstring(''), Buffer.alloc(4)])),
        message('S', Buffer.alloc(0)),
      ]),
    );
    const executed = await client.until('Z');
    const error = executed.find((r) => r.type === 'E');
    expect(error && errorFields(error).M).toMatch(/the query ran/);
    client.close();
  });
});
