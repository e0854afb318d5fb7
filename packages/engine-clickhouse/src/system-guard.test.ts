import { describe, expect, it } from 'vitest';
import { refuseSystemTables } from './system-guard.js';

describe('refusing the system database ClickHouse 18.16 shows every user', () => {
  it('refuses every spelling of system.<table>, whatever quotes, case, space or comments surround it', () => {
    for (const sql of [
      'SELECT * FROM system.query_log',
      'SELECT * FROM SYSTEM.processes',
      'SELECT * FROM `system`.processes',
      'SELECT * FROM "system" . processes',
      'SELECT * FROM system/* x */.processes',
      'SELECT * FROM system -- x\n.processes',
      'SELECT 1 WHERE 1 IN (SELECT 1 FROM system.one)',
      'SELECT * FROM `\\x73ystem`.processes',
      // Escapes ClickHouse reads in a quoted name: `\s` is `s`, `\N` is nothing.
      'SELECT user, query AS events FROM `sy\\stem`.query_log',
      'SELECT * FROM "sys\\Ntem".processes',
      'SELECT * FROM `\\system`.processes',
      'SELECT * FROM `SYS\\TEM`.processes',
      // A comment after the word, which servers that nest comments end elsewhere.
      'SELECT * FROM system/* /* */ */.query_log',
      'SELECT * FROM `system` /* x */ /* y */.processes',
      // Characters ClickHouse skips as whitespace that a pattern's \s does not.
      'SELECT * FROM system\u200B.query_log',
      'SELECT * FROM `system`\u2060.processes',
      'SELECT * FROM system\u0085.processes',
    ]) {
      expect(() => refuseSystemTables(sql), sql).toThrow(expect.objectContaining({ code: 'FORBIDDEN_STATEMENT' }));
    }
  });

  it('leaves names that merely contain the word alone', () => {
    for (const sql of [
      'SELECT filesystem.size FROM disks',
      'SELECT system_name FROM hosts',
      'SELECT * FROM acme_system.events',
      "SELECT 'the system' AS s FROM events",
      // Escapes elsewhere, as regular expressions and literals need them.
      "SELECT count() FROM events WHERE match(path, '^/api/\\\\d+') AND note != 'a\\nb'",
      'SELECT `sy\\\\stem`.x FROM t',
    ]) {
      expect(() => refuseSystemTables(sql), sql).not.toThrow();
    }
  });
});
