import { LakegateError } from '@lakegate/engine-api';
import { CATALOG, type TenantCatalog } from '../query/tenant-catalog.js';
import { likeMatcher } from '../sql/like.js';
import { tokenize } from '../sql/sql-lexer.js';
import { VIRTUAL_SCHEMAS } from '../sql/tenant-query.js';
import { trinoType } from './trino-types.js';

/** A result the gateway answers itself: the metadata statements drivers send on connect. */
export interface StaticResult {
  readonly columns: readonly { readonly name: string; readonly type: 'varchar' | 'boolean' | 'bigint' }[];
  readonly rows: readonly (readonly unknown[])[];
  /** Response headers Trino sends for session-changing statements (`X-Trino-Set-Session`, ...). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface MetadataContext {
  readonly tenant: string;
  readonly catalog: TenantCatalog;
  /** The schema named by `X-Trino-Schema`, for statements that default to it. */
  readonly schema: string | undefined;
  readonly signal: AbortSignal;
}

const IDENT = '(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*)';
const unquote = (text: string): string => (text.startsWith('"') ? text.slice(1, -1).replaceAll('""', '"') : text);
const name = (text: string): string[] => (text.match(new RegExp(IDENT, 'g')) ?? []).map(unquote);

/**
 * A session property's name, as SET and RESET SESSION send it back in a header: Trino's properties are named by
 * letters, digits and underscores (`catalog.property` for a catalog's); anything else (a quoted name with a line
 * break, or text a header cannot carry) is no property.
 */
function sessionProperty(text: string): string {
  const parts = name(text);
  if (!parts.every((part) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(part)))
    throw new LakegateError(
      'INVALID_REQUEST',
      `Session property ${parts.map((p) => JSON.stringify(p)).join('.')} does not exist: session properties are named by letters, digits and underscores.`,
      { details: { missing: 'property' } },
    );
  return parts.join('.');
}

/** SQL LIKE filter (`%` any run, `_` one character), matched case-sensitively like Trino, in bounded time. */
function likeFilter(pattern: string | undefined): (value: string) => boolean {
  if (pattern === undefined) return () => true;
  return likeMatcher(pattern.replaceAll("''", "'"));
}

const varchar = (...names: string[]) => names.map((n) => ({ name: n, type: 'varchar' as const }));

/**
 * The statement's tokens, comments and a trailing `;` dropped, one space between tokens that were apart (text in
 * quotes is kept whole, `--` or `/*` inside it included).
 */
function withoutComments(sql: string): string {
  const tokens = tokenize(sql);
  if (tokens.at(-1)?.text === ';') tokens.pop();
  let text = '';
  let end = -1;
  for (const token of tokens) {
    text += (end >= 0 && token.start !== end ? ' ' : '') + token.text;
    end = token.end;
  }
  return text;
}

/**
 * Answers Trino's metadata statements (SHOW CATALOGS/SCHEMAS/TABLES/COLUMNS, DESCRIBE, USE, SET/RESET SESSION),
 * or returns undefined for SQL the query path should run. Catalog `lakegate`, schema = the tenant, tables =
 * its datasets; `information_schema` beside it.
 */
/** Longer texts are never metadata statements (SHOW, DESCRIBE, USE, SET SESSION ...). */
const METADATA_MAX_CHARS = 16_384;

export async function answerMetadata(sql: string, context: MetadataContext): Promise<StaticResult | undefined> {
  // Metadata statements are short; a long text is a query, and tokenizing it here would cost the event loop.
  if (sql.length > METADATA_MAX_CHARS) return undefined;
  const text = withoutComments(sql);
  const { tenant } = context;
  const catalogOk = (catalog: string | undefined): boolean =>
    catalog === undefined || catalog.toLowerCase() === CATALOG;
  const like = (m: RegExpExecArray, group: number) => likeFilter(m[group]);

  let m = /^show\s+catalogs(?:\s+like\s+'((?:[^']|'')*)')?$/i.exec(text);
  if (m)
    return { columns: varchar('Catalog'), rows: [[CATALOG]].filter((r) => like(m as RegExpExecArray, 1)(r[0] ?? '')) };

  m = new RegExp(`^show\\s+schemas(?:\\s+(?:from|in)\\s+(${IDENT}))?(?:\\s+like\\s+'((?:[^']|'')*)')?$`, 'i').exec(
    text,
  );
  if (m) {
    if (!catalogOk(m[1] ? unquote(m[1]) : undefined))
      throw new LakegateError('NOT_FOUND', `Catalog ${m[1]} does not exist.`);
    const filter = like(m, 2);
    return { columns: varchar('Schema'), rows: ['information_schema', tenant].filter(filter).map((s) => [s]) };
  }

  m = new RegExp(
    `^show\\s+tables(?:\\s+(?:from|in)\\s+(${IDENT}(?:\\s*\\.\\s*${IDENT})?))?(?:\\s+like\\s+'((?:[^']|'')*)')?$`,
    'i',
  ).exec(text);
  if (m) {
    const parts = m[1] ? name(m[1]) : [context.schema ?? tenant];
    const schema = (parts.at(-1) ?? tenant).toLowerCase();
    if (!catalogOk(parts.length === 2 ? parts[0] : undefined))
      throw new LakegateError('NOT_FOUND', `Catalog ${parts[0]} does not exist.`);
    const filter = like(m, 2);
    if (VIRTUAL_SCHEMAS.has(schema))
      return { columns: varchar('Table'), rows: ['columns', 'schemata', 'tables'].filter(filter).map((t) => [t]) };
    if (schema !== tenant) throw new LakegateError('NOT_FOUND', `Schema ${parts.at(-1)} does not exist.`);
    const datasets = context.catalog.datasets(tenant);
    return { columns: varchar('Table'), rows: datasets.filter(filter).map((d) => [d]) };
  }

  m = new RegExp(
    `^(?:show\\s+columns\\s+(?:from|in)|describe|desc)\\s+(${IDENT}(?:\\s*\\.\\s*${IDENT}){0,2})$`,
    'i',
  ).exec(text);
  if (m?.[1]) {
    const parts = name(m[1]);
    const table = parts.at(-1) ?? '';
    const schema = parts.length >= 2 ? parts.at(-2) : tenant;
    if (!catalogOk(parts.length === 3 ? parts[0] : undefined) || schema?.toLowerCase() !== tenant) {
      throw new LakegateError('UNKNOWN_TABLE', `Table ${parts.join('.')} does not exist.`);
    }
    const dataset = context.catalog.datasets(tenant).find((d) => d.toLowerCase() === table.toLowerCase());
    if (!dataset) throw new LakegateError('UNKNOWN_TABLE', `Table ${parts.join('.')} does not exist.`);
    const columns = await context.catalog.columns(tenant, dataset, context.signal);
    return {
      columns: varchar('Column', 'Type', 'Extra', 'Comment'),
      rows: columns.map((c) => [c.name, trinoType(c.type).type, '', '']),
    };
  }

  m = new RegExp(`^use\\s+(${IDENT}(?:\\s*\\.\\s*${IDENT})?)$`, 'i').exec(text);
  if (m?.[1]) {
    const parts = name(m[1]);
    const schema = parts.at(-1) ?? '';
    if (!catalogOk(parts.length === 2 ? parts[0] : undefined))
      throw new LakegateError('NOT_FOUND', `Catalog ${parts[0]} does not exist.`);
    if (schema.toLowerCase() !== tenant && !VIRTUAL_SCHEMAS.has(schema.toLowerCase())) {
      throw new LakegateError('NOT_FOUND', `Schema ${schema} does not exist.`);
    }
    return {
      columns: [{ name: 'result', type: 'boolean' }],
      rows: [[true]],
      headers: { 'X-Trino-Set-Catalog': CATALOG, 'X-Trino-Set-Schema': schema },
    };
  }

  m = new RegExp(`^set\\s+session\\s+(${IDENT}(?:\\.${IDENT})?)\\s*=\\s*(.+)$`, 'i').exec(text);
  if (m?.[1] && m[2]) {
    const value = m[2]
      .trim()
      .replace(/^'(.*)'$/s, '$1')
      .replaceAll("''", "'");
    return {
      columns: [{ name: 'result', type: 'boolean' }],
      rows: [[true]],
      headers: { 'X-Trino-Set-Session': `${sessionProperty(m[1])}=${encodeURIComponent(value)}` },
    };
  }

  m = new RegExp(`^reset\\s+session\\s+(${IDENT}(?:\\.${IDENT})?)$`, 'i').exec(text);
  if (m?.[1]) {
    return {
      columns: [{ name: 'result', type: 'boolean' }],
      rows: [[true]],
      headers: { 'X-Trino-Clear-Session': sessionProperty(m[1]) },
    };
  }

  if (/^show\s+session$/i.test(text)) {
    return { columns: varchar('Name', 'Value', 'Default', 'Type', 'Description'), rows: [] };
  }
  return undefined;
}
