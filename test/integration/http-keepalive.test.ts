import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Keep-alive connections idle as long as `server.keepAliveTimeoutMs` says, not Node's 5 s, which closes a polling
 * dashboard's connection at the moment it sends (ECONNRESET).
 */
describe('HTTP keep-alive', () => {
  let root: string;
  let gateway: RunningGateway;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-keepalive-'));
    const config = parseConfig(
      {
        server: { port: 0, postgres: { enabled: false }, keepAliveTimeoutMs: 1500 },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        tenants: {},
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  });
  afterAll(async () => {
    await gateway?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('keeps an idle connection for server.keepAliveTimeoutMs, then closes it', async () => {
    const { hostname, port } = new URL(gateway.url);
    // A raw connection: an HTTP client's own pool would close it first, by the Keep-Alive hint.
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    let closedAt = 0;
    socket.once('close', () => {
      closedAt = Date.now();
    });
    const get = async () => {
      const before = (received.match(/HTTP\/1\.1 200/g) ?? []).length;
      socket.write(`GET /livez HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
      await expect.poll(() => (received.match(/HTTP\/1\.1 200/g) ?? []).length).toBe(before + 1);
    };
    await get();
    expect(received).toMatch(/keep-alive: timeout=1/i);
    // Idle for 1 s, less than the timeout: the same connection serves the next request.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await get();
    const idleFrom = Date.now();
    await expect.poll(() => closedAt, { timeout: 5000, interval: 50 }).toBeGreaterThan(0);
    // Closed by the gateway once idle for its timeout (not Node's 5 s), not before.
    expect(closedAt - idleFrom).toBeGreaterThanOrEqual(1400);
    expect(closedAt - idleFrom).toBeLessThan(3500);
  });
});
