import { LakegateError } from '@lakegate/engine-api';

/**
 * What ClickHouse 18.16 cannot refuse on its own: every user reads the `system` database, whose `query_log`,
 * `processes` and `query_thread_log` hold other tenants' query texts (current servers restrict it with grants).
 * The gateway refuses any text that could name that database, decided on the raw text so that no way of lexing it
 * (quotes, comments, escapes) can disagree with ClickHouse's parser:
 *
 * - the word `system` in any letter case, whatever quotes or comments surround it, followed by a `.`, or by a
 *   comment at all (servers that nest comments end them elsewhere than a pattern can tell);
 * - the same in the text with every backslash escape read as ClickHouse reads it in a quoted name (`\N` is nothing,
 *   `\s` is `s`: `` `sy\stem` `` names `system`), or more widely (`\t` is taken for `t`, not a tab): a text with
 *   escapes is judged both ways;
 * - any backslash escape of a hexadecimal byte (`\x73`), by which a quoted identifier could spell `system`.
 *
 * It refuses a few texts that would be harmless (a string literal `'system.x'`); the message says how to go on.
 */
const SYSTEM_REFERENCE =
  /(?<![A-Za-z0-9_$])system[`"\s]*(?:(?:--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/|#[^\n]*(?:\n|$))[`"\s]*)*\./i;
/** `system` followed by the start of a comment, after any quotes and space. */
const SYSTEM_THEN_COMMENT = /(?<![A-Za-z0-9_$])system[`"\s]*(?:--|\/\*|#)/i;
const HEX_ESCAPE = /\\x[0-9a-f]/i;

/** `sql` with each backslash escape replaced by what it stands for in a quoted name, or by its character. */
const unescaped = (sql: string): string => sql.replace(/\\([\s\S])/g, (_, c: string) => (c === 'N' ? '' : c));

/** Characters ClickHouse's lexer skips as whitespace that `\s` does not match: read as spaces before judging. */
const OTHER_SPACES = /[\u0085\u180e\u200b-\u200d\u2060]/g;

const namesSystem = (text: string): boolean => {
  const spaced = text.replace(OTHER_SPACES, ' ');
  return SYSTEM_REFERENCE.test(spaced) || SYSTEM_THEN_COMMENT.test(spaced);
};

export function refuseSystemTables(sql: string): void {
  if (namesSystem(sql) || (sql.includes('\\') && namesSystem(unescaped(sql)))) {
    throw new LakegateError(
      'FORBIDDEN_STATEMENT',
      "ClickHouse's system database is not available to tenants (it holds other tenants' queries); query your own tables. A string literal like 'system.x' is refused too: build it with concat('system', '.x').",
    );
  }
  if (HEX_ESCAPE.test(sql)) {
    throw new LakegateError(
      'FORBIDDEN_STATEMENT',
      'Hexadecimal escapes (\\x..) are not allowed in queries on ClickHouse tables: write the characters themselves, or use unhex().',
    );
  }
}
