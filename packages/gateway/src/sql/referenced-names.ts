/**
 * Which of `candidates` the SQL text mentions as an identifier (bare or double-quoted, case-insensitive),
 * ignoring string literals and comments. Deliberately over-inclusive: a column that shares a dataset's name
 * only binds that dataset needlessly, while a real table reference is never missed, whatever its syntax.
 */
export function referencedNames(sql: string, candidates: readonly string[]): string[] {
  const wanted = new Map(candidates.map((c) => [c.toLowerCase(), c]));
  const found = new Set<string>();
  const add = (word: string): void => {
    const name = wanted.get(word.toLowerCase());
    if (name !== undefined) found.add(name);
  };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === "'") {
      i++;
      while (i < sql.length && !(sql[i] === "'" && sql[i + 1] !== "'")) i += sql[i] === "'" ? 2 : 1;
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < sql.length && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === '"') {
      let word = '';
      i++;
      while (i < sql.length) {
        if (sql[i] === '"' && sql[i + 1] === '"') {
          word += '"';
          i += 2;
        } else if (sql[i] === '"') {
          i++;
          break;
        } else {
          word += sql[i++];
        }
      }
      add(word);
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < sql.length && /[A-Za-z0-9_$]/.test(sql[i] as string)) i++;
      add(sql.slice(start, i));
    } else {
      i++;
    }
  }
  return [...found];
}
