import * as crypto from 'node:crypto';

/**
 * SHA-256 as hex: the one-shot crypto.hash where Node has it (20.12 and later), about 1.6 µs a call against
 * 3.9 µs for a Hash object. Each delivery derives three ids (delivery, message, Scheduled event).
 */
const sha256Hex: (data: string) => string =
  typeof crypto.hash === 'function' ? (data) => crypto.hash('sha256', data, 'hex') : (data) => crypto.createHash('sha256').update(data).digest('hex');

/**
 * A name-based uuid (version 5 layout over SHA-256): the same parts always give the same id. The first 16 bytes
 * of the digest, with the version nibble set to 5 and the variant bits to 10.
 */
export function derivedUuid(...parts: string[]): string {
  const hex = sha256Hex(parts.join('\u0000'));
  const variant = '89ab'[parseInt(hex[16], 16) & 3];
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Deterministic ids: a subscription that reads an event again (after a crash, before its checkpoint was
 * stored) derives the same delivery and the same Scheduled event id, so the append is an idempotent retry.
 */
export const deliveryIdFor = (sourceEventId: string, endpointId: string, replayId: string | null = null) =>
  derivedUuid('webhook-delivery', sourceEventId, endpointId, replayId ?? '');
export const messageIdFor = (sourceEventId: string, endpointId: string) => `msg_${derivedUuid('webhook-message', sourceEventId, endpointId).replace(/-/g, '')}`;
export const testDeliveryIdFor = (testId: string, endpointId: string) => derivedUuid('webhook-test', testId, endpointId);
export const scheduledEventIdFor = (deliveryId: string) => derivedUuid('webhook-scheduled', deliveryId);
