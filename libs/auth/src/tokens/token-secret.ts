import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Recognisable prefix (secret scanners can match it) + 256 random bits. */
export const TOKEN_PREFIX = 'opl_';

export function generateTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Secrets carry 256 bits of entropy, so a fast hash is enough; only hashes are stored. */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
