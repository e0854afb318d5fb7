/**
 * Pieces of SQL handling that the gateway's checks and an engine's own lockdown share, so that the two lines of
 * defence agree.
 */

/**
 * Table functions a tenant's query may call: generators that read no file and reveal nothing about the host or the
 * engine. Names in lower case.
 */
export const SAFE_TABLE_FUNCTIONS: ReadonlySet<string> = new Set(['range', 'generate_series', 'unnest']);

/**
 * SQL's values of the moment, written without parentheses (`current_date`): parsers read them as column names, and
 * engines bind them to the current time. A query naming one gives another result at another time.
 */
export const SQL_TIME_VALUES: ReadonlySet<string> = new Set([
  'current_date',
  'current_time',
  'current_timestamp',
  'localtime',
  'localtimestamp',
]);

/**
 * Whether a table name is one DuckDB would read as a file (its replacement scans: `FROM 'data/x.csv'`). Both lines
 * of defence refuse such names with a pointed message rather than as an unknown table.
 */
export function isFilePathName(name: string): boolean {
  return /[./\\:*]/.test(name);
}

/** 1-based line and column of a character offset in a text. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}
