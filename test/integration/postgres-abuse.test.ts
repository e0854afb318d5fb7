import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, type PostgresGateway, startPostgresGateway } from '../support/postgres-gateway.js';
import { cstring, errorFields, message, WireClient } from '../support/postgres-wire.js';

/**
 * Protocol-level abuse of the Postgres front end: whatever a client sends, it gets an ErrorResponse (and for a
 * broken frame, a closed connection), never a crash, and the server goes on serving everyone else.
 */
describe('Postgres protocol: abuse', () => {
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
});
