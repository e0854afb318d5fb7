import type { MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../app-env.js';
import type { ApiKeyIndex } from '../auth/api-keys.js';

/**
 * Authenticates the request's tenant from its `Authorization` header (Bearer key, or Basic with the tenant as user
 * and a key as password) and sets `tenant`; anything else is refused with UNAUTHENTICATED before the handler runs.
 */
export function authenticate(keys: ApiKeyIndex): MiddlewareHandler<GatewayEnv> {
  return async function authenticate(c, next) {
    const tenant = await c.get('trace').span('auth', {}, async () => keys.authenticate(c.req.header('authorization')));
    c.set('tenant', tenant);
    await next();
  };
}

/**
 * Lets a tenant (its key) or an operator (an admin key) through: sets `admin`, and for a tenant `tenant`; an
 * operator sees every tenant. For the console's read-only views.
 */
export function authenticateViewer(keys: ApiKeyIndex): MiddlewareHandler<GatewayEnv> {
  return async function authenticateViewer(c, next) {
    const authorization = c.req.header('authorization');
    const admin = keys.isAdmin(authorization);
    if (!admin) c.set('tenant', keys.authenticate(authorization));
    c.set('admin', admin);
    await next();
  };
}

/** Lets only an operator through (an admin key of `admin.apiKeys`); tenants' keys are refused. */
export function authenticateAdmin(keys: ApiKeyIndex): MiddlewareHandler<GatewayEnv> {
  return async function authenticateAdmin(c, next) {
    keys.authenticateAdmin(c.req.header('authorization'));
    await next();
  };
}
