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

/** Structured logs: one JSON object per line, with time, level and event name. */
export function createLogger(options: LoggerOptions = {}, bound: Readonly<Record<string, unknown>> = {}): Logger {
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const log =
    (level: LogLevel) =>
    (event: string, fields: Readonly<Record<string, unknown>> = {}): void => {
      if (RANK[level] < min) return;
      write(
        JSON.stringify({ time: new Date().toISOString(), level, event, ...bound, ...fields }, (_key, value) =>
          serialise(value),
        ),
      );
    };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger({ write: () => {} });
