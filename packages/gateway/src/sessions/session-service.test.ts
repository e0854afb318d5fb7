import { createReferenceEngine } from '@lakegate/engine-api';
import { createFileBlobStore, createStorage } from '@lakegate/storage';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/config.js';
import { EngineRegistry } from '../engines/engine-registry.js';
import { ManagedEngine } from '../engines/managed-engine.js';
import { storageOptions } from '../gateway.js';
import { silentLogger } from '../logging/logger.js';
import { QueryLifecycle } from '../query/query-lifecycle.js';
import { MemoryReplicaBus } from '../state/memory-replica-bus.js';
import { MemorySessionStore } from '../state/memory-session-store.js';
import { statementRecord } from '../state/session-store.contract.js';
import { SessionService } from './session-service.js';

async function service(replicaId: string, store = new MemorySessionStore(), bus = new MemoryReplicaBus()) {
  const config = parseConfig({ tenants: { acme: { apiKeys: ['acme-key-1'], datasets: {} } } }, { baseDir: '/tmp' });
  const storage = await createStorage(storageOptions(config));
  const engines = EngineRegistry.of([
    new ManagedEngine(createReferenceEngine({ datasets: {} }), { maxConcurrent: 1, maxQueued: 1 }),
  ]);
  const queries = new QueryLifecycle({ config, storage, engines, typeName: (type) => type.sqlType });
  return {
    store,
    bus,
    sessions: new SessionService({
      store,
      bus,
      results: createFileBlobStore('/tmp/lakegate-unused'),
      queries,
      config,
      logger: silentLogger,
      replicaId,
    }),
  };
}

describe('session service reaping', () => {
  it('ends statements whose replica stopped, once its heartbeat is gone, and leaves live replicas alone', async () => {
    const { store, bus, sessions } = await service('survivor');
    const session = await sessions.create('acme', { kind: 'sql' });
    await store.putStatement(statementRecord(session.id, 0, 'running', 'ghost'));
    await store.putStatement(statementRecord(session.id, 1, 'running', 'alive'));
    await bus.heartbeat('alive', 60_000);
    await sessions.reap();
    expect(await store.getStatement(session.id, 0)).toMatchObject({
      state: 'error',
      output: {
        ename: 'ENGINE_FAILURE',
        evalue: 'The gateway running this statement (ghost) stopped before it finished.',
      },
    });
    expect((await store.getStatement(session.id, 1))?.state).toBe('running');
  });

  it('judges no other replica dead until a replica TTL after its own heartbeat could not be written', async () => {
    class UnreachableBus extends MemoryReplicaBus {
      override heartbeat(): Promise<void> {
        return Promise.reject(new Error('store unreachable'));
      }
    }
    const { store, sessions } = await service('survivor', new MemorySessionStore(), new UnreachableBus());
    await sessions.start();
    try {
      const session = await sessions.create('acme', { kind: 'sql' });
      await store.putStatement(statementRecord(session.id, 0, 'running', 'quiet'));
      await sessions.reap();
      expect((await store.getStatement(session.id, 0))?.state).toBe('running');
      await sessions.reap(Date.now() + 10_001);
      expect((await store.getStatement(session.id, 0))?.state).toBe('error');
    } finally {
      await sessions.close();
    }
  });

  it('refuses an idle timeout or a TTL past what a session may last, before storing anything', async () => {
    const { store, sessions } = await service('me');
    for (const body of [{ idleTimeout: '300000000000d' }, { ttl: '366d' }])
      await expect(sessions.create('acme', { kind: 'sql', ...body })).rejects.toMatchObject({
        code: 'INVALID_REQUEST',
        message: expect.stringContaining('365 days'),
      });
    expect(await store.countSessions('acme')).toBe(0);
    expect((await sessions.create('acme', { kind: 'sql', idleTimeout: '365d' })).id).toBeGreaterThanOrEqual(0);
  });

  it('ends sessions past their TTL even while busy, and idle ones past their idle timeout', async () => {
    const { store, bus, sessions } = await service('me');
    const ttl = await sessions.create('acme', { kind: 'sql', ttl: '1s', idleTimeout: '1h' });
    const idle = await sessions.create('acme', { kind: 'sql', idleTimeout: '2s' });
    const busy = await sessions.create('acme', { kind: 'sql', idleTimeout: '2s' });
    await store.putStatement({
      sessionId: busy.id,
      id: 0,
      code: 'x',
      state: 'running',
      output: null,
      progress: 0,
      started: 1,
      completed: 0,
      submitted: 1,
      runner: 'other',
      result: null,
    });
    await bus.heartbeat('other', 60_000);
    await sessions.reap(Date.now() + 1500);
    expect(await store.getSession(ttl.id)).toBeUndefined();
    expect(await store.getSession(idle.id)).toBeDefined();
    await sessions.reap(Date.now() + 2500);
    expect(await store.getSession(idle.id)).toBeUndefined();
    expect(await store.getSession(busy.id)).toBeDefined();
  });
});
