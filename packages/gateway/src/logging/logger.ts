import { writeSync } from 'node:fs';
import type { EngineLogger } from '@lakegate/engine-api';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger extends EngineLogger {
  child(fields: Readonly<Record<string, unknown>>): Logger;
}

export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Where lines go; default stdout. */
  readonly write?: (line: string) => void;
}

function serialise(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    if ('code' in value) out.code = value.code;
    if (value.stack) out.stack = value.stack;
    if (value.cause !== undefined) out.cause = serialise(value.cause);
    return out;
  }
  return value;
}

/** Strings, finite or not numbers, booleans, null and undefined: what JSON.stringify writes right by itself. */
const allPlain = (fields: Readonly<Record<string, unknown>>): boolean => {
  for (const key in fields) {
    const value = fields[key];
    if (value !== null && (typeof value === 'object' || typeof value === 'bigint')) return false;
  }
  return true;
};

let stdoutBatch: ((line: string) => void) | undefined;

/**
 * Characters of lines held at most before they are written. A saturated event loop runs `setImmediate` only every
 * several seconds (libuv handles up to 48 rounds of ready sockets before it), and lines held that long would grow
 * the heap and be lost with the process.
 */
const HELD_CHARS = 64 * 1024;

/**
 * Writes lines to stdout together, once per turn of the event loop or every {@link HELD_CHARS}: writes to a pipe or
 * a file are synchronous, and one per request's log line cost a busy gateway a sixth of its time. What is left is
 * written when the process exits.
 */
function stdoutLines(): (line: string) => void {
  if (stdoutBatch) return stdoutBatch;
  let pending: string[] = [];
  let pendingChars = 0;
  let scheduled = false;
  const take = (): string => {
    const text = pending.join('');
    pending = [];
    pendingChars = 0;
    return text;
  };
  const write = (): void => {
    if (pending.length > 0) process.stdout.write(take());
  };
  const flush = (): void => {
    scheduled = false;
    write();
  };
  // At exit nothing asynchronous runs any more: the rest is written synchronously, waiting for a full pipe to drain
  // for a few seconds at most.
  process.on('exit', () => {
    let rest = Buffer.from(take());
    const until = Date.now() + 5000;
    while (rest.length > 0 && Date.now() < until) {
      try {
        rest = rest.subarray(writeSync(process.stdout.fd, rest));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
  });
  stdoutBatch = (line) => {
    pending.push(`${line}\n`);
    pendingChars += line.length + 1;
    if (pendingChars >= HELD_CHARS) write();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return stdoutBatch;
}

/**
 * Structured logs: one JSON object per line, with time, level and event name. A class, so that the child logger
 * each request makes is one object rather than a set of closures.
 */
class JsonLogger implements Logger {
  readonly #options: LoggerOptions;
  readonly #min: number;
  readonly #write: (line: string) => void;
  readonly #bound: Readonly<Record<string, unknown>>;
  readonly #boundPlain: boolean;

  constructor(options: LoggerOptions, write: (line: string) => void, bound: Readonly<Record<string, unknown>>) {
    this.#options = options;
    this.#min = RANK[options.level ?? 'info'];
    this.#write = write;
    this.#bound = bound;
    this.#boundPlain = allPlain(bound);
  }

  debug(event: string, fields?: Readonly<Record<string, unknown>>): void {
    this.#log('debug', event, fields);
  }

  info(event: string, fields?: Readonly<Record<string, unknown>>): void {
    this.#log('info', event, fields);
  }

  warn(event: string, fields?: Readonly<Record<string, unknown>>): void {
    this.#log('warn', event, fields);
  }

  error(event: string, fields?: Readonly<Record<string, unknown>>): void {
    this.#log('error', event, fields);
  }

  child(fields: Readonly<Record<string, unknown>>): Logger {
    return new JsonLogger(this.#options, this.#write, { ...this.#bound, ...fields });
  }

  #log(level: LogLevel, event: string, fields: Readonly<Record<string, unknown>> = {}): void {
    if (RANK[level] < this.#min) return;
    const entry = { time: new Date().toISOString(), level, event, ...this.#bound, ...fields };
    // A replacer is called for every key: only lines that hold errors, big integers or objects need one.
    this.#write(
      this.#boundPlain && allPlain(fields)
        ? JSON.stringify(entry)
        : JSON.stringify(entry, (_key, value) => serialise(value)),
    );
  }
}

/**
 * A logger that writes to `options.write` (by default stdout, a turn of the event loop at a time), with `bound` on
 * every line.
 */
export function createLogger(options: LoggerOptions = {}, bound: Readonly<Record<string, unknown>> = {}): Logger {
  return new JsonLogger(options, options.write ?? stdoutLines(), bound);
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger({ write: () => {} });
