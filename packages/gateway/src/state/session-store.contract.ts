import { strict as assert } from 'node:assert';
import { type ContractHarness, type ContractTestApi, expectUnavailable, using } from './contract-kit.js';
import type { SessionRecord, StatementRecord, StatementState } from './session-records.js';
import type { SessionStore } from './session-store.js';

const HOUR = 3_600_000;

/** A session record with Livy's defaults, as the contract suites and store tests write them. */
export function sessionRecord(id: number, tenant: string): SessionRecord {
  return {
    id,
    tenant,
    name: null,
    proxyUser: null,
    kind: 'sql',
    engine: null,
    conf: {},
    ttl: null,
    idleTimeout: '1h',
    ttlMs: null,
    idleTimeoutMs: HOUR,
    state: 'idle',
    createdAt: 1,
    lastActivity: 1,
  };
}

/** A statement record in `state`, run by `runner`. */
export function statementRecord(
  sessionId: number,
  id: number,
  state: StatementState,
  runner = 'replica-a',
): StatementRecord {
  return {
    sessionId,
    id,
    code: `SELECT ${id}`,
    state,
    output: null,
    progress: 0,
    started: 0,
    completed: 0,
    submitted: 1,
    runner,
    result: null,
  };
}

/**
 * The session store contract: what the session service relies on, for every implementation.
 *
 * @example
 * import { describe, it } from 'vitest';
 * describeSessionStoreContract({ describe, it }, 'memory', { open: async () => ({ subject: new MemorySessionStore(), close: async () => {} }) });
 */
export function describeSessionStoreContract(
  t: ContractTestApi,
  name: string,
  harness: ContractHarness<SessionStore>,
): void {
  const open = () => harness.open();

  t.describe(`session store contract: ${name}`, () => {
    t.it('hands out unique, increasing session ids, also to concurrent callers', () =>
      using(open, async (store) => {
        const first = await store.nextSessionId();
        assert.equal(first, 0, 'a new store numbers sessions from 0, as Livy does');
        const second = await store.nextSessionId();
        assert.ok(second > first, `${second} follows ${first}`);
        const concurrent = await Promise.all(Array.from({ length: 20 }, () => store.nextSessionId()));
        assert.equal(new Set(concurrent).size, 20, 'concurrent ids are distinct');
        assert.ok(Math.min(...concurrent) > second, 'later ids are greater');
      }),
    );

    t.it('numbers statements 0, 1, 2, ... in each session on its own', () =>
      using(open, async (store) => {
        assert.deepEqual([await store.nextStatementId(7), await store.nextStatementId(7)], [0, 1]);
        assert.equal(await store.nextStatementId(8), 0);
        assert.equal(await store.nextStatementId(7), 2);
      }),
    );

    t.it('stores, reads, lists by tenant in id order with paging, and counts sessions', () =>
      using(open, async (store) => {
        const far = Date.now() + HOUR;
        for (const id of [3, 1, 2, 5]) await store.putSession(sessionRecord(id, 'acme'), far);
        await store.putSession(sessionRecord(4, 'globex'), far);
        assert.deepEqual(await store.getSession(3), sessionRecord(3, 'acme'));
        assert.equal(await store.getSession(99), undefined);

        const all = await store.listSessions('acme', 0, 10);
        assert.equal(all.total, 4);
        assert.deepEqual(
          all.items.map((s) => s.id),
          [1, 2, 3, 5],
        );
        const second = await store.listSessions('acme', 1, 2);
        assert.equal(second.total, 4);
        assert.deepEqual(
          second.items.map((s) => s.id),
          [2, 3],
        );
        assert.deepEqual(await store.listSessions('acme', 2, 0), { total: 4, items: [] });
        assert.deepEqual((await store.listSessions('acme', 10, 5)).items, []);
        assert.equal(await store.countSessions('acme'), 4);
        assert.equal(await store.countSessions('globex'), 1);
        assert.equal(await store.countSessions('initech'), 0);

        const renamed = { ...sessionRecord(3, 'acme'), name: 'renamed' };
        await store.putSession(renamed, far);
        assert.equal((await store.getSession(3))?.name, 'renamed');
        assert.equal(await store.countSessions('acme'), 4, 'storing a session again does not add one');
      }),
    );

    t.it('returns the sessions whose deadline has passed, and no longer once it is moved', () =>
      using(open, async (store) => {
        const now = Date.now();
        await store.putSession(sessionRecord(1, 'acme'), now - 1000);
        await store.putSession(sessionRecord(2, 'acme'), now + HOUR);
        await store.putSession(sessionRecord(3, 'globex'), now);
        assert.deepEqual((await store.expiredSessions(now)).sort(), [1, 3]);
        assert.deepEqual((await store.expiredSessions(now + HOUR)).sort(), [1, 2, 3]);
        await store.putSession(sessionRecord(1, 'acme'), now + 2 * HOUR);
        assert.deepEqual((await store.expiredSessions(now)).sort(), [3]);
      }),
    );

    t.it('stores statements and lists them in id order with paging', () =>
      using(open, async (store) => {
        await store.putSession(sessionRecord(1, 'acme'), Date.now() + HOUR);
        for (const id of [2, 0, 1]) await store.putStatement(statementRecord(1, id, 'available'));
        await store.putStatement(statementRecord(2, 0, 'available'));
        assert.deepEqual(await store.getStatement(1, 2), statementRecord(1, 2, 'available'));
        assert.equal(await store.getStatement(1, 3), undefined);
        assert.equal(await store.getStatement(3, 0), undefined);

        const page = await store.listStatements(1, 1, 5);
        assert.equal(page.total, 3);
        assert.deepEqual(
          page.items.map((s) => s.id),
          [1, 2],
        );
        assert.deepEqual(await store.listStatements(1, 0, 0), { total: 3, items: [] });

        const updated = { ...statementRecord(1, 1, 'available'), progress: 1 };
        await store.putStatement(updated);
        assert.deepEqual(await store.getStatement(1, 1), updated);
        assert.equal((await store.listStatements(1, 0, 10)).total, 3, 'storing a statement again does not add one');
      }),
    );

    t.it('stores progress only while a statement runs', () =>
      using(open, async (store) => {
        await store.putSession(sessionRecord(1, 'acme'), Date.now() + HOUR);
        await store.putStatement(statementRecord(1, 0, 'running'));
        assert.equal(await store.setProgress(1, 0, 0.25), true);
        assert.deepEqual(await store.getStatement(1, 0), { ...statementRecord(1, 0, 'running'), progress: 0.25 });
        for (const state of ['cancelling', 'available'] as const) {
          await store.putStatement(statementRecord(1, 0, state));
          assert.equal(await store.setProgress(1, 0, 0.5), false, `no progress over ${state}`);
          assert.deepEqual(await store.getStatement(1, 0), statementRecord(1, 0, state));
        }
        assert.equal(await store.setProgress(1, 9, 0.5), false, 'no statement, no progress');
        assert.equal(await store.getStatement(1, 9), undefined);
      }),
    );

    t.it('updates a session only while it is stored: a deleted one stays deleted', () =>
      using(open, async (store) => {
        const session = sessionRecord(1, 'acme');
        await store.putSession(session, Date.now() + HOUR);
        const used = { ...session, lastActivity: 99 };
        assert.equal(await store.updateSession(used, Date.now() + HOUR), true);
        assert.deepEqual(await store.getSession(1), used);
        await store.deleteSession(session);
        assert.equal(await store.updateSession(used, Date.now() + HOUR), false);
        assert.equal(await store.getSession(1), undefined);
        assert.equal(await store.countSessions('acme'), 0);
        assert.deepEqual(await store.expiredSessions(Date.now() + 2 * HOUR), []);
      }),
    );

    t.it('marks a statement cancelling only while it runs, never over its end', () =>
      using(open, async (store) => {
        await store.putSession(sessionRecord(1, 'acme'), Date.now() + HOUR);
        await store.putStatement(statementRecord(1, 0, 'running'));
        assert.equal(await store.markCancelling(1, 0), true);
        assert.equal((await store.getStatement(1, 0))?.state, 'cancelling');
        assert.equal(await store.runningStatements(1), 1, 'a cancelling statement still runs');
        // An end stored before the cancel: the end and its result stay.
        const ended = { ...statementRecord(1, 0, 'available'), progress: 1, completed: 5 };
        await store.putStatement(ended);
        assert.equal(await store.markCancelling(1, 0), false);
        assert.deepEqual(await store.getStatement(1, 0), ended);
        assert.equal(await store.markCancelling(1, 9), false, 'no statement, nothing to cancel');
      }),
    );

    t.it('tracks unfinished statements with their runner, and running ones per session', () =>
      using(open, async (store) => {
        await store.putSession(sessionRecord(1, 'acme'), Date.now() + HOUR);
        await store.putStatement(statementRecord(1, 0, 'waiting', 'replica-a'));
        await store.putStatement(statementRecord(1, 1, 'running', 'replica-b'));
        await store.putStatement(statementRecord(2, 0, 'available', 'replica-a'));
        const unfinished = (await store.unfinishedStatements()).sort((a, b) => a.id - b.id);
        assert.deepEqual(unfinished, [
          { sessionId: 1, id: 0, runner: 'replica-a' },
          { sessionId: 1, id: 1, runner: 'replica-b' },
        ]);
        assert.equal(await store.runningStatements(1), 1);
        assert.equal(await store.runningStatements(2), 0);

        await store.putStatement(statementRecord(1, 0, 'running', 'replica-a'));
        await store.putStatement(statementRecord(1, 1, 'cancelling', 'replica-b'));
        assert.equal(await store.runningStatements(1), 2, 'a cancelling statement still runs');

        await store.putStatement(statementRecord(1, 0, 'error', 'replica-a'));
        await store.putStatement(statementRecord(1, 1, 'cancelled', 'replica-b'));
        assert.equal(await store.runningStatements(1), 0);
        assert.deepEqual(await store.unfinishedStatements(), []);
      }),
    );

    t.it('appends log lines in order, pages them, and returns the tail', () =>
      using(open, async (store) => {
        await store.appendLog(1, ['a', 'b']);
        await store.appendLog(1, []);
        await store.appendLog(1, ['c', 'd', 'e']);
        await store.appendLog(2, ['other']);
        assert.deepEqual(await store.getLog(1, 0, 10), { total: 5, items: ['a', 'b', 'c', 'd', 'e'] });
        assert.deepEqual(await store.getLog(1, 1, 2), { total: 5, items: ['b', 'c'] });
        assert.deepEqual(await store.getLog(1, 3, 0), { total: 5, items: [] });
        assert.deepEqual(await store.getLog(3, 0, 10), { total: 0, items: [] });
        assert.deepEqual(await store.logTail(1, 2), ['d', 'e']);
        assert.deepEqual(await store.logTail(1, 0), []);
        assert.deepEqual(await store.logTail(2, 10), ['other']);
      }),
    );

    t.it('keeps result pages per statement, a second put replacing the first', () =>
      using(open, async (store) => {
        await store.putSession(sessionRecord(1, 'acme'), Date.now() + HOUR);
        await store.putResultPages(1, 0, ['[[1]]', '[[2]]']);
        await store.putResultPages(1, 1, ['[[9]]']);
        assert.equal(await store.getResultPage(1, 0, 1), '[[2]]');
        assert.equal(await store.getResultPage(1, 0, 2), undefined);
        assert.equal(await store.getResultPage(1, 1, 0), '[[9]]');
        assert.equal(await store.getResultPage(1, 2, 0), undefined);
        await store.putResultPages(1, 0, ['[[3]]']);
        assert.deepEqual(
          [await store.getResultPage(1, 0, 0), await store.getResultPage(1, 0, 1)],
          ['[[3]]', undefined],
        );
        await store.putResultPages(1, 1, []);
        assert.equal(await store.getResultPage(1, 1, 0), undefined);
      }),
    );

    t.it('deletes a session with its statements, log and results, and nothing of another', () =>
      using(open, async (store) => {
        const now = Date.now();
        for (const id of [1, 2]) {
          await store.putSession(sessionRecord(id, 'acme'), now - 1);
          await store.putStatement(statementRecord(id, 0, 'available'));
          await store.putStatement(statementRecord(id, 1, 'running'));
          await store.appendLog(id, [`line of ${id}`]);
          await store.putResultPages(id, 0, [`[[${id}]]`]);
        }
        await store.deleteSession(sessionRecord(1, 'acme'));

        assert.equal(await store.getSession(1), undefined);
        assert.equal(await store.getStatement(1, 0), undefined);
        assert.equal((await store.listStatements(1, 0, 10)).total, 0);
        assert.equal(await store.runningStatements(1), 0);
        assert.equal((await store.getLog(1, 0, 10)).total, 0);
        assert.equal(await store.getResultPage(1, 0, 0), undefined);
        assert.deepEqual(await store.listSessions('acme', 0, 10), { total: 1, items: [sessionRecord(2, 'acme')] });
        assert.deepEqual(await store.expiredSessions(now), [2]);
        assert.deepEqual(await store.unfinishedStatements(), [{ sessionId: 2, id: 1, runner: 'replica-a' }]);

        assert.equal((await store.getStatement(2, 0))?.state, 'available');
        assert.deepEqual(await store.logTail(2, 1), ['line of 2']);
        assert.equal(await store.getResultPage(2, 0, 0), '[[2]]');
      }),
    );

    const { openUnreachable } = harness;
    if (openUnreachable) {
      t.it('fails every call at once with STATE_UNAVAILABLE while its backend is unreachable', () =>
        using(openUnreachable, async (store) => {
          const session = sessionRecord(1, 'acme');
          const calls: Record<keyof SessionStore, () => Promise<unknown>> = {
            nextSessionId: () => store.nextSessionId(),
            putSession: () => store.putSession(session, Date.now()),
            getSession: () => store.getSession(1),
            deleteSession: () => store.deleteSession(session),
            listSessions: () => store.listSessions('acme', 0, 10),
            countSessions: () => store.countSessions('acme'),
            expiredSessions: () => store.expiredSessions(Date.now()),
            nextStatementId: () => store.nextStatementId(1),
            putStatement: () => store.putStatement(statementRecord(1, 0, 'waiting')),
            setProgress: () => store.setProgress(1, 0, 0.5),
            markCancelling: () => store.markCancelling(1, 0),
            updateSession: () => store.updateSession(session, Date.now()),
            getStatement: () => store.getStatement(1, 0),
            listStatements: () => store.listStatements(1, 0, 10),
            unfinishedStatements: () => store.unfinishedStatements(),
            runningStatements: () => store.runningStatements(1),
            appendLog: () => store.appendLog(1, ['line']),
            getLog: () => store.getLog(1, 0, 10),
            logTail: () => store.logTail(1, 5),
            putResultPages: () => store.putResultPages(1, 0, ['[]']),
            getResultPage: () => store.getResultPage(1, 0, 0),
          };
          for (const [method, call] of Object.entries(calls)) await expectUnavailable(method, call);
        }),
      );
    }
  });
}
