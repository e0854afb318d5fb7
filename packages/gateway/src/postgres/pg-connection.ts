import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import { LakegateError } from '@lakegate/engine-api';
import type { PostgresConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { Tracing } from '../observability/tracing.js';
import type { QueryInput, QueryLifecycle } from '../query/query-lifecycle.js';
import { adaptPostgresSql } from './pg-dialect.js';
import { PgError, pgErrorFields } from './pg-errors.js';
import {
  authentication,
  backendKeyData,
  CANCEL_REQUEST,
  commandComplete,
  type DescribedColumn,
  empty,
  errorResponse,
  GSSENC_REQUEST,
  negotiateProtocolVersion,
  noticeResponse,
  parameterDescription,
  parameterStatus,
  readyForQuery,
  rowDescription,
  SSL_REQUEST,
  type TransactionStatus,
} from './pg-messages.js';
import type { CancelKeys, ConnectionCounts } from './pg-registry.js';
import { PgResult } from './pg-results.js';
import { SCRAM_MECHANISM, type ScramCredentials, type ScramExchange } from './pg-scram.js';
import { SERVER_VERSION, SessionSettings } from './pg-settings.js';
import {
  classifyStatement,
  parameterCount,
  type SessionFunctionCall,
  type SessionStatement,
  splitStatements,
} from './pg-statements.js';
import { binaryParameter, OID, textParameter } from './pg-types.js';
import {
  type FramedMessage,
  InvalidText,
  MessageBuilder,
  MessageFramer,
  MessageReader,
  ProtocolViolation,
} from './pg-wire.js';

/** What every connection of one listener shares. */
export interface PgServerContext {
  readonly queries: QueryLifecycle;
  /** Replaced when the configuration is reloaded: a login checks the keys serving at that moment. */
  credentials: ScramCredentials;
  readonly config: PostgresConfig;
  readonly logger: Logger;
  readonly tracing?: Tracing | undefined;
  readonly secureContext: SecureContext | undefined;
  readonly cancels: CancelKeys;
  readonly counts: ConnectionCounts;
}

/** Rows are written to the socket in pieces of about this size; a slow reader holds the query back there. */
const FLUSH_BYTES = 256 * 1024;
/** Unprocessed bytes a client may send ahead (pipelining) before the server stops reading from it. */
const READ_AHEAD_BYTES = 1024 * 1024;
/** Replies built and not yet written, at most, before they are written without waiting for Sync. */
const HELD_REPLY_BYTES = 256 * 1024;
/** Parameters of a statement at most (the protocol counts them in 16 bits). */
const MAX_PARAMETERS = 32_767;
/** Named prepared statements, and named portals, one connection may hold at once. */
const MAX_NAMED = 1000;

/**
 * Refuses a Bind's result formats that neither give one format for every column nor one each, as PostgreSQL does:
 * the columns they leave out would otherwise be sent in a format the client did not ask for.
 */
function checkResultFormats(formats: readonly number[], columns: number): void {
  if (formats.length > 1 && formats.length !== columns)
    throw new PgError('08P01', `bind message has ${formats.length} result formats but query has ${columns} columns`);
}

/** A statement made by Parse (or a simple query's statement). */
interface Statement {
  readonly sql: string;
  readonly command: SessionStatement;
  /** Parameter types: as Parse gave them, `0` (unspecified) completed to text. */
  readonly parameterTypes: readonly number[];
  /** Columns, once described (a Describe of the statement plans it with null parameters to learn them). */
  columns?: readonly DescribedColumn[] | undefined;
}

/** A portal made by Bind: a statement with its values, run by Execute, possibly in several steps. */
interface Portal {
  readonly statement: Statement;
  readonly parameters: readonly unknown[];
  readonly formats: readonly number[];
  result?: PgResult | undefined;
  /** The tag of a finished command (its rows all sent), repeated if executed again. */
  done?: string | undefined;
}

/** A SQL-level cursor (DECLARE ... CURSOR FOR): a result read by FETCH. */
interface Cursor {
  readonly result: PgResult;
  readonly hold: boolean;
}

class ConnectionClosed extends Error {
  override readonly name = 'ConnectionClosed';
}

const canceled = (): LakegateError => new LakegateError('QUERY_CANCELLED', 'canceling statement due to user request');

/**
 * One client connection: the startup and login, then the simple and extended query protocols on the query
 * lifecycle. Messages are handled one at a time in arrival order (clients pipeline them), and replies are written
 * as they are made, flushed at Sync, Flush and the end of a simple query.
 */
export class PgConnection {
  readonly #context: PgServerContext;
  #socket: Socket;
  readonly #framer: MessageFramer;
  readonly #out = new MessageBuilder();
  #pumping = false;
  /** Removes the listeners this connection put on its socket (before TLS takes the socket over). */
  #unlisten: () => void = () => {};
  #closed = false;
  #phase: 'startup' | 'sasl-initial' | 'sasl-final' | 'password' | 'ready' = 'startup';
  #tls = false;
  #user = '';
  #tenant: string | undefined;
  #startup: Record<string, string> = {};
  #scram: ScramExchange | undefined;
  #settings: SessionSettings | undefined;
  #status: TransactionStatus = 'I';
  #skipToSync = false;
  readonly #statements = new Map<string, Statement>();
  readonly #portals = new Map<string, Portal>();
  readonly #cursors = new Map<string, Cursor>();
  /** Queries of the message in hand (starting, or sending rows): a CancelRequest or a statement_timeout aborts them. */
  readonly #running = new Set<AbortController>();
  #key: { pid: number; secret: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #queryCount = 0;
  #drained: (() => void) | undefined;
  /** The statement last run, which an error's position refers to. */
  #lastSql: string | undefined;

  constructor(socket: Socket, context: PgServerContext) {
    this.#socket = socket;
    this.#context = context;
    this.#framer = new MessageFramer(context.config.maxMessageBytes);
    this.#listen(socket);
    this.#arm(context.config.loginTimeoutSeconds, () => this.#fatal(new PgError('08006', 'login timed out', 'FATAL')));
  }

  #listen(socket: Socket): void {
    socket.setNoDelay(true);
    const onData = (chunk: Buffer): void => {
      this.#framer.push(chunk);
      if (this.#framer.buffered > READ_AHEAD_BYTES + this.#context.config.maxMessageBytes) socket.pause();
      this.#pump();
    };
    const onDrain = (): void => this.#drained?.();
    const onClose = (): void => void this.#teardown();
    socket.on('data', onData);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
    socket.on('error', () => {
      // A reset by the client: 'close' follows and frees everything.
    });
    this.#unlisten = () => {
      socket.off('data', onData);
      socket.off('drain', onDrain);
      socket.off('close', onClose);
    };
  }

  /** (Re)starts the connection's one timer: login deadline, then idle timeout. */
  #arm(seconds: number, onExpiry: () => void): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(onExpiry, seconds * 1000);
    this.#timer.unref();
  }

  /**
   * Closes the connection once it has been idle for `idleTimeoutSeconds`. A statement running then (or held by a
   * client that does not read) is not idleness: the wait starts again, so that the connection still closes once it
   * is idle after it.
   */
  #armIdle(): void {
    this.#arm(this.#context.config.idleTimeoutSeconds, () => {
      if (this.#running.size > 0) this.#armIdle();
      else this.#fatal(new PgError('57P05', 'terminating connection due to idle timeout', 'FATAL'));
    });
  }

  /** A statement stopped running: once none runs, the connection is idle from now. */
  #notRunning(controller: AbortController): void {
    this.#running.delete(controller);
    if (this.#running.size === 0 && !this.#closed && this.#phase === 'ready') this.#armIdle();
  }

  #pump(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    void (async () => {
      try {
        for (;;) {
          if (this.#closed) return;
          const message = this.#framer.next();
          if (!message) break;
          await this.#handle(message);
          // Replies of a pipeline without Sync (Parse, Describe, ...) go out once they pile up, so that a client
          // that never reads is held by the socket's back-pressure rather than grow this buffer without end.
          if (this.#out.length >= HELD_REPLY_BYTES) await this.#flush();
        }
        if (this.#socket.isPaused()) this.#socket.resume();
      } catch (error) {
        if (error instanceof ConnectionClosed) return;
        if (error instanceof ProtocolViolation) this.#fatal(new PgError('08P01', error.message, 'FATAL'));
        else if (error instanceof InvalidText) this.#fatal(new PgError('22021', error.message, 'FATAL'));
        else if (error instanceof PgError) this.#fatal(error);
        else {
          this.#context.logger.error('postgres.connection_failed', { error });
          this.#fatal(new PgError('XX000', 'internal error: the connection is closed', 'FATAL'));
        }
      } finally {
        this.#pumping = false;
      }
    })();
  }

  async #handle(message: FramedMessage): Promise<void> {
    if (this.#phase === 'startup') return this.#onStartup(message.body);
    if (this.#phase !== 'ready') return this.#onAuthentication(message);
    this.#armIdle();
    if (this.#skipToSync && message.type !== 'S' && message.type !== 'X') return;
    const reader = new MessageReader(message.body);
    try {
      switch (message.type) {
        case 'Q':
          return await this.#simpleQuery(reader);
        case 'P':
          return this.#parse(reader);
        case 'B':
          return this.#bind(reader);
        case 'D':
          return await this.#describe(reader);
        case 'E':
          return await this.#execute(reader);
        case 'C':
          return await this.#close(reader);
        case 'S':
          reader.end();
          return await this.#sync();
        case 'H':
          reader.end();
          return await this.#flush();
        case 'X':
          return this.#terminate();
        case 'd':
        case 'c':
        case 'f':
          // Copy messages outside a COPY are ignored, as Postgres does.
          return;
        default:
          throw new ProtocolViolation(`invalid frontend message type ${JSON.stringify(message.type)}`);
      }
    } catch (error) {
      if (error instanceof ProtocolViolation || error instanceof ConnectionClosed) throw error;
      if (error instanceof PgError && error.severity === 'FATAL') throw error;
      // An error in the extended protocol skips the rest up to Sync; a simple query answers it itself.
      if (this.#status === 'T') this.#status = 'E';
      this.#error(error instanceof InvalidText ? new PgError('22021', error.message) : error);
      if (message.type === 'Q') {
        // A simple query that could not be read still ends with ReadyForQuery.
        readyForQuery(this.#out, this.#status);
        return await this.#flush();
      }
      this.#skipToSync = true;
      // Sent at once, as Postgres does: a client waiting on a Flush it sent after the failed message (which is
      // skipped with the rest up to Sync) learns of the error.
      await this.#flush();
    }
  }

  // ---- startup and login ----

  async #onStartup(body: Buffer): Promise<void> {
    const reader = new MessageReader(body);
    const code = reader.int32();
    if (code === SSL_REQUEST) {
      reader.end();
      if (this.#context.secureContext && !this.#tls) return this.#startTls(this.#context.secureContext);
      this.#socket.write('N');
      return;
    }
    if (code === GSSENC_REQUEST) {
      reader.end();
      // No GSSAPI encryption here: the client goes on unencrypted (or asks for TLS next).
      this.#socket.write('N');
      return;
    }
    if (code === CANCEL_REQUEST) {
      const pid = reader.int32();
      const secret = reader.int32();
      this.#context.cancels.cancel(pid, secret);
      this.#socket.end();
      this.#closed = true;
      return;
    }
    const major = code >> 16;
    const minor = code & 0xffff;
    if (major !== 3) {
      throw new PgError('0A000', `unsupported frontend protocol ${major}.${minor}: server supports 3.0`, 'FATAL');
    }
    const parameters: Record<string, string> = {};
    for (;;) {
      const key = reader.cstring();
      if (key === '') break;
      parameters[key] = reader.cstring();
    }
    reader.end();
    this.#framer.startTyped();
    const unknown = Object.keys(parameters).filter((k) => k.startsWith('_pq_.'));
    if (minor > 0 || unknown.length > 0) negotiateProtocolVersion(this.#out, unknown);
    this.#startup = parameters;
    this.#user = parameters.user ?? '';
    if (!this.#user) throw new PgError('28000', 'no PostgreSQL user name specified in startup packet', 'FATAL');
    if (parameters.replication && parameters.replication !== 'false') {
      throw new PgError('42501', 'replication connections are not served by Lakegate', 'FATAL');
    }
    if (this.#context.config.allowCleartextPassword || this.#tls) {
      // Over TLS (or when the operator allowed it) the password may come in clear: clients without SCRAM log in.
      this.#phase = 'password';
      authentication(this.#out, 3);
    } else {
      this.#phase = 'sasl-initial';
      this.#out.begin('R').int32(10).cstring(SCRAM_MECHANISM).byte(0).end();
    }
    await this.#flush();
  }

  async #startTls(context: SecureContext): Promise<void> {
    if (this.#framer.buffered > 0) {
      // Bytes sent after SSLRequest but before the handshake could be injected by a man in the middle.
      throw new ProtocolViolation('received unencrypted data after SSL request');
    }
    const plain = this.#socket;
    // Only this connection's own listeners: the server's (which forgets the connection when it closes) stay.
    this.#unlisten();
    plain.write('S');
    const secure = new TLSSocket(plain, { isServer: true, secureContext: context });
    this.#socket = secure;
    this.#tls = true;
    this.#listen(secure);
  }

  async #onAuthentication(message: FramedMessage): Promise<void> {
    if (message.type !== 'p') {
      throw new PgError('08P01', `expected a password response, got message type "${message.type}"`, 'FATAL');
    }
    const reader = new MessageReader(message.body);
    if (this.#phase === 'password') {
      const password = reader.cstring();
      reader.end();
      const matches = await this.#context.credentials.checkPassword(this.#user, password);
      // Gone while its key was derived: nothing may be taken for it (its teardown has already run).
      if (this.#closed) throw new ConnectionClosed();
      if (!matches) this.#loginFailed();
      return this.#loggedIn();
    }
    if (this.#phase === 'sasl-initial') {
      const mechanism = reader.cstring();
      const length = reader.int32();
      const data = reader.bytes(length).toString('utf8');
      reader.end();
      if (mechanism !== SCRAM_MECHANISM) {
        throw new PgError('28000', `SASL authentication mechanism ${mechanism} is not supported`, 'FATAL');
      }
      this.#scram = this.#context.credentials.exchange(this.#user);
      const first = this.#scram.first(data);
      if (first === 'malformed' || first === 'wrong-password') {
        throw new PgError('08P01', 'malformed SCRAM message', 'FATAL');
      }
      this.#phase = 'sasl-final';
      authentication(this.#out, 11, first);
      return this.#flush();
    }
    const final = this.#scram?.final(message.body.toString('utf8'));
    this.#scram = undefined;
    if (final === 'malformed') throw new PgError('08P01', 'malformed SCRAM message', 'FATAL');
    if (final === undefined || final === 'wrong-password') this.#loginFailed();
    authentication(this.#out, 12, final.serverFinal);
    return this.#loggedIn();
  }

  /** The same answer for a wrong key and an unknown tenant: nothing tells whether the tenant exists. */
  #loginFailed(): never {
    this.#context.logger.info('postgres.login_failed', { user: this.#user });
    throw new PgError('28P01', `password authentication failed for user "${this.#user}"`, 'FATAL');
  }

  async #loggedIn(): Promise<void> {
    const tenant = this.#user;
    const database = this.#startup.database ?? tenant;
    if (database !== 'lakegate') throw new PgError('3D000', `database "${database}" does not exist`, 'FATAL');
    if (!this.#context.counts.tryTenant(tenant)) {
      throw new PgError('53300', `too many connections for tenant "${tenant}"`, 'FATAL');
    }
    this.#tenant = tenant;
    this.#settings = new SessionSettings(tenant, this.#startup);
    this.#key = this.#context.cancels.issue(() => this.#cancelRunning(canceled()));
    this.#phase = 'ready';
    authentication(this.#out, 0);
    for (const [name, value] of this.#settings.reported()) parameterStatus(this.#out, name, value);
    backendKeyData(this.#out, this.#key.pid, this.#key.secret);
    readyForQuery(this.#out, this.#status);
    this.#armIdle();
    await this.#flush();
  }

  // ---- simple query protocol ----

  async #simpleQuery(reader: MessageReader): Promise<void> {
    const text = reader.cstring();
    reader.end();
    this.#skipToSync = false;
    try {
      this.#context.queries.assertSqlSize(text);
      const statements = splitStatements(text);
      if (statements.length === 0) empty(this.#out, 'I');
      for (const sql of statements) {
        const statement: Statement = { sql, command: classifyStatement(sql), parameterTypes: [] };
        await this.#run({ statement, parameters: [], formats: [] }, Number.POSITIVE_INFINITY, true);
      }
    } catch (error) {
      if (error instanceof ConnectionClosed || (error instanceof PgError && error.severity === 'FATAL')) throw error;
      this.#error(error);
    }
    await this.#closePortals(false);
    readyForQuery(this.#out, this.#status);
    await this.#flush();
  }

  // ---- extended query protocol ----

  #parse(reader: MessageReader): void {
    const name = reader.cstring();
    const text = reader.cstring();
    const count = reader.uint16();
    const types = Array.from({ length: count }, () => reader.int32());
    reader.end();
    this.#context.queries.assertSqlSize(text);
    if (name !== '' && this.#statements.has(name)) {
      throw new PgError('42P05', `prepared statement "${name}" already exists`);
    }
    const statements = splitStatements(text);
    if (statements.length > 1) throw new PgError('42601', 'cannot insert multiple commands into a prepared statement');
    const sql = statements[0] ?? '';
    const command = classifyStatement(sql);
    const needed = Math.max(types.length, command.kind === 'query' ? parameterCount(sql) : 0);
    if (needed > MAX_PARAMETERS)
      throw new PgError(
        '54000',
        `a statement may have at most ${MAX_PARAMETERS} parameters; this one names $${needed}`,
      );
    if (name !== '' && this.#statements.size - (this.#statements.has('') ? 1 : 0) >= MAX_NAMED) {
      throw new PgError(
        '54000',
        `this connection holds ${MAX_NAMED} prepared statements: close some (Close, or DEALLOCATE) before preparing more`,
      );
    }
    const parameterTypes = Array.from({ length: needed }, (_, i) => (types[i] ? (types[i] as number) : OID.text));
    this.#statements.set(name, { sql, command, parameterTypes });
    empty(this.#out, '1');
  }

  #bind(reader: MessageReader): void {
    const portalName = reader.cstring();
    const statementName = reader.cstring();
    const formatCount = reader.uint16();
    const formats = Array.from({ length: formatCount }, () => reader.int16());
    const valueCount = reader.uint16();
    const raw = Array.from({ length: valueCount }, () => {
      const length = reader.int32();
      return length === -1 ? null : reader.bytes(length);
    });
    const resultCount = reader.uint16();
    const resultFormats = Array.from({ length: resultCount }, () => reader.int16());
    reader.end();
    const statement = this.#statements.get(statementName);
    if (!statement) throw new PgError('26000', `prepared statement "${statementName}" does not exist`);
    if (valueCount !== statement.parameterTypes.length) {
      throw new PgError(
        '08P01',
        `bind message supplies ${valueCount} parameters, but prepared statement "${statementName}" requires ${statement.parameterTypes.length}`,
      );
    }
    if (formatCount > 1 && formatCount !== valueCount) {
      throw new PgError('08P01', `bind message has ${formatCount} parameter formats but ${valueCount} parameters`);
    }
    for (const format of [...formats, ...resultFormats]) {
      if (format !== 0 && format !== 1) throw new PgError('08P01', `unsupported format code: ${format}`);
    }
    if (statement.columns) checkResultFormats(resultFormats, statement.columns.length);
    const parameters = raw.map((bytes, i) => {
      if (bytes === null) return null;
      const oid = statement.parameterTypes[i] ?? OID.text;
      const format = formatCount === 1 ? formats[0] : formats[i];
      if (format !== 1) return textParameter(bytes.toString('utf8'), oid);
      let value: unknown;
      try {
        value = binaryParameter(bytes, oid);
      } catch {
        throw new PgError('22P03', `incorrect binary data format in bind parameter ${i + 1}`);
      }
      if (value === undefined)
        throw new PgError('0A000', `binary format of type ${oid} is not supported for parameters: send it as text`);
      return value;
    });
    if (portalName !== '' && this.#portals.has(portalName))
      throw new PgError('42P03', `portal "${portalName}" already exists`);
    if (portalName !== '' && this.#portals.size - (this.#portals.has('') ? 1 : 0) >= MAX_NAMED)
      throw new PgError('54000', `this connection holds ${MAX_NAMED} portals: close some before binding more`);
    void this.#endPortal(this.#portals.get(portalName));
    this.#portals.set(portalName, { statement, parameters, formats: resultFormats });
    empty(this.#out, '2');
  }

  async #describe(reader: MessageReader): Promise<void> {
    const kind = String.fromCharCode(reader.byte());
    const name = reader.cstring();
    reader.end();
    if (kind === 'S') {
      const statement = this.#statements.get(name);
      if (!statement) throw new PgError('26000', `prepared statement "${name}" does not exist`);
      parameterDescription(this.#out, statement.parameterTypes);
      statement.columns ??= await this.#columnsOf(statement);
      if (statement.columns) rowDescription(this.#out, statement.columns, []);
      else empty(this.#out, 'n');
      return;
    }
    if (kind !== 'P') throw new ProtocolViolation(`invalid DESCRIBE message subtype ${kind}`);
    const portal = this.#portals.get(name);
    if (!portal) throw new PgError('34000', `portal "${name}" does not exist`);
    const columns = await this.#portalColumns(portal);
    if (columns) checkResultFormats(portal.formats, columns.length);
    if (columns) rowDescription(this.#out, columns, portal.formats);
    else empty(this.#out, 'n');
  }

  async #execute(reader: MessageReader): Promise<void> {
    const name = reader.cstring();
    const limit = reader.int32();
    reader.end();
    const portal = this.#portals.get(name);
    if (!portal) throw new PgError('34000', `portal "${name}" does not exist`);
    await this.#run(portal, limit > 0 ? limit : Number.POSITIVE_INFINITY, false);
  }

  async #close(reader: MessageReader): Promise<void> {
    const kind = String.fromCharCode(reader.byte());
    const name = reader.cstring();
    reader.end();
    if (kind === 'S') {
      this.#statements.delete(name);
    } else if (kind === 'P') {
      await this.#endPortal(this.#portals.get(name));
      this.#portals.delete(name);
    } else {
      throw new ProtocolViolation(`invalid CLOSE message subtype ${kind}`);
    }
    empty(this.#out, '3');
  }

  async #sync(): Promise<void> {
    this.#skipToSync = false;
    // Outside a transaction block, Sync ends the implicit transaction, and with it every portal.
    if (this.#status === 'I') await this.#closePortals(true);
    readyForQuery(this.#out, this.#status);
    await this.#flush();
  }

  #terminate(): void {
    this.#closed = true;
    this.#socket.end();
  }

  // ---- running statements ----

  /**
   * Runs a portal (or a simple query's statement) up to `limit` rows: the session's own commands here, queries
   * through the lifecycle. A simple query sends its RowDescription first; Execute relies on Describe for it.
   */
  async #run(portal: Portal, limit: number, simple: boolean): Promise<void> {
    const { command } = portal.statement;
    this.#lastSql = portal.statement.sql;
    if (
      this.#status === 'E' &&
      !['commit', 'rollback'].includes(command.kind) &&
      !(command.kind === 'savepoint' && command.tag === 'ROLLBACK')
    ) {
      throw new PgError('25P02', 'current transaction is aborted, commands ignored until end of transaction block');
    }
    if (portal.done !== undefined) {
      // A finished portal executed again has no more rows.
      commandComplete(this.#out, portal.done.startsWith('SELECT') ? 'SELECT 0' : portal.done);
      return;
    }
    try {
      if (command.kind === 'empty') {
        empty(this.#out, 'I');
        return;
      }
      if (command.kind === 'fetch') return await this.#timed(() => this.#fetch(command, portal, simple));
      if (command.kind === 'copy-out') return await this.#timed(() => this.#copyOut(command, portal));
      const tag = await this.#timed(() => this.#command(command));
      if (tag !== undefined) {
        portal.done = tag;
        commandComplete(this.#out, tag);
        return;
      }
      const { result, more } = await this.#timed(async () => {
        portal.result ??= await this.#open(portal.statement, portal.parameters);
        checkResultFormats(portal.formats, portal.result.columns.length);
        if (simple) rowDescription(this.#out, portal.result.columns, portal.formats);
        return { result: portal.result, ...(await this.#sendRows(portal.result, limit, portal.formats)) };
      });
      if (more) {
        empty(this.#out, 's');
        return;
      }
      portal.done = `SELECT ${result.rows}`;
      await this.#finish(result);
      commandComplete(this.#out, portal.done);
    } catch (error) {
      if (this.#status === 'T') this.#status = 'E';
      const result = portal.result;
      if (result && !result.ended) {
        await result.end({ outcome: error instanceof ConnectionClosed ? 'client_closed' : 'error', error });
      }
      portal.done = 'SELECT 0';
      throw error;
    }
  }

  /** Sends rows of a result while it counts as running (a CancelRequest reaches it). */
  async #sendRows(
    result: PgResult,
    limit: number,
    formats: readonly number[],
  ): Promise<{ readonly sent: number; readonly more: boolean }> {
    this.#running.add(result.controller);
    try {
      return await result.send(this.#out, limit, formats, () => this.#flush(), FLUSH_BYTES);
    } finally {
      this.#notRunning(result.controller);
    }
  }

  /**
   * Runs one statement's work under the session's statement_timeout: starting a query (where an aggregation may
   * compute everything) and sending its rows both count, as in Postgres.
   */
  async #timed<T>(work: () => Promise<T>): Promise<T> {
    const timeoutMs = this.#settings?.statementTimeoutMs ?? 0;
    if (timeoutMs <= 0) return work();
    const timer = setTimeout(
      () =>
        this.#cancelRunning(
          new LakegateError(
            'QUERY_TIMEOUT',
            `canceling statement due to statement timeout (statement_timeout = ${timeoutMs} ms)`,
          ),
        ),
      timeoutMs,
    );
    try {
      return await work();
    } finally {
      clearTimeout(timer);
    }
  }

  /** A result whose rows are all sent: a notice when limits cut it, and its end. */
  async #finish(result: PgResult): Promise<void> {
    if (result.truncated) {
      noticeResponse(
        this.#out,
        '01000',
        `The result was truncated at ${result.rows} rows (${Number.isFinite(result.maxBytes) && result.bytes >= result.maxBytes ? 'limits.maxResultBytes' : 'limits.maxResultRows'}).`,
      );
    }
    await result.end({ outcome: 'ok' });
  }

  /** Starts a statement's query through the lifecycle, or the front end's own answer for session functions. */
  async #open(statement: Statement, parameters: readonly unknown[], describeOnly = false): Promise<PgResult> {
    const { command } = statement;
    if (command.kind === 'show') return this.#show(command.name);
    if (command.kind === 'function-select') return this.#sessionFunctions(command.items);
    if (command.kind !== 'query') throw new PgError('0A000', `${statement.sql.split(/\s/)[0]} returns no rows here`);
    const tenant = this.#tenant as string;
    this.#context.queries.refuseIfFull(tenant);
    const controller = new AbortController();
    const input: QueryInput = {
      queryId: `pg-${this.#key?.pid}-${++this.#queryCount}`,
      tenant,
      sql: adaptPostgresSql(command.sql),
      ...(parameters.length > 0 ? { parameters } : {}),
      engine: undefined,
      maxRows: Number.MAX_SAFE_INTEGER - 1,
      ...(describeOnly ? { describeOnly } : {}),
      signal: controller.signal,
      protocol: 'postgres',
      logger: this.#context.logger,
      labels: {
        connection: this.#key?.pid ?? 0,
        ...(this.#startup.application_name ? { application: this.#startup.application_name } : {}),
      },
    };
    // Cancel reaches a query still starting (admission, leases, an aggregation computing) through its controller.
    this.#running.add(controller);
    try {
      const active = await (this.#context.tracing
        ? this.#context.tracing.request('postgres.query', undefined, ({ scope }) =>
            this.#context.queries.start({ ...input, trace: scope }),
          )
        : this.#context.queries.start(input));
      return PgResult.fromQuery(active, controller);
    } finally {
      this.#notRunning(controller);
    }
  }

  /**
   * The columns of a statement's result, from the engine's plan of it with null parameters (nothing runs where the
   * engine can describe without running); undefined for commands.
   */
  async #columnsOf(statement: Statement): Promise<readonly DescribedColumn[] | undefined> {
    const { command } = statement;
    if (command.kind === 'fetch') return this.#cursors.get(command.name)?.result.columns;
    if (command.kind !== 'query' && command.kind !== 'show' && command.kind !== 'function-select') return undefined;
    const result = await this.#open(
      statement,
      statement.parameterTypes.map(() => null),
      true,
    );
    await result.end({ outcome: 'ok' });
    return result.columns;
  }

  /** A portal's columns: starting its query (Execute then reads the same result), or none for commands. */
  async #portalColumns(portal: Portal): Promise<readonly DescribedColumn[] | undefined> {
    const { command } = portal.statement;
    if (command.kind === 'fetch') return this.#cursors.get(command.name)?.result.columns;
    if (command.kind !== 'query' && command.kind !== 'show' && command.kind !== 'function-select') return undefined;
    if (portal.done !== undefined) return portal.statement.columns;
    portal.result ??= await this.#open(portal.statement, portal.parameters);
    return portal.result.columns;
  }

  #show(name: string): PgResult {
    const settings = this.#settings as SessionSettings;
    if (name === 'all') {
      return PgResult.constant(
        ['name', 'setting', 'description'],
        settings.all().map(([n, v]) => [n, v, '']),
      );
    }
    return PgResult.constant([name], [[settings.get(name)]]);
  }

  #sessionFunctions(items: readonly SessionFunctionCall[]): PgResult {
    const tenant = this.#tenant as string;
    const values: Record<string, unknown> = {
      version: `PostgreSQL ${SERVER_VERSION} on Lakegate, compatible with the PostgreSQL 15 protocol`,
      current_database: 'lakegate',
      current_catalog: 'lakegate',
      current_schema: tenant,
      current_user: tenant,
      session_user: tenant,
      user: tenant,
      pg_backend_pid: this.#key?.pid ?? 0,
    };
    return PgResult.constant(
      items.map((item) =>
        item.fn === 'pg_backend_pid' ? { name: item.alias, type: { kind: 'integer', sqlType: 'INTEGER' } } : item.alias,
      ),
      [items.map((item) => (item.setting ? this.#currentSetting(item.setting) : values[item.fn]))],
    );
  }

  /** `current_setting(name [, missing_ok])`: the connection's setting, NULL or 42704 when it has none. */
  #currentSetting(setting: NonNullable<SessionFunctionCall['setting']>): string | null {
    try {
      return (this.#settings as SessionSettings).get(setting.name);
    } catch (error) {
      if (setting.missingOk) return null;
      throw error;
    }
  }

  /** Runs a session command; returns its CommandComplete tag, or undefined for statements with rows. */
  async #command(command: SessionStatement): Promise<string | undefined> {
    const settings = this.#settings as SessionSettings;
    switch (command.kind) {
      case 'begin':
        if (this.#status !== 'I') noticeResponse(this.#out, '25001', 'there is already a transaction in progress');
        else this.#status = 'T';
        return 'BEGIN';
      case 'commit':
      case 'rollback': {
        const failed = this.#status === 'E';
        if (this.#status === 'I') noticeResponse(this.#out, '25P01', 'there is no transaction in progress');
        this.#status = 'I';
        await this.#closePortals(true);
        return command.kind === 'commit' && !failed ? 'COMMIT' : 'ROLLBACK';
      }
      case 'savepoint':
        if (command.tag === 'ROLLBACK' && this.#status === 'E') this.#status = 'T';
        return command.tag;
      case 'set': {
        const status = settings.set(command.name, command.value);
        if (status) parameterStatus(this.#out, status[0], status[1]);
        return 'SET';
      }
      case 'set-transaction':
        return 'SET';
      case 'reset': {
        const status = settings.reset(command.name);
        if (status) parameterStatus(this.#out, status[0], status[1]);
        return 'RESET';
      }
      case 'discard':
        settings.reset(undefined);
        this.#statements.clear();
        await this.#closePortals(true, true);
        return 'DISCARD ALL';
      case 'deallocate':
        if (command.name === undefined) this.#statements.clear();
        else if (!this.#statements.delete(command.name)) {
          throw new PgError('26000', `prepared statement "${command.name}" does not exist`);
        }
        return 'DEALLOCATE';
      case 'declare': {
        if (this.#cursors.has(command.name)) throw new PgError('42P03', `cursor "${command.name}" already exists`);
        const statement: Statement = { sql: command.sql, command: classifyStatement(command.sql), parameterTypes: [] };
        if (statement.command.kind !== 'query' && statement.command.kind !== 'function-select') {
          throw new PgError('42601', 'a cursor is declared for a query');
        }
        this.#cursors.set(command.name, { result: await this.#open(statement, []), hold: command.hold });
        return 'DECLARE CURSOR';
      }
      case 'close':
        if (command.name === undefined) {
          for (const cursor of this.#cursors.values()) await cursor.result.end({ outcome: 'ok' });
          this.#cursors.clear();
        } else {
          const cursor = this.#cursors.get(command.name);
          if (!cursor) throw new PgError('34000', `cursor "${command.name}" does not exist`);
          await cursor.result.end({ outcome: 'ok' });
          this.#cursors.delete(command.name);
        }
        return 'CLOSE CURSOR';
      default:
        return undefined;
    }
  }

  /** FETCH / MOVE of a SQL cursor: the next rows of its result. */
  async #fetch(command: Extract<SessionStatement, { kind: 'fetch' }>, portal: Portal, simple: boolean): Promise<void> {
    const cursor = this.#cursors.get(command.name);
    if (!cursor) throw new PgError('34000', `cursor "${command.name}" does not exist`);
    const { result } = cursor;
    if (command.move) {
      // MOVE skips rows: they are read and not sent.
      const scratch = new MessageBuilder();
      let moved = 0;
      if (!result.ended) {
        const { sent, more } = await result.send(
          scratch,
          command.count,
          [],
          async () => void scratch.take(),
          FLUSH_BYTES,
        );
        moved = sent;
        if (!more) await this.#finish(result);
      }
      portal.done = `MOVE ${moved}`;
      commandComplete(this.#out, portal.done);
      return;
    }
    checkResultFormats(portal.formats, result.columns.length);
    if (simple) rowDescription(this.#out, result.columns, portal.formats);
    let sent = 0;
    if (!result.ended) {
      const step = await this.#sendRows(result, command.count, portal.formats);
      sent = step.sent;
      if (!step.more) await this.#finish(result);
    }
    portal.done = `FETCH ${sent}`;
    commandComplete(this.#out, portal.done);
  }

  /** COPY ... TO STDOUT: CopyOutResponse, the rows as CopyData, CopyDone, then `COPY n`. */
  async #copyOut(command: Extract<SessionStatement, { kind: 'copy-out' }>, portal: Portal): Promise<void> {
    const statement: Statement = { sql: command.sql, command: classifyStatement(command.sql), parameterTypes: [] };
    if (statement.command.kind !== 'query') throw new PgError('42601', 'COPY reads the rows of a query or a table');
    const result = await this.#open(statement, portal.parameters);
    portal.result = result;
    this.#out.begin('H').byte(0).int16(result.columns.length);
    for (let i = 0; i < result.columns.length; i++) this.#out.int16(0);
    this.#out.end();
    this.#running.add(result.controller);
    try {
      await result.sendCopy(this.#out, command.csv, command.header, () => this.#flush(), FLUSH_BYTES);
    } finally {
      this.#notRunning(result.controller);
    }
    empty(this.#out, 'c');
    portal.done = `COPY ${result.rows}`;
    await this.#finish(result);
    commandComplete(this.#out, portal.done);
  }

  async #endPortal(portal: Portal | undefined): Promise<void> {
    if (portal?.result && !portal.result.ended) await this.#endQuietly(portal.result);
  }

  /**
   * Ends a result the client left, never throwing: it runs from a socket's close and from Bind without anyone to
   * answer, and a failure there must neither stop the other ends nor go unhandled (which would end the process).
   */
  async #endQuietly(result: PgResult): Promise<void> {
    await result
      .end({ outcome: 'client_closed' })
      .catch((error: unknown) => this.#context.logger.warn('postgres.end_failed', { error: (error as Error).message }));
  }

  /** Ends portals (and cursors not declared WITH HOLD, or all of them) when their transaction ends. */
  async #closePortals(all: boolean, cursorsToo = false): Promise<void> {
    for (const [name, portal] of this.#portals) {
      if (!all && name !== '') continue;
      await this.#endPortal(portal);
      this.#portals.delete(name);
    }
    if (!all) return;
    for (const [name, cursor] of this.#cursors) {
      if (cursor.hold && !cursorsToo) continue;
      await cursor.result.end({ outcome: cursor.result.ended ? 'ok' : 'client_closed' });
      this.#cursors.delete(name);
    }
  }

  #cancelRunning(reason: LakegateError): void {
    for (const controller of this.#running) controller.abort(reason);
  }

  // ---- output and errors ----

  /** Writes what is built; waits while the client reads slowly (the socket's buffer is full). */
  async #flush(): Promise<void> {
    if (this.#closed) throw new ConnectionClosed();
    if (this.#out.length === 0) return;
    if (this.#socket.write(this.#out.take())) return;
    const socket = this.#socket;
    await new Promise<void>((resolve) => {
      const onClose = (): void => resolve();
      // Drained: the listener for a close goes too, or every wait of a long result would leave one behind.
      this.#drained = () => {
        socket.off('close', onClose);
        resolve();
      };
      socket.once('close', onClose);
    });
    this.#drained = undefined;
    if (this.#closed) throw new ConnectionClosed();
  }

  /** An ErrorResponse; a position the error carries (line and column) refers to the statement last run. */
  #error(error: unknown): void {
    errorResponse(this.#out, pgErrorFields(error, this.#lastSql));
  }

  /** Sends a FATAL error and closes the connection. */
  #fatal(error: PgError): void {
    if (this.#closed) return;
    errorResponse(this.#out, pgErrorFields(error));
    this.#closed = true;
    this.#socket.end(this.#out.take());
  }

  async #teardown(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#drained?.();
    this.#cancelRunning(new LakegateError('QUERY_CANCELLED', 'The client closed the connection.'));
    if (this.#key) this.#context.cancels.release(this.#key.pid);
    this.#context.counts.total--;
    if (this.#tenant) this.#context.counts.releaseTenant(this.#tenant);
    for (const portal of this.#portals.values()) await this.#endPortal(portal);
    this.#portals.clear();
    for (const cursor of this.#cursors.values()) {
      if (!cursor.result.ended) await this.#endQuietly(cursor.result);
    }
    this.#cursors.clear();
  }

  /** Closes the connection for shutdown, cancelling what runs. */
  shutdown(): void {
    this.#fatal(new PgError('57P01', 'terminating connection due to administrator command', 'FATAL'));
    // A client that does not close its end must not hold the shutdown.
    const socket = this.#socket;
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
