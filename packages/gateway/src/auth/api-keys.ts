import { createHash } from 'node:crypto';
import { LakegateError } from '@lakegate/engine-api';

const digest = (key: string): string => createHash('sha256').update(key).digest('hex');

/**
 * Resolves API keys to tenants. Keys are held only as SHA-256 digests and looked up by digest, so the
 * comparison leaks nothing about how much of a wrong key matched.
 */
export class ApiKeyIndex {
  #tenants = new Map<string, string>();
  #admins = new Set<string>();

  constructor(
    tenants: Readonly<Record<string, { readonly apiKeys: readonly string[] }>>,
    adminKeys: readonly string[] = [],
  ) {
    this.replace(tenants, adminKeys);
  }

  /** Takes a new set of keys (a configuration reload): from now on only these authenticate. */
  replace(
    tenants: Readonly<Record<string, { readonly apiKeys: readonly string[] }>>,
    adminKeys: readonly string[] = [],
  ): void {
    const next = new Map<string, string>();
    for (const [tenant, { apiKeys }] of Object.entries(tenants)) {
      for (const key of apiKeys) next.set(digest(key), tenant);
    }
    this.#tenants = next;
    this.#admins = new Set(adminKeys.map(digest));
  }

  /**
   * Checks an operator's `Authorization: Bearer <admin key>` (`admin.apiKeys`); throws UNAUTHENTICATED otherwise.
   * A tenant's key is not an admin key, whatever the tenant.
   */
  authenticateAdmin(authorization: string | undefined): void {
    if (!this.isAdmin(authorization)) {
      throw new LakegateError(
        'UNAUTHENTICATED',
        'This needs an admin API key (admin.apiKeys), sent as a Bearer token.',
      );
    }
  }

  /** Whether the header carries an admin key (as a Bearer token). */
  isAdmin(authorization: string | undefined): boolean {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    return bearer?.[1] !== undefined && this.#admins.has(digest(bearer[1]));
  }

  /** The tenant owning `key`, or undefined. */
  tenantFor(key: string): string | undefined {
    return this.#tenants.get(digest(key));
  }

  /**
   * The tenant named by an `Authorization` header: `Bearer <api key>`, or HTTP Basic with the tenant as user and
   * the API key as password (as Trino drivers send it). Throws UNAUTHENTICATED otherwise. A user name alone (such
   * as `X-Trino-User`) never authenticates.
   */
  authenticate(authorization: string | undefined): string {
    if (!authorization) {
      throw new LakegateError(
        'UNAUTHENTICATED',
        'Missing API key: send "Authorization: Bearer <api key>" (or HTTP Basic: user = tenant, password = API key).',
      );
    }
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (bearer?.[1]) {
      const tenant = this.tenantFor(bearer[1]);
      if (!tenant) throw new LakegateError('UNAUTHENTICATED', 'Invalid API key.');
      return tenant;
    }
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    if (basic?.[1]) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon < 0 ? decoded : decoded.slice(0, colon);
      const tenant = colon < 0 ? undefined : this.tenantFor(decoded.slice(colon + 1));
      if (!tenant || user.toLowerCase() !== tenant) {
        throw new LakegateError(
          'UNAUTHENTICATED',
          'Invalid user or API key: the user is the tenant, the password its API key.',
        );
      }
      return tenant;
    }
    throw new LakegateError('UNAUTHENTICATED', 'Malformed Authorization header: expected "Bearer <api key>" or Basic.');
  }
}
