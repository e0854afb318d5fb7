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
    ]) {
      expect(() => refuseSystemTables(sql), sql).not.toThrow();
    }
  });
});
