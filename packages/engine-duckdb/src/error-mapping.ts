import { abortError, type ErrorCode, isLakegateError, LakegateError } from '@lakegate/engine-api';

/**
 * DuckDB reports errors as plain `Error`s whose message starts with the exception type
 * (`Parser Error: ...`, `Catalog Error: ...`). That prefix is DuckDB's stable `ExceptionType` name and the only
 * classification the Node API exposes, so it is what we map on.
 */
const PREFIX = /^(?:Failed to [a-z ]+: )?([A-Za-z ]+?) Error: ?/;

const USER_ERRORS: Readonly<Record<string, ErrorCode>> = {
  Parser: 'INVALID_SQL',
  Binder: 'INVALID_SQL',
  Conversion: 'INVALID_SQL',
  'Invalid Input': 'INVALID_SQL',
  'Out of Range': 'INVALID_SQL',
  'Not implemented': 'INVALID_SQL',
  Syntax: 'INVALID_SQL',
  Type: 'INVALID_SQL',
  Mismatch: 'INVALID_SQL',
  Constraint: 'INVALID_SQL',
  'Invalid type': 'INVALID_SQL',
  Dependency: 'INVALID_SQL',
  Permission: 'FORBIDDEN_STATEMENT',
};

export interface ErrorContext {
  readonly signal: AbortSignal;
  /** Local paths to hide from messages shown to the tenant (its cache directories). */
  readonly hiddenPaths: readonly string[];
}

function redact(message: string, hiddenPaths: readonly string[]): string {
  let out = message;
  for (const path of hiddenPaths) out = out.split(path).join('<dataset>');
  return withoutSettingHints(out);
}

/** DuckDB's hints for limits a tenant meets, said as what the tenant can do: its settings are locked. */
const LIMIT_HINTS: readonly (readonly [RegExp, string])[] = [
  [
    /Use "SET max_expression_depth TO x" to increase the maximum expression depth\./,
    'Simplify the query: split long chains of operators, nested calls or parentheses.',
  ],
  // Bounded runs: a message can quote the tenant's text, which must not make this match slow.
  [
    /\b(?:Use|Try|Consider) [^.\n]{0,200}?\b(?:SET|PRAGMA) [^.\n]{0,200}\./g,
    'The setting it names is fixed by the operator.',
  ],
];

/**
 * Rewrites DuckDB's advice to change a setting (`SET max_expression_depth TO x`, `PRAGMA ...`): tenants cannot
 * change settings, so the advice would only send them into a refusal.
 */
export function withoutSettingHints(message: string): string {
  let out = message;
  for (const [hint, instead] of LIMIT_HINTS) out = out.replace(hint, instead);
  return out;
}

/** Turns whatever DuckDB threw into a Lakegate error. */
export function mapDuckDBError(error: unknown, context: ErrorContext): LakegateError {
  if (isLakegateError(error)) return error;
  if (context.signal.aborted) return abortError(context.signal);
  const raw = error instanceof Error ? error.message : String(error);
  const type = PREFIX.exec(raw)?.[1] ?? '';
  const message = redact(raw.replace(/^Failed to [a-z ]+: /, ''), context.hiddenPaths).trim();

  if (type === 'INTERRUPT') return new LakegateError('QUERY_CANCELLED', 'The query was cancelled.', { cause: error });
  if (type === 'Out of Memory') {
    return new LakegateError(
      'RESOURCE_EXHAUSTED',
      `The query needs more memory than the tenant's limit allows: ${message}`,
      { cause: error },
    );
  }
  if (type === 'Catalog') {
    const code: ErrorCode = /^Catalog Error: Table with name /.test(message) ? 'UNKNOWN_TABLE' : 'INVALID_SQL';
    return new LakegateError(code, message, { cause: error });
  }
  const userCode = USER_ERRORS[type];
  if (userCode) return new LakegateError(userCode, message, { cause: error, details: lineAndColumn(message) });
  return new LakegateError('ENGINE_FAILURE', 'The DuckDB engine failed to run the query.', { cause: error });
}

/** DuckDB marks the position of a parse error as `LINE n: <text>` followed by a caret line. */
function lineAndColumn(message: string): Readonly<Record<string, unknown>> | undefined {
  const match = /\nLINE (\d+): (.*)\n( *)\^/.exec(message);
  if (!match) return undefined;
  const [, line = '1', text = '', pad = ''] = match;
  const prefix = `LINE ${line}: `.length;
  // DuckDB may elide the start of a long line with "..."; the column is then relative to the excerpt.
  return { line: Number(line), column: pad.length - prefix + 1, excerpt: text };
}
