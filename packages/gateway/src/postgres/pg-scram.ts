import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) as Postgres uses it: the user is the tenant id, the password one of its API
 * keys. The keys never cross the wire, and the verifiers are derived once at start, so that a login costs a few
 * HMACs rather than thousands.
 */

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

interface KeyVerifier {
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** A user's salt and iteration count, and a verifier for each of its passwords (none for an unknown user). */
interface UserVerifiers {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly keys: readonly KeyVerifier[];
}

function verifierOf(password: string, salt: Buffer, iterations: number): KeyVerifier {
  return verifierFrom(pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256'));
}

function verifierFrom(salted: Buffer): KeyVerifier {
  return { storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') };
}

/** The SCRAM verifiers of every tenant's API keys: one salt per tenant, one verifier per key. */
export class ScramCredentials {
  readonly #users = new Map<string, UserVerifiers>();
  /** Makes the salts of unknown users stable but unguessable: the same name always gets the same salt. */
  readonly #secret = randomBytes(32);
  readonly #iterations: number;
  /** A verifier no password matches, so that an unknown user's exchange costs what a known one's does. */
  readonly #decoy: KeyVerifier;
  /** The most keys a tenant has: every exchange checks that many verifiers, so its time tells nothing. */
  readonly #checks: number;

  constructor(tenants: Readonly<Record<string, { readonly apiKeys: readonly string[] }>>, iterations = 4096) {
    this.#iterations = iterations;
    for (const [tenant, { apiKeys }] of Object.entries(tenants)) {
      const salt = randomBytes(16);
      this.#users.set(tenant, { salt, iterations, keys: apiKeys.map((key) => verifierOf(key, salt, iterations)) });
    }
    this.#decoy = { storedKey: randomBytes(32), serverKey: randomBytes(32) };
    this.#checks = Math.max(1, ...Object.values(tenants).map((t) => t.apiKeys.length));
  }

  /**
   * True when `user` is a tenant and `password` one of its keys (for cleartext logins over TLS). Its key derivation
   * runs off the event loop: unauthenticated clients could otherwise spend the loop's time, a login at a time.
   */
  async checkPassword(user: string, password: string): Promise<boolean> {
    const verifiers = this.#users.get(user);
    const keys = verifiers?.keys ?? [this.#decoy];
    const salt = verifiers?.salt ?? this.#fakeSalt(user);
    const candidate = verifierFrom(await pbkdf2Async(password.normalize('NFKC'), salt, this.#iterations, 32, 'sha256'));
    let ok = false;
    for (const key of keys) ok = timingSafeEqual(candidate.storedKey, key.storedKey) || ok;
    return ok && verifiers !== undefined;
  }

  #fakeSalt(user: string): Buffer {
    return hmac(this.#secret, `salt\0${user}`).subarray(0, 16);
  }

  /** Starts an exchange for `user`. An unknown user gets the same exchange, which then fails like a wrong key. */
  exchange(user: string): ScramExchange {
    const known = this.#users.get(user);
    const verifiers = known ?? { salt: this.#fakeSalt(user), iterations: this.#iterations, keys: [] };
    const padding = Array.from({ length: this.#checks - verifiers.keys.length }, () => this.#decoy);
    return new ScramExchange(verifiers, padding, this.#decoy);
  }
}

/** What a failed exchange says: the client's message was malformed (a protocol violation) or the proof was wrong. */
export type ScramFailure = 'malformed' | 'wrong-password';

/** One SCRAM exchange: the client's first message, the server's challenge, the client's proof, the server's proof. */
export class ScramExchange {
  readonly #user: UserVerifiers;
  /** Decoy verifiers checked after the user's own, so that every exchange checks as many. */
  readonly #padding: readonly KeyVerifier[];
  readonly #decoy: KeyVerifier;
  #clientFirstBare = '';
  #gs2Header = '';
  #serverFirst = '';
  #nonce = '';

  constructor(user: UserVerifiers, padding: readonly KeyVerifier[], decoy: KeyVerifier) {
    this.#user = user;
    this.#padding = padding;
    this.#decoy = decoy;
  }

  /** Reads `client-first-message` and returns `server-first-message`, or a failure. */
  first(clientFirst: string): string | ScramFailure {
    // gs2 header: `n,,` (no channel binding) or `y,,` (the client could bind but the server did not offer it).
    // `p=...` asks for channel binding, which is not offered (no SCRAM-SHA-256-PLUS).
    const match = /^([ny]),(?:a=[^,]*)?,(.*)$/.exec(clientFirst);
    if (!match?.[2]) return 'malformed';
    const bare = match[2];
    const nonce = /(?:^|,)r=([^,]+)/.exec(bare)?.[1];
    if (!nonce || !/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce)) return 'malformed';
    this.#gs2Header = clientFirst.slice(0, clientFirst.length - bare.length);
    this.#clientFirstBare = bare;
    this.#nonce = nonce + randomBytes(18).toString('base64');
    this.#serverFirst = `r=${this.#nonce},s=${this.#user.salt.toString('base64')},i=${this.#user.iterations}`;
    return this.#serverFirst;
  }

  /** Reads `client-final-message` and returns `server-final-message` when the proof is one of the user's keys. */
  final(clientFinal: string): { readonly serverFinal: string } | ScramFailure {
    const proofAt = clientFinal.lastIndexOf(',p=');
    if (proofAt < 0) return 'malformed';
    const withoutProof = clientFinal.slice(0, proofAt);
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
    const binding = /^c=([^,]*)/.exec(withoutProof)?.[1];
    const nonce = /,r=([^,]*)/.exec(withoutProof)?.[1];
    if (binding !== Buffer.from(this.#gs2Header).toString('base64') || nonce !== this.#nonce) return 'malformed';
    if (proof.length !== 32) return 'malformed';
    const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`;
    let matched: KeyVerifier | undefined;
    for (const key of [...this.#user.keys, ...this.#padding]) {
      const clientKey = xor(proof, hmac(key.storedKey, authMessage));
      if (timingSafeEqual(sha256(clientKey), key.storedKey) && key !== this.#decoy) matched ??= key;
    }
    if (!matched) return 'wrong-password';
    return { serverFinal: `v=${hmac(matched.serverKey, authMessage).toString('base64')}` };
  }
}
