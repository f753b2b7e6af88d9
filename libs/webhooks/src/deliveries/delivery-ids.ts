import { createHash } from 'node:crypto';

/** A name-based uuid (version 5 layout over SHA-256): the same parts always give the same id. */
export function derivedUuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
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
