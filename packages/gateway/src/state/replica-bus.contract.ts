import { strict as assert } from 'node:assert';
import { type ContractTestApi, expectUnavailable, type Opened, sleep, using, waitFor } from './contract-kit.js';
import type { ReplicaBus, ReplicaStatus } from './replica-bus.js';

/** Two replicas' buses over one backend. In memory there is one replica only: both are the same bus. */
export interface ReplicaBusPair {
  readonly local: ReplicaBus;
  readonly remote: ReplicaBus;
}

export interface ReplicaBusHarness {
  /** Two buses over a new, empty backend, each ready to hear cancels. */
  open(): Promise<Opened<ReplicaBusPair>>;
  /** A bus that cannot reach its backend (see `ContractHarness.openUnreachable`). */
  openUnreachable?(): Promise<Opened<ReplicaBus>>;
}

/** Liveness TTL of the tests: long enough for a loaded machine to beat and ask in between, short to wait out. */
const TTL_MS = 1000;

/**
 * The replica bus contract: cancels reach every replica, liveness lapses when heartbeats stop.
 *
 * @example
 * import { describe, it } from 'vitest';
 * const bus = new MemoryReplicaBus();
 * describeReplicaBusContract({ describe, it }, 'memory', { open: async () => ({ subject: { local: bus, remote: bus }, close: async () => {} }) });
 */
export function describeReplicaBusContract(t: ContractTestApi, name: string, harness: ReplicaBusHarness): void {
  const open = () => harness.open();

  t.describe(`replica bus contract: ${name}`, () => {
    t.it('delivers a cancel to every handler of every replica, the publisher’s own included', () =>
      using(open, async ({ local, remote }) => {
        const heard: string[] = [];
        local.onCancel((sessionId, statementId) => heard.push(`local ${sessionId}/${statementId}`));
        remote.onCancel((sessionId, statementId) => heard.push(`remote ${sessionId}/${statementId}`));
        remote.onCancel((sessionId, statementId) => heard.push(`remote again ${sessionId}/${statementId}`));
        await local.publishCancel(12, 3);
        await waitFor(() => heard.length >= 3, 'the cancel on every handler');
        assert.deepEqual(heard.sort(), ['local 12/3', 'remote 12/3', 'remote again 12/3']);

        heard.length = 0;
        await remote.publishCancel(4, 0);
        await waitFor(() => heard.length >= 3, 'the second cancel on every handler');
        assert.deepEqual(heard.sort(), ['local 4/0', 'remote 4/0', 'remote again 4/0']);
      }),
    );

    t.it('delivers a query cancel to every handler of every replica', () =>
      using(open, async ({ local, remote }) => {
        const heard: string[] = [];
        local.onQueryCancel((c) => heard.push(`local ${c.queryId} ${c.tenant} ${c.by}`));
        remote.onQueryCancel((c) => heard.push(`remote ${c.queryId} ${c.tenant} ${c.by}`));
        await remote.publishQueryCancel({ queryId: 'q-1', tenant: 'acme', by: 'its tenant' });
        await local.publishQueryCancel({ queryId: 'q-2', tenant: undefined, by: 'an operator' });
        await waitFor(() => heard.length >= 4, 'both cancels on every handler');
        assert.deepEqual(heard.sort(), [
          'local q-1 acme its tenant',
          'local q-2 undefined an operator',
          'remote q-1 acme its tenant',
          'remote q-2 undefined an operator',
        ]);
      }),
    );

    t.it('lists the replicas alive with the status of their last beat, until it lapses', () =>
      using(open, async ({ local, remote }) => {
        const status = (id: string, activeQueries: number): ReplicaStatus => ({
          id,
          startedAt: 1,
          beatAt: Date.now(),
          configVersion: 'test',
          draining: false,
          statements: { running: 0, waiting: 0 },
          running: [],
          activeQueries,
        });
        assert.deepEqual(await remote.replicas(), []);
        await local.heartbeat('replica-b', TTL_MS, status('replica-b', 1));
        await local.heartbeat('replica-a', TTL_MS, status('replica-a', 2));
        await local.heartbeat('replica-a', TTL_MS, status('replica-a', 3));
        await local.heartbeat('replica-c', TTL_MS);
        const seen = await remote.replicas();
        assert.deepEqual(
          seen.map((r) => [r.id, r.activeQueries]),
          [
            ['replica-a', 3],
            ['replica-b', 1],
          ],
          'by id, each with its newest status; one beating without a status is not listed',
        );
        await sleep(TTL_MS / 2);
        await local.heartbeat('replica-a', TTL_MS, status('replica-a', 4));
        await sleep(TTL_MS / 2 + 200);
        assert.deepEqual(
          (await remote.replicas()).map((r) => r.id),
          ['replica-a'],
          'replica-b stopped beating',
        );
      }),
    );

    t.it('sees a replica alive after its heartbeat, from any replica, until the TTL lapses', () =>
      using(open, async ({ local, remote }) => {
        assert.equal(await remote.isAlive('replica-a'), false, 'never seen');
        await local.heartbeat('replica-a', TTL_MS);
        assert.equal(await local.isAlive('replica-a'), true);
        assert.equal(await remote.isAlive('replica-a'), true);
        assert.equal(await remote.isAlive('replica-b'), false);
        await sleep(TTL_MS + 200);
        assert.equal(await remote.isAlive('replica-a'), false, 'lapsed');
      }),
    );

    t.it('keeps a replica alive while it beats within the TTL', () =>
      using(open, async ({ local, remote }) => {
        await local.heartbeat('replica-a', TTL_MS);
        for (let beat = 0; beat < 3; beat++) {
          await sleep(TTL_MS / 2);
          await local.heartbeat('replica-a', TTL_MS);
        }
        // Three halves of the TTL have passed since the first beat: only the later beats keep it alive.
        assert.equal(await remote.isAlive('replica-a'), true);
      }),
    );

    const { openUnreachable } = harness;
    if (openUnreachable) {
      t.it('fails every call at once with STATE_UNAVAILABLE while its backend is unreachable', () =>
        using(openUnreachable, async (bus) => {
          // `onCancel` and `onQueryCancel` only register a handler: they have nothing to fail.
          const calls: Record<Exclude<keyof ReplicaBus, 'onCancel' | 'onQueryCancel'>, () => Promise<unknown>> = {
            publishCancel: () => bus.publishCancel(1, 0),
            publishQueryCancel: () => bus.publishQueryCancel({ queryId: 'q', tenant: 't', by: 'a test' }),
            replicas: () => bus.replicas(),
            heartbeat: () => bus.heartbeat('replica-a', TTL_MS),
            isAlive: () => bus.isAlive('replica-a'),
          };
          for (const [method, call] of Object.entries(calls)) await expectUnavailable(method, call);
        }),
      );
    }
  });
}
