import { createHmac, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';

/** A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes. */
export function generateSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

const keys = new Map<string, KeyObject>();

/** The HMAC key of a secret: the base64 after `whsec_`, decoded (as the standardwebhooks package reads it). */
function keyOf(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    const bytes = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
    if (!bytes.length) throw new Error('empty signing secret');
    // A KeyObject: OpenSSL does not import the raw key again on every signature.
    key = createSecretKey(bytes);
    // Bounded: secrets change only on rotation, so a full cache is a stale one.
    if (keys.size > 1000) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/**
 * `webhook-signature`: one `v1,<base64 HMAC-SHA256 of id.timestamp.body>` per secret, space-separated (rotation
 * overlap). Signed with node:crypto (OpenSSL): the standardwebhooks package signs the same bytes in JavaScript
 * (fast-sha256), which took about 4 % of the process manager's CPU in the delivery bench. The tests verify
 * every signature with that package.
 */
export function signatureHeader(secrets: readonly string[], messageId: string, timestamp: Date, body: string): string {
  const signed = `${messageId}.${Math.floor(timestamp.getTime() / 1000)}.${body}`;
  return secrets.map((secret) => `v1,${createHmac('sha256', keyOf(secret)).update(signed, 'utf8').digest('base64')}`).join(' ');
}
