import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ScramCredentials } from './pg-scram.js';

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();

/** A client's side of SCRAM-SHA-256, as libpq computes it. */
function clientFinal(serverFirst: string, clientFirstBare: string, password: string): string {
  const fields = Object.fromEntries(serverFirst.split(',').map((f) => [f[0], f.slice(2)]));
  const salted = pbkdf2Sync(password, Buffer.from(fields.s as string, 'base64'), Number(fields.i), 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = createHash('sha256').update(clientKey).digest();
  const withoutProof = `c=biws,r=${fields.r}`;
  const signature = hmac(storedKey, `${clientFirstBare},${serverFirst},${withoutProof}`);
  const proof = Buffer.from(clientKey.map((b, i) => b ^ (signature[i] as number)));
  return `${withoutProof},p=${proof.toString('base64')}`;
}

describe('SCRAM-SHA-256 credentials', () => {
  const credentials = new ScramCredentials({ acme: { apiKeys: ['first-key', 'second-key'] } }, 4096);

  it('accepts each of a tenant’s keys and proves the server knows it', () => {
    for (const key of ['first-key', 'second-key']) {
      const exchange = credentials.exchange('acme');
      const first = exchange.first('n,,n=,r=clientnonce');
      expect(first).toMatch(/^r=clientnonce[^,]+,s=[^,]+,i=4096$/);
      const final = exchange.final(clientFinal(first as string, 'n=,r=clientnonce', key));
      expect(final).toMatchObject({ serverFinal: expect.stringMatching(/^v=/) });
    }
  });

  it('refuses a wrong key, and gives an unknown user the same exchange with a stable salt', () => {
    const wrong = credentials.exchange('acme');
    const first = wrong.first('n,,n=,r=abc') as string;
    expect(wrong.final(clientFinal(first, 'n=,r=abc', 'nope'))).toBe('wrong-password');
    const unknown = credentials.exchange('nobody');
    const unknownFirst = unknown.first('n,,n=,r=abc') as string;
    expect(unknownFirst).toMatch(/^r=abc[^,]+,s=[^,]+,i=4096$/);
    const salt = (text: string) => text.split(',')[1];
    expect(salt(credentials.exchange('nobody').first('n,,n=,r=x') as string)).toBe(salt(unknownFirst));
    // Even the decoy's own key material cannot log in as an unknown user.
    expect(unknown.final(clientFinal(unknownFirst, 'n=,r=abc', 'first-key'))).toBe('wrong-password');
  });

  it('refuses malformed messages and channel binding it did not offer', () => {
    expect(credentials.exchange('acme').first('p=tls-server-end-point,,n=,r=abc')).toBe('malformed');
    expect(credentials.exchange('acme').first('garbage')).toBe('malformed');
    const exchange = credentials.exchange('acme');
    exchange.first('n,,n=,r=abc');
    expect(exchange.final('c=biws,r=other,p=AAAA')).toBe('malformed');
  });

  it('checks cleartext passwords against the same verifiers', async () => {
    expect(await credentials.checkPassword('acme', 'second-key')).toBe(true);
    expect(await credentials.checkPassword('acme', 'nope')).toBe(false);
    expect(await credentials.checkPassword('nobody', 'first-key')).toBe(false);
  });
});
