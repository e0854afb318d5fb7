import { hostname } from 'node:os';
import { type ColumnType, isLakegateError, LakegateError, type Schema, Slots } from '@lakegate/engine-api';
import type { BlobStore } from '@lakegate/storage';
import type { GatewayConfig } from '../config/config.js';
import { LONGEST_SESSION_MS, parseDuration } from '../config/duration.js';
import { presentError } from '../errors/error-presenter.js';
import type { Logger } from '../logging/logger.js';
import { jsonValueEncoder } from '../query/encode-values.js';
import type { ActiveQuery, QueryEnd, QueryInput, QueryLifecycle } from '../query/query-lifecycle.js';
import { RowReader } from '../query/row-reader.js';
import type { ReplicaBus, ReplicaStatus } from '../state/replica-bus.js';
import {
  FINAL_STATEMENT_STATES,
  type ResultInfo,
  type SessionRecord,
  type StatementOutput,
  type StatementRecord,
} from '../state/session-records.js';
import type { Page, SessionStore } from '../state/session-store.js';
import { sparkType } from './livy-output.js';

export interface CreateSessionInput {
  readonly kind?: string | undefined;
  readonly name?: string | undefined;
  readonly proxyUser?: string | undefined;
  readonly engine?: string | undefined;
  readonly conf?: Readonly<Record<string, string>> | undefined;
  readonly ttl?: string | number | undefined;
  readonly idleTimeout?: string | number | undefined;
}

export interface SessionServiceOptions {
  /** Sessions, statements, logs and small results. */
  readonly store: SessionStore;
  /** Heartbeats, and cancels to the replica running a statement. */
  readonly bus: ReplicaBus;
  readonly results: BlobStore;
  readonly queries: QueryLifecycle;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  /** This replica's stable name; default `<hostname>:<port>`. */
  readonly replicaId: string;
  /** What this replica tells the others with each heartbeat, for operators (see `ReplicaBus.replicas`). */
  readonly status?: (() => ReplicaStatus) | undefined;
  /** Told of every statement this replica ends, with its final state and time from submission. */
  readonly onStatementEnd?: (tenant: string, state: 'available' | 'error' | 'cancelled', seconds: number) => void;
}
/** Statements on this replica by tenant, for metrics. */
export type LocalStatementCounts = Record<string, { waiting: number; running: number }>;

export interface ResultPage {
  readonly offset: number;
  readonly total: number;
  readonly truncated: boolean;
  readonly columns: ResultInfo['columns'];
  readonly rows: readonly (readonly unknown[])[];
}

const PAGE_ROWS = 1000;
/** How often a running statement's progress is read from its engine and stored. */
const PROGRESS_INTERVAL_MS = 1000;
const HEARTBEAT_MS = 2000;
const REPLICA_TTL_MS = 10_000;
const ORDER_POLL_MS = 50;
/**
 * How long a statement that has ended keeps trying to record its end while the session store is unreachable (its
 * result waits in memory meanwhile). A Redis restart takes seconds, a failover or a network partition minutes;
 * giving up would lose a finished result and leave the statement for the reaper to end as if its replica had died.
 * A draining gateway stops trying at once.
 */
const RECORD_RETRY_MS = 600_000;
const RECORD_RETRY_STEP_MS = 250;

const isStateUnavailable = (error: unknown): boolean => isLakegateError(error) && error.code === 'STATE_UNAVAILABLE';

const notFound = (what: string): LakegateError => new LakegateError('NOT_FOUND', `${what} does not exist.`);
const statementKey = (sessionId: number, id: number): string => `${sessionId}:${id}`;

/** A replica's default name: stable across restarts of the same gateway on the same host and port. */
export function defaultReplicaId(port: number): string {
  return `${hostname()}:${port}`;
}

/** First-come, first-served slots, per tenant, for statements running on this replica. */
class TenantSlots {
  readonly #capacity: number;
  readonly #slots = new Map<string, Slots>();

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  #of(tenant: string): Slots {
    let slots = this.#slots.get(tenant);
    if (!slots) {
      slots = new Slots(this.#capacity);
      this.#slots.set(tenant, slots);
    }
    return slots;
  }

  /** Resolves once the tenant has a slot: true when it had to wait for one. */
  async acquire(tenant: string, signal: AbortSignal): Promise<boolean> {
    const slots = this.#of(tenant);
    const waits = slots.used >= this.#capacity || slots.waiting > 0;
    await slots.acquire(signal);
    return waits;
  }

  release(tenant: string): void {
    this.#of(tenant).release();
  }
}

/**
 * Livy-style sessions and statements. All state is in the session store, so any replica answers for any session;
 * a statement runs on the replica that accepted it, one at a time per session and in order, and a cancel sent to
 * any replica reaches the one running it. A replica that dies leaves its statements to the others, who end them
 * as `error` once its heartbeat stops; one that restarts ends its own at once.
 */
export class SessionService {
  readonly #o: SessionServiceOptions;
  /** Statements accepted by this replica and not yet ended: how to cancel them, and for metrics, whose and where. */
  readonly #running = new Map<string, { controller: AbortController; tenant: string; started: boolean }>();
  readonly #slots: TenantSlots;
  readonly #timers: NodeJS.Timeout[] = [];
  #closed = false;
  /** Set by close(): retries of the session store stop. */
  #stopped = false;
  /**
   * When a heartbeat last failed. For a replica TTL after the session store comes back, no other replica is judged
   * dead: theirs could not be written either while it was away.
   */
  #stateFailedAt = Number.NEGATIVE_INFINITY;

  constructor(options: SessionServiceOptions) {
    this.#o = options;
    this.#slots = new TenantSlots(options.config.sessions.maxConcurrentStatementsPerTenant);
    options.bus.onCancel((sessionId, statementId) => this.#localCancel(sessionId, statementId));
  }

  get replicaId(): string {
    return this.#o.replicaId;
  }

  /** Starts heartbeats and the reaper, and ends the statements this replica was running before a restart. */
  async start(): Promise<void> {
    const beat = (): void =>
      void this.#o.bus.heartbeat(this.#o.replicaId, REPLICA_TTL_MS, this.#o.status?.()).catch(() => {
        this.#stateFailedAt = Date.now();
      });
    beat();
    this.#timers.push(setInterval(beat, HEARTBEAT_MS));
    const reapMs = this.#o.config.sessions.reapIntervalSeconds * 1000;
    this.#timers.push(setInterval(() => void this.reap().catch(() => undefined), reapMs));
    for (const timer of this.#timers) timer.unref();
    await this.reap().catch((error: unknown) => this.#o.logger.warn('sessions.recovery_deferred', { error }));
  }

  /** Statements waiting and running on this replica, by tenant. */
  localStatements(): LocalStatementCounts {
    const counts: LocalStatementCounts = {};
    for (const { tenant, started } of this.#running.values()) {
      counts[tenant] ??= { waiting: 0, running: 0 };
      const figures = counts[tenant];
      if (started) figures.running++;
      else figures.waiting++;
    }
    return counts;
  }

  /** Open sessions of a tenant, across replicas (from the session store). */
  async countSessions(tenant: string): Promise<number> {
    return this.#o.store.countSessions(tenant);
  }

  /**
   * Stops taking statements (SHUTTING_DOWN) and lets this replica's statements finish for up to `graceMs`; those
   * still waiting or running then end in `error` with SHUTTING_DOWN, saying to submit them again: their sessions
   * live in the shared store, so another replica serves them.
   */
  async drain(graceMs: number): Promise<void> {
    this.#closed = true;
    const deadline = Date.now() + graceMs;
    while (this.#running.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const reason = new LakegateError(
      'SHUTTING_DOWN',
      'The gateway running this statement shut down before it finished: submit it again, another replica will run it.',
    );
    for (const { controller } of this.#running.values()) controller.abort(reason);
    const settled = Date.now() + 2000;
    while (this.#running.size > 0 && Date.now() < settled) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    const reason = new LakegateError('SHUTTING_DOWN', 'The gateway is shutting down.');
    for (const { controller } of this.#running.values()) controller.abort(reason);
  }

  // Sessions

  async create(tenant: string, input: CreateSessionInput): Promise<SessionRecord> {
    const { sessions } = this.#o.config;
    if (input.kind !== undefined && input.kind !== 'sql') {
      throw new LakegateError(
        'INVALID_REQUEST',
        `Session kind "${input.kind}" is not available: Lakegate sessions are "sql".`,
      );
    }
    if (input.engine !== undefined && !this.#o.queries.engineIds().includes(input.engine))
      this.#unknownEngine(input.engine);
    const ttlMs = input.ttl === undefined ? null : this.#duration('ttl', input.ttl);
    const idleTimeout = input.idleTimeout ?? sessions.defaultIdleTimeout;
    const idleTimeoutMs = this.#duration('idleTimeout', idleTimeout);
    if ((await this.#o.store.countSessions(tenant)) >= sessions.maxSessionsPerTenant) {
      throw new LakegateError(
        'RATE_LIMITED',
        `You have ${sessions.maxSessionsPerTenant} sessions, the most allowed: delete one (DELETE /sessions/{id}) or let one expire.`,
        { retryAfterSeconds: 60 },
      );
    }
    const now = Date.now();
    const session: SessionRecord = {
      id: await this.#o.store.nextSessionId(),
      tenant,
      name: input.name ?? null,
      proxyUser: input.proxyUser ?? null,
      kind: 'sql',
      engine: input.engine ?? null,
      conf: input.conf ?? {},
      ttl: input.ttl === undefined ? null : String(input.ttl),
      idleTimeout: String(idleTimeout),
      ttlMs,
      idleTimeoutMs,
      state: 'idle',
      createdAt: now,
      lastActivity: now,
    };
    await this.#put(session);
    await this.#o.store.appendLog(session.id, [
      `${new Date(now).toISOString()} session ${session.id} created on ${this.#o.replicaId}`,
    ]);
    return session;
  }

  list(tenant: string, from: number, size: number): Promise<Page<SessionRecord>> {
    return this.#o.store.listSessions(tenant, from, size);
  }

  /**
   * The caller's session; another tenant's is "not found", never "forbidden". `busy` is not stored: a session
   * is busy while one of its statements runs, wherever.
   */
  async get(tenant: string, id: number): Promise<SessionRecord> {
    const session = await this.#owned(tenant, id);
    if (session.state === 'idle' && (await this.#o.store.runningStatements(id)) > 0)
      return { ...session, state: 'busy' };
    return session;
  }

  /** The caller's session as stored (`idle` even while busy): for checks that need no more. */
  async #owned(tenant: string, id: number): Promise<SessionRecord> {
    const session = Number.isSafeInteger(id) ? await this.#o.store.getSession(id) : undefined;
    if (!session || session.tenant !== tenant) throw notFound(`Session ${id}`);
    return session;
  }

  log(session: SessionRecord, from: number, size: number): Promise<Page<string>> {
    return this.#o.store.getLog(session.id, from, size);
  }

  logTail(session: SessionRecord, count: number): Promise<string[]> {
    return this.#o.store.logTail(session.id, count);
  }

  async delete(tenant: string, id: number): Promise<void> {
    const session = await this.get(tenant, id);
    await this.#put({ ...session, state: 'shutting_down' });
    await this.#end(session, 'killed');
  }

  // Statements

  async submit(tenant: string, sessionId: number, code: string): Promise<StatementRecord> {
    this.#o.queries.assertSqlSize(code);
    if (this.#closed) {
      throw new LakegateError('SHUTTING_DOWN', 'This gateway is shutting down: submit to another replica.', {
        retryAfterSeconds: 1,
      });
    }
    const session = await this.#owned(tenant, sessionId);
    if (!['idle', 'busy', 'starting'].includes(session.state)) {
      throw new LakegateError(
        'INVALID_REQUEST',
        `Session ${sessionId} is ${session.state}: it takes no more statements.`,
      );
    }
    const statement: StatementRecord = {
      sessionId,
      id: await this.#o.store.nextStatementId(sessionId),
      code,
      state: 'waiting',
      output: null,
      progress: 0,
      started: 0,
      completed: 0,
      submitted: Date.now(),
      runner: this.#o.replicaId,
      result: null,
    };
    // Registered before it is stored, so the reaper never takes it for a statement orphaned by a restart.
    const controller = new AbortController();
    this.#running.set(statementKey(sessionId, statement.id), { controller, tenant, started: false });
    try {
      await this.#o.store.putStatement(statement);
    } catch (error) {
      this.#running.delete(statementKey(sessionId, statement.id));
      throw error;
    }
    // The log line is sent first (the run's own lines come after it); the session is touched while the run starts.
    const logged = this.#log(sessionId, `statement ${statement.id} submitted`);
    // Settles as soon as the statement's end is stored, before the run's own bookkeeping (its log line, the touch).
    const ended = new Promise<StatementRecord | undefined>((resolve) => {
      void this.#run(session, statement, controller, resolve);
    });
    void this.#touch(sessionId).catch(() => undefined);
    await logged;
    // A statement that ends within `submitWaitMs` is answered ended: its client need not poll for it.
    const waitMs = this.#o.config.sessions.submitWaitMs;
    if (waitMs <= 0) return statement;
    let timer: NodeJS.Timeout | undefined;
    const answer = await Promise.race([
      ended,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), waitMs);
      }),
    ]);
    clearTimeout(timer);
    return answer ?? statement;
  }

  async statements(tenant: string, sessionId: number, from: number, size: number): Promise<Page<StatementRecord>> {
    await this.#owned(tenant, sessionId);
    return this.#o.store.listStatements(sessionId, from, size);
  }

  async statement(tenant: string, sessionId: number, id: number): Promise<StatementRecord> {
    // Both read at once (clients poll this): the statement is shown only once the session proves the tenant's.
    const [, statement] = await Promise.all([
      this.#owned(tenant, sessionId),
      Number.isSafeInteger(id) ? this.#o.store.getStatement(sessionId, id) : undefined,
    ]);
    if (!statement) throw notFound(`Statement ${id} of session ${sessionId}`);
    return statement;
  }

  /** Cancels a waiting or running statement, wherever it runs. */
  async cancel(tenant: string, sessionId: number, id: number): Promise<void> {
    const statement = await this.statement(tenant, sessionId, id);
    if (FINAL_STATEMENT_STATES.has(statement.state)) return;
    if (statement.runner !== this.#o.replicaId && !(await this.#o.bus.isAlive(statement.runner))) {
      await this.#finish(statement, 'cancelled', null, tenant);
      return;
    }
    // Only while it still runs: a statement that ended since it was read keeps its end and its result.
    if (statement.state === 'running' && !(await this.#o.store.markCancelling(sessionId, id))) {
      const now = await this.#o.store.getStatement(sessionId, id);
      if (!now || FINAL_STATEMENT_STATES.has(now.state)) return;
    }
    await this.#o.bus.publishCancel(sessionId, id);
  }

  /** A page of a statement's full result. */
  async result(tenant: string, sessionId: number, id: number, offset: number, limit: number): Promise<ResultPage> {
    const statement = await this.statement(tenant, sessionId, id);
    if (statement.state !== 'available' || !statement.result) {
      throw new LakegateError(
        statement.state === 'error' || statement.state === 'cancelled' ? 'NOT_FOUND' : 'INVALID_REQUEST',
        `Statement ${id} has no result: it is ${statement.state}.`,
      );
    }
    const info = statement.result;
    const rows: unknown[][] = [];
    const end = Math.min(info.rows, offset + limit);
    for (let page = Math.floor(offset / info.pageRows); page * info.pageRows < end; page++) {
      const text =
        info.storage === 'state'
          ? await this.#o.store.getResultPage(sessionId, id, page)
          : await this.#o.results.get(this.#resultKey(tenant, sessionId, id, page));
      if (text === undefined) throw new LakegateError('NOT_FOUND', `The result of statement ${id} has expired.`);
      const pageRows = JSON.parse(text) as unknown[][];
      const first = page * info.pageRows;
      for (let i = Math.max(offset, first); i < Math.min(end, first + pageRows.length); i++)
        rows.push(pageRows[i - first] ?? []);
    }
    return { offset, total: info.rows, truncated: info.truncated, columns: info.columns, rows };
  }

  /** Ends expired sessions, and statements whose replica is gone (or is this one, restarted). */
  async reap(now = Date.now()): Promise<void> {
    for (const id of await this.#o.store.expiredSessions(now)) {
      const session = await this.#o.store.getSession(id);
      if (!session) continue;
      if (this.#deadline(session) > now) continue;
      // A busy session is not idle: only its TTL ends it while a statement runs.
      const ttlPassed = session.ttlMs !== null && session.createdAt + session.ttlMs <= now;
      if (!ttlPassed && (await this.#o.store.runningStatements(id)) > 0) continue;
      await this.#log(id, `session ${id} expired`);
      await this.#end(session, 'dead');
    }
    // Many statements share a few runners: ask about each runner once per pass.
    const alive = new Map<string, Promise<boolean>>();
    const isAlive = (runner: string): Promise<boolean> => {
      let answer = alive.get(runner);
      if (!answer) {
        answer = this.#o.bus.isAlive(runner);
        alive.set(runner, answer);
      }
      return answer;
    };
    for (const { sessionId, id, runner } of await this.#o.store.unfinishedStatements()) {
      const mine = runner === this.#o.replicaId;
      if (mine && this.#running.has(statementKey(sessionId, id))) continue;
      if (!mine && (now - this.#stateFailedAt < REPLICA_TTL_MS || (await isAlive(runner)))) continue;
      const statement = await this.#o.store.getStatement(sessionId, id);
      if (!statement || FINAL_STATEMENT_STATES.has(statement.state)) continue;
      const evalue = mine
        ? `The gateway running this statement (${runner}) restarted before it finished.`
        : `The gateway running this statement (${runner}) stopped before it finished.`;
      await this.#finish(statement, 'error', {
        status: 'error',
        execution_count: id,
        ename: 'ENGINE_FAILURE',
        evalue,
        traceback: [],
      });
    }
  }

  // Internals

  #unknownEngine(engine: string): never {
    throw new LakegateError(
      'INVALID_REQUEST',
      `Unknown engine "${engine}". Available engines: ${this.#o.queries.engineIds().join(', ')}.`,
    );
  }

  #duration(field: string, value: string | number): number {
    const ms = parseDuration(value);
    if (ms === undefined)
      throw new LakegateError('INVALID_REQUEST', `${field}: "${value}" is not a duration such as "30m" or "1h".`);
    // The store keeps a session at most this long past its last use: a longer one could not be stored, yet would
    // count against the tenant's sessions for good.
    if (ms > LONGEST_SESSION_MS)
      throw new LakegateError(
        'INVALID_REQUEST',
        `${field}: "${value}" is longer than 365 days, the most a session lasts.`,
      );
    return ms;
  }

  #deadline(session: SessionRecord): number {
    const idle =
      session.idleTimeoutMs === null ? Number.POSITIVE_INFINITY : session.lastActivity + session.idleTimeoutMs;
    const ttl = session.ttlMs === null ? Number.POSITIVE_INFINITY : session.createdAt + session.ttlMs;
    // A busy session is not idle: only its TTL ends it.
    return Math.min(session.state === 'busy' ? Number.POSITIVE_INFINITY : idle, ttl);
  }

  #put(session: SessionRecord): Promise<void> {
    return this.#o.store.putSession(session, this.#expiry(session));
  }

  /** When the store may forget the session: its deadline, or a year from now when it has none. */
  #expiry(session: SessionRecord): number {
    const deadline = this.#deadline(session);
    return Number.isFinite(deadline) ? deadline : Date.now() + LONGEST_SESSION_MS;
  }

  #log(sessionId: number, line: string): Promise<void> {
    return this.#o.store.appendLog(sessionId, [`${new Date().toISOString()} ${line}`]).catch(() => undefined);
  }

  #resultKey(tenant: string, sessionId: number, id: number, page: number): string {
    return `${tenant}/${sessionId}/${id}/${page}.json`;
  }

  /** Cancels and forgets a session: running statements stop, its records and results go. */
  async #end(session: SessionRecord, state: 'killed' | 'dead'): Promise<void> {
    const unfinished = (await this.#o.store.unfinishedStatements()).filter((s) => s.sessionId === session.id);
    for (const s of unfinished) await this.#o.bus.publishCancel(session.id, s.id).catch(() => undefined);
    this.#o.logger.info('sessions.ended', { tenant: session.tenant, session: session.id, state });
    await this.#o.store.deleteSession(session);
    await this.#o.results.deletePrefix(`${session.tenant}/${session.id}/`).catch(() => undefined);
  }

  #localCancel(sessionId: number, statementId: number): void {
    const running = this.#running.get(statementKey(sessionId, statementId));
    running?.controller.abort(new LakegateError('QUERY_CANCELLED', 'The statement was cancelled.'));
  }

  /** Records activity, which pushes the idle deadline back. Reads the latest record so no update is lost. */
  async #touch(sessionId: number): Promise<void> {
    const session = await this.#o.store.getSession(sessionId);
    if (!session) return;
    // Only while it is stored: a session deleted since the read stays deleted.
    const touched = { ...session, lastActivity: Date.now() };
    await this.#o.store.updateSession(touched, this.#expiry(touched));
  }

  /**
   * Waits until every earlier statement of the session is final, wherever it runs. A statement that ran
   * (available or error) started only once all before it were final, so the walk back stops there; one cancelled
   * while waiting proves nothing about those before it, so the walk goes past it.
   */
  async #waitForTurn(statement: StatementRecord, signal: AbortSignal): Promise<boolean> {
    let waited = false;
    for (let previous = statement.id - 1; previous >= 0; ) {
      if (signal.aborted) throw signal.reason;
      // An unreachable store is waited out like a statement still running: the statement's time limit bounds both.
      const earlier = await this.#o.store.getStatement(statement.sessionId, previous).catch((error: unknown) => {
        if (isStateUnavailable(error)) return { state: 'waiting' } as const;
        throw error;
      });
      if (!earlier || earlier.state === 'available' || earlier.state === 'error') return waited;
      if (earlier.state === 'cancelled') {
        previous--;
        continue;
      }
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, ORDER_POLL_MS));
    }
    return waited;
  }

  /**
   * Runs a statement to its end. `onEnd` hears the final record this replica stored as soon as it is stored, or
   * undefined when it stored none; it is told once.
   */
  async #run(
    session: SessionRecord,
    submitted: StatementRecord,
    controller: AbortController,
    onEnd: (record: StatementRecord | undefined) => void = () => undefined,
  ): Promise<void> {
    const key = statementKey(submitted.sessionId, submitted.id);
    const { sessions } = this.#o.config;
    let slot = false;
    let statement = submitted;
    const timer = setTimeout(
      () =>
        controller.abort(
          new LakegateError(
            'QUERY_TIMEOUT',
            `The statement exceeded its time limit of ${sessions.statementTimeoutMs} ms.`,
          ),
        ),
      sessions.statementTimeoutMs,
    );
    const accepted = performance.now();
    let active: ActiveQuery | undefined;
    let handedOver = false;
    const input = (): QueryInput => ({
      queryId: `session-${statement.sessionId}-${statement.id}`,
      tenant: session.tenant,
      sql: statement.code,
      engine: session.engine ?? undefined,
      maxRows: sessions.maxResultRows,
      signal: controller.signal,
      protocol: 'livy',
      logger: this.#o.logger,
      labels: { session: statement.sessionId, statement: statement.id },
    });
    /** The statement's one end-of-query line, written by the lifecycle whether or not the query started. */
    const end = async (summary: QueryEnd): Promise<void> => {
      if (active) await active.end(summary);
      else if (!handedOver) this.#o.queries.endUnstarted(input(), summary, accepted, 'none');
    };
    try {
      // The statement is read along with the turn's first check; again only if the turn had to be waited for.
      const read = this.#o.store.getStatement(statement.sessionId, statement.id);
      read.catch(() => undefined);
      const waitedTurn = await this.#waitForTurn(statement, controller.signal);
      const waitedSlot = await this.#slots.acquire(session.tenant, controller.signal);
      slot = true;
      const current =
        waitedTurn || waitedSlot ? await this.#o.store.getStatement(statement.sessionId, statement.id) : await read;
      if (current?.state !== 'waiting') return;
      statement = { ...current, state: 'running', started: Date.now() };
      // The query starts while `running` is written; its rows are read only once the write has landed.
      const marked = this.#o.store.putStatement(statement);
      marked.catch(() => undefined);
      const entry = this.#running.get(key);
      if (entry) entry.started = true;
      handedOver = true;
      const progress = this.#reportProgress(statement, session.tenant);
      let collected: { rows: unknown[][]; truncated: boolean };
      try {
        active = await this.#o.queries.start(input());
        await marked;
        collected = await this.#collect(active);
      } finally {
        await progress.stop();
      }
      const { rows, truncated } = collected;
      const columns = active.stream.schema.map((c) => ({ name: c.name, type: sparkType(c.type), kind: c.type.kind }));
      const output = this.#livyOutput(statement, active.stream.schema, rows, truncated);
      await this.#recording(async () => {
        // The result's pages and the read of the statement's state go to the store together.
        const stored = this.#storeResult(session, statement, rows, truncated, columns);
        const read = this.#o.store.getStatement(statement.sessionId, statement.id);
        read.catch(() => undefined);
        const info = await stored;
        onEnd(await this.#finish({ ...statement, result: info }, 'available', output, session.tenant, read));
      });
      await end({ outcome: 'ok', rows: rows.length, truncated });
      await this.#log(
        statement.sessionId,
        `statement ${statement.id} available: ${rows.length} rows${truncated ? ' (truncated)' : ''}`,
      );
    } catch (error) {
      const presented = presentError(error);
      const cancelled = presented.code === 'QUERY_CANCELLED';
      const output: StatementOutput | null = cancelled
        ? null
        : {
            status: 'error',
            execution_count: statement.id,
            ename: presented.code,
            evalue: presented.message,
            traceback: [],
          };
      if (presented.internal)
        this.#o.logger.error('sessions.statement_failed', { error, session: statement.sessionId });
      await this.#recording(async () => {
        onEnd(await this.#finish(statement, cancelled ? 'cancelled' : 'error', output, session.tenant));
      }).catch((e: unknown) =>
        this.#o.logger.warn('sessions.finish_failed', { error: isLakegateError(e) ? e.message : String(e) }),
      );
      await end({ outcome: cancelled ? 'cancelled' : 'error', rows: 0, error });
      await this.#log(
        statement.sessionId,
        `statement ${statement.id} ${cancelled ? 'cancelled' : `failed: ${presented.code}`}`,
      );
    } finally {
      clearTimeout(timer);
      if (slot) this.#slots.release(session.tenant);
      this.#running.delete(key);
      onEnd(undefined);
      await this.#touch(statement.sessionId).catch(() => undefined);
    }
  }

  /**
   * Moves a running statement's `progress` as its engine reports it (every second, when it changed). `stop` waits
   * for a write under way, so that none lands after the statement's final state.
   */
  #reportProgress(statement: StatementRecord, tenant: string): { stop(): Promise<void> } {
    let shown = 0;
    let writing: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      const now = this.#o.queries.progress(tenant, `session-${statement.sessionId}-${statement.id}`);
      if (now === undefined || Math.abs(now - shown) < 0.01) return;
      shown = now;
      writing = writing
        .then(() => this.#o.store.setProgress(statement.sessionId, statement.id, now))
        .catch(() => undefined);
    }, PROGRESS_INTERVAL_MS);
    return {
      async stop() {
        clearInterval(timer);
        await writing;
      },
    };
  }

  /**
   * Runs `record` (storing a statement's end), again and again while the session store is unreachable, for up to
   * RECORD_RETRY_MS. The statement stays registered as running here meanwhile, so the reaper leaves it alone.
   */
  async #recording(record: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + RECORD_RETRY_MS;
    for (;;) {
      try {
        return await record();
      } catch (error) {
        if (!isStateUnavailable(error) || this.#stopped || Date.now() >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, RECORD_RETRY_STEP_MS));
      }
    }
  }

  /** Reads the whole result as JSON-ready rows, up to the query's row cap (one more marks it truncated). */
  async #collect(query: ActiveQuery): Promise<{ rows: unknown[][]; truncated: boolean }> {
    const reader = new RowReader(
      query.stream,
      query.stream.schema.map((c: { type: ColumnType }) => jsonValueEncoder(c.type)),
    );
    const { rows } = await reader.read(query.maxRows + 1);
    const truncated = rows.length > query.maxRows;
    if (truncated) rows.length = query.maxRows;
    return { rows, truncated };
  }

  async #storeResult(
    session: SessionRecord,
    statement: StatementRecord,
    rows: readonly unknown[][],
    truncated: boolean,
    columns: ResultInfo['columns'],
  ): Promise<ResultInfo> {
    const pages: string[] = [];
    let bytes = 0;
    for (let i = 0; i < rows.length; i += PAGE_ROWS) {
      const page = JSON.stringify(rows.slice(i, i + PAGE_ROWS));
      bytes += page.length;
      pages.push(page);
    }
    const small = bytes <= this.#o.config.sessions.smallResultBytes;
    if (small) await this.#o.store.putResultPages(statement.sessionId, statement.id, pages);
    else {
      for (const [index, page] of pages.entries()) {
        await this.#o.results.put(this.#resultKey(session.tenant, statement.sessionId, statement.id, index), page);
      }
    }
    return { rows: rows.length, truncated, columns, storage: small ? 'state' : 'object', pageRows: PAGE_ROWS };
  }

  /**
   * Livy's output of a statement: its first `sessions.outputRows` rows. When those are not all the rows (or the
   * result itself was capped), the output says so, with the row count and where the full result is served.
   */
  #livyOutput(
    statement: StatementRecord,
    schema: Schema,
    rows: readonly unknown[][],
    resultTruncated: boolean,
  ): StatementOutput {
    const shown = rows.slice(0, this.#o.config.sessions.outputRows);
    const partial = shown.length < rows.length || resultTruncated;
    return {
      status: 'ok',
      execution_count: statement.id,
      data: {
        'application/json': {
          schema: {
            type: 'struct',
            fields: schema.map((c) => ({ name: c.name, type: sparkType(c.type), nullable: true, metadata: {} })),
          },
          data: shown,
          ...(partial
            ? {
                truncated: true as const,
                total_rows: rows.length,
                result_url: `/sessions/${statement.sessionId}/statements/${statement.id}/result`,
              }
            : {}),
        },
      },
    };
  }

  /**
   * Stores a statement's end unless it already has one; returns the record stored, or undefined. `read`, when
   * given, is the statement's latest state, read along with the writes just before this one (else it is read here).
   */
  async #finish(
    statement: StatementRecord,
    state: 'available' | 'error' | 'cancelled',
    output: StatementOutput | null,
    tenant?: string,
    read?: Promise<StatementRecord | undefined>,
  ): Promise<StatementRecord | undefined> {
    const latest = (await (read ?? this.#o.store.getStatement(statement.sessionId, statement.id))) ?? statement;
    if (FINAL_STATEMENT_STATES.has(latest.state)) return undefined;
    // A cancel that arrived while the statement was finishing still wins over a result it no longer wants.
    const final = latest.state === 'cancelling' && state === 'available' ? 'cancelled' : state;
    const record: StatementRecord = {
      ...statement,
      state: final,
      output: final === 'cancelled' ? null : output,
      progress: 1,
      completed: Date.now(),
    };
    await this.#o.store.putStatement(record);
    if (this.#o.onStatementEnd) {
      const owner = tenant ?? (await this.#o.store.getSession(statement.sessionId).catch(() => undefined))?.tenant;
      if (owner) this.#o.onStatementEnd(owner, final, (Date.now() - statement.submitted) / 1000);
    }
    return record;
  }
}
