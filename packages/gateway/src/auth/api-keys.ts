import { createHash } from 'node:crypto';
import { LakegateError } from '@lakegate/engine-api';

const digest = (key: string): string => createHash('sha256').update(key).digest('hex');

/**
 * Resolves API keys to tenants. Keys are held only as SHA-256 digests and looked up by digest, so the
 * comparison leaks nothing about how much of a wrong key matched.
 */
export class ApiKeyIndex {
  readonly #tenants = new Map<string, string>();

  constructor(tenants: Readonly<Record<string, { readonly apiKeys: readonly string[] }>>) {
    for (const [tenant, { apiKeys }] of Object.entries(tenants)) {
      for (const key of apiKeys) this.#tenants.set(digest(key), tenant);
    }
  }

  /** The tenant owning `key`, or undefined. */
  tenantFor(key: string): string | undefined {
    return this.#tenants.get(digest(key));
  }

  /** The tenant named by an `Authorization: Bearer <key>` header; throws UNAUTHENTICATED otherwise. */
  authenticate(authorization: string | undefined): string {
    if (!authorization) {
      throw new LakegateError('UNAUTHENTICATED', 'Missing API key: send "Authorization: Bearer <api key>".');
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) {
      throw new LakegateError('UNAUTHENTICATED', 'Malformed Authorization header: expected "Bearer <api key>".');
    }
    const tenant = this.tenantFor(match[1]);
    if (!tenant) throw new LakegateError('UNAUTHENTICATED', 'Invalid API key.');
    return tenant;
  }
}
