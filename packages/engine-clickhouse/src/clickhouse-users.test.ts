import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseClickHouseConfig, parseClickHouseTenantConfig } from './clickhouse-config.js';
import { clickhouseUsers } from './clickhouse-users.js';

const acme = {
  tenant: 'acme',
  user: { user: 'acme_user', password: 'acme-secret-1', database: 'acme' },
  limits: { maxExecutionSeconds: 30, maxMemoryBytes: 2_000_000_000, maxResultRows: 1_000_000 },
};

describe('ClickHouse users from the gateway configuration', () => {
  it('writes users.xml for old servers: a read-only profile with the limits, one database, a hashed password', () => {
    const xml = clickhouseUsers([acme], 'xml');
    expect(xml).toContain(
      '<lakegate_acme>\n            <readonly>1</readonly>\n            <max_execution_time>30</max_execution_time>',
    );
    expect(xml).toContain('<max_result_rows>1000000</max_result_rows>');
    expect(xml).toContain(`<password_sha256_hex>${createHash('sha256').update('acme-secret-1').digest('hex')}`);
    expect(xml).toContain('<allow_databases><database>acme</database></allow_databases>');
    expect(xml).not.toContain('acme-secret-1');
  });

  it('writes SQL for current servers: profile, user, grant on its database only, and row policies', () => {
    const sql = clickhouseUsers([{ ...acme, rowFilters: { events: "region = 'eu'" } }], 'sql');
    expect(sql).toContain('CREATE SETTINGS PROFILE OR REPLACE lakegate_acme SETTINGS readonly = 1 READONLY');
    expect(sql).toContain('GRANT SELECT ON acme.* TO acme_user;');
    expect(sql).toContain(
      "CREATE ROW POLICY OR REPLACE lakegate_filter ON acme.events FOR SELECT USING region = 'eu' TO acme_user;",
    );
  });

  it('validates the engine and tenant settings, every problem at once', () => {
    expect(parseClickHouseConfig({ url: 'http://127.0.0.1:8123' })).toMatchObject({
      ok: true,
      config: { url: 'http://127.0.0.1:8123', requestTimeoutMs: 300_000, maxConnections: 32 },
    });
    expect(parseClickHouseConfig({ url: 'ftp://x', maxConnections: 0, extra: 1 })).toMatchObject({
      ok: false,
      problems: [
        expect.stringMatching(/^extra: unknown setting/),
        expect.stringMatching(/^url:/),
        'maxConnections: must be a positive integer',
      ],
    });
    expect(parseClickHouseTenantConfig({ user: 'a-b', password: 'short', database: 'acme' })).toMatchObject({
      ok: false,
      problems: [expect.stringMatching(/^user:/), expect.stringMatching(/^password:/)],
    });
  });
});
