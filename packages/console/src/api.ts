/** The signed-in key and what it is, kept in sessionStorage only: no cookie, so no cross-site request can use it. */
export interface Identity {
  readonly key: string;
  /** The tenant, or undefined for an operator (admin key), who sees every tenant. */
  readonly tenant?: string;
  readonly admin: boolean;
}

const STORAGE_KEY = 'lakegate.identity';

export function savedIdentity(): Identity | undefined {
  const text = sessionStorage.getItem(STORAGE_KEY);
  return text ? (JSON.parse(text) as Identity) : undefined;
}

export function saveIdentity(identity: Identity | undefined): void {
  if (identity) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(identity));
  else sessionStorage.removeItem(STORAGE_KEY);
}

/** An error answered by the gateway: its code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Calls the gateway with the key as a Bearer token; resolves with the parsed JSON, or throws an ApiError. */
export async function api<T>(key: string, path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('Authorization', `Bearer ${key}`);
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');
  const response = await fetch(path, { ...init, headers });
  const text = await response.text();
  const body = text ? (JSON.parse(text) as { error?: { code: string; message: string } }) : {};
  if (!response.ok || body.error) {
    throw new ApiError(response.status, body.error?.code ?? String(response.status), body.error?.message ?? text);
  }
  return body as T;
}

/** Who a key belongs to (`GET /v1/whoami`), or an ApiError for a key the gateway refuses. */
export async function identify(key: string): Promise<Identity> {
  const who = await api<{ tenant?: string; admin: boolean }>(key, '/v1/whoami');
  return who.admin ? { key, admin: true } : { key, tenant: who.tenant as string, admin: false };
}
