import { describe, expect, it } from 'vitest';
import { referencedNames } from './referenced-names.js';

describe('referencedNames', () => {
  const names = ['events', 'users', 'Orders'];

  it('finds bare and quoted identifiers, case-insensitively', () => {
    expect(referencedNames('select * from EVENTS e join "users" u using (id)', names).sort()).toEqual([
      'events',
      'users',
    ]);
    expect(referencedNames('SELECT 1 FROM "Orders"', names)).toEqual(['Orders']);
  });

  it('ignores names inside string literals and comments', () => {
    expect(referencedNames("SELECT 'events' -- users\n/* Orders */ FROM x", names)).toEqual([]);
    expect(referencedNames("SELECT 'it''s events' FROM users", names)).toEqual(['users']);
  });

  it('does not match a name that is only part of a longer identifier', () => {
    expect(referencedNames('SELECT * FROM events_2024, users_old', names)).toEqual([]);
  });
});
