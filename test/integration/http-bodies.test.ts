import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const KEY = 'bodies-key-1234';

/**
 * A query's body however it arrives: whole with its headers, in pieces, chunked, or pipelined behind another
 * request on the same connection. Raw sockets, since HTTP clients choose the framing.
 */
describe('HTTP request bodies', () => {
  let root: string;
  let gateway: RunningGateway;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-bodies-'));
    const config = parseConfig(
      {
        server: { port: 0, postgres: { enabled: false } },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        tenants: { acme: { apiKeys: [KEY] } },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  });
  afterAll(async () => {
    await gateway?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** Writes `parts` with `pauseMs` between them on one connection, and reads until the gateway closes it. */
  async function exchange(parts: readonly string[], pauseMs = 0): Promise<string> {
    const { hostname, port } = new URL(gateway.url);
    const socket = connect({ host: hostname, port: Number(port), noDelay: true });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    const closed = new Promise<void>((resolve, reject) => {
      socket.once('close', () => resolve());
      socket.once('error', reject);
    });
    for (const [i, part] of parts.entries()) {
      if (i > 0 && pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      socket.write(part);
    }
    await closed;
    return received;
  }

  const head = (length: number | 'chunked', connection = 'close') =>
    `POST /v1/query HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n` +
    `${length === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`}\r\nConnection: ${connection}\r\n\r\n`;
  const body = (answer: number) => JSON.stringify({ sql: `SELECT ${answer} AS answer` });
  const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);

  it('answers a body sent whole with its headers', async () => {
    const text = await exchange([head(body(42).length) + body(42)]);
    expect(statuses(text)).toEqual(['200']);
    expect(text).toContain('"rows":[[42]]');
  });

  it('waits for the rest of a body whose first bytes came with its headers', async () => {
    const whole = body(43);
    const text = await exchange([head(whole.length) + whole.slice(0, 10), whole.slice(10, 20), whole.slice(20)], 50);
    expect(statuses(text)).toEqual(['200']);
    expect(text).toContain('"rows":[[43]]');
  });

  it('reads a chunked body', async () => {
    const whole = body(44);
    const chunk = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n`;
    const text = await exchange([head('chunked'), chunk(whole.slice(0, 7)), `${chunk(whole.slice(7))}0\r\n\r\n`], 20);
    expect(statuses(text)).toEqual(['200']);
    expect(text).toContain('"rows":[[44]]');
  });

  it('keeps two pipelined requests apart', async () => {
    const text = await exchange([head(body(45).length, 'keep-alive') + body(45) + head(body(46).length) + body(46)]);
    expect(statuses(text)).toEqual(['200', '200']);
    expect(text.indexOf('"rows":[[45]]')).toBeGreaterThan(-1);
    expect(text.indexOf('"rows":[[46]]')).toBeGreaterThan(text.indexOf('"rows":[[45]]'));
  });

  it('refuses a body that is not JSON with INVALID_REQUEST', async () => {
    const text = await exchange([`${head(9)}{"sql": 1`]);
    expect(statuses(text)).toEqual(['400']);
    expect(text).toContain('INVALID_REQUEST');
    expect(text).toContain('not valid JSON');
  });
});
