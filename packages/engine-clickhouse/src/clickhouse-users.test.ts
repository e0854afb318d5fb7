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

  it('limits every query’s memory, to the tenant’s maxMemoryBytes or to ClickHouse’s default profile’s', () => {
    const { maxMemoryBytes: _set, ...unset } = acme.limits;
    expect(clickhouseUsers([{ ...acme, limits: unset }], 'xml')).toContain(
      '<max_memory_usage>10000000000</max_memory_usage>',
    );
    expect(clickhouseUsers([acme], 'sql')).toContain('max_memory_usage = 2000000000 READONLY');
  });

  it('writes SQL for current servers: a database of its own granted whole, a shared one table by table', () => {
    expect(clickhouseUsers([{ ...acme, tables: ['events'] }], 'sql')).toContain('GRANT SELECT ON acme.* TO acme_user;');
    const globex = {
      tenant: 'globex',
      user: { user: 'globex_user', password: 'globex-secret-1', database: 'shared' },
      limits: {},
      tables: ['events'],
      rowFilters: { events: "org = 'globex'" },
    };
    const shared = { ...acme, user: { ...acme.user, database: 'shared' }, tables: ['events', 'dims'] };
    const sql = clickhouseUsers([{ ...shared, rowFilters: { events: "org = 'acme'" } }, globex], 'sql');
    expect(sql).toContain('CREATE SETTINGS PROFILE OR REPLACE lakegate_acme SETTINGS readonly = 1 READONLY');
    // The tables of its datasets, not the database: a local table behind a distributed one has no policy.
    expect(sql).toContain('GRANT SELECT ON shared.events TO acme_user;\nGRANT SELECT ON shared.dims TO acme_user;');
    expect(sql).not.toContain('shared.*');
    // Two tenants of one table keep a policy each.
    expect(sql).toContain(
      "CREATE ROW POLICY OR REPLACE lakegate_acme ON shared.events FOR SELECT USING org = 'acme' TO acme_user;",
    );
    expect(sql).toContain(
      "CREATE ROW POLICY OR REPLACE lakegate_globex ON shared.events FOR SELECT USING org = 'globex' TO globex_user;",
    );
  });

  it('refuses to write users.xml for row filters, which old servers cannot enforce', () => {
    expect(() => clickhouseUsers([{ ...acme, rowFilters: { events: "org = 'acme'" } }], 'xml')).toThrow(
      /tenants acme have row filters.*use --sql/,
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
    expect(
      parseClickHouseTenantConfig({ user: 'a-b', password: 'short', database: 'acme', maxMemoryBytes: -1 }),
    ).toMatchObject({
      ok: false,
      problems: [
        expect.stringMatching(/^user:/),
        expect.stringMatching(/^password:/),
        expect.stringMatching(/^maxMemoryBytes:/),
      ],
    });
    expect(
      parseClickHouseTenantConfig({ user: 'a', password: 'long-enough', database: 'acme', maxMemoryBytes: 4e9 }),
    ).toMatchObject({ ok: true, config: { maxMemoryBytes: 4e9 } });
  });
});
