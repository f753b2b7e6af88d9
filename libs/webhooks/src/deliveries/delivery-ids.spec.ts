import { createHash, randomUUID } from 'node:crypto';
import { deliveryIdFor, derivedUuid, messageIdFor } from './delivery-ids.js';

/** The derivation as first written (a Hash object, bits set on the bytes): ids already stored must stay the same. */
function reference(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

describe('derived ids', () => {
  it('are the ids stored by earlier versions', () => {
    const event = '0b9f3c52-6f1e-4c8e-9d0e-1f2a3b4c5d6e';
    expect(deliveryIdFor(event, 'endpoint-1')).toBe(reference('webhook-delivery', event, 'endpoint-1', ''));
    expect(messageIdFor(event, 'endpoint-1')).toBe(`msg_${reference('webhook-message', event, 'endpoint-1').replace(/-/g, '')}`);
    expect(deliveryIdFor(event, 'endpoint-1')).toBe(GOLDEN_DELIVERY_ID);
  });

  it('match the reference for any parts, with the version 5 and variant bits set', () => {
    for (let i = 0; i < 2000; i++) {
      const parts = ['webhook-delivery', randomUUID(), `endpoint-${i}`, i % 3 ? '' : `replay-${i}`];
      const id = derivedUuid(...parts);
      expect(id).toBe(reference(...parts));
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });
});

const GOLDEN_DELIVERY_ID = 'f4694bd3-9ac2-571a-8e02-936a0eed7921';
