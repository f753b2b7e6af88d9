import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export class SecretBoxError extends Error {}

/**
 * AES-256-GCM for secrets at rest. Sealed text: `v1.<key id>.<iv>.<ciphertext>.<tag>` (base64url); the
 * context (e.g. the endpoint id) is bound as associated data, so a sealed secret cannot be moved to
 * another record. The key id names the key, so a wrong key fails with a clear message.
 */
export class SecretBox {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new SecretBoxError('the encryption key must be 32 bytes');
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', this.keyId, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  open(sealed: string, context: string): string {
    const [version, keyId, iv, ciphertext, tag] = sealed.split('.');
    if (version !== 'v1' || !tag) throw new SecretBoxError('not a sealed secret');
    if (keyId !== this.keyId) throw new SecretBoxError(`the secret was sealed with key ${keyId}; the configured key is ${this.keyId} (OPSLEDGER_ENCRYPTION_KEY or <data dir>/encryption-key)`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError('the sealed secret failed authentication (tampered, or sealed for another record)');
    }
  }
}
