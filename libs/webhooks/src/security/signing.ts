import { randomBytes } from 'node:crypto';
import standardwebhooks from 'standardwebhooks';

export const SECRET_PREFIX = 'whsec_';

/** A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes. */
export function generateSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

const signers = new Map<string, InstanceType<typeof standardwebhooks.Webhook>>();

function signer(secret: string) {
  let webhook = signers.get(secret);
  if (!webhook) {
    // Bounded: secrets change only on rotation, so a full cache is a stale one.
    if (signers.size > 1000) signers.clear();
    webhook = new standardwebhooks.Webhook(secret);
    signers.set(secret, webhook);
  }
  return webhook;
}

/** `webhook-signature`: one `v1,<base64 HMAC-SHA256 of id.timestamp.body>` per secret, space-separated (rotation overlap). */
export function signatureHeader(secrets: readonly string[], messageId: string, timestamp: Date, body: string): string {
  return secrets.map((secret) => signer(secret).sign(messageId, timestamp, body)).join(' ');
}
