import { type ExternalEvent } from '@app/core';
import type { ScheduledData } from '../deliveries/delivery.decider.js';
import { deliveryIdFor, derivedUuid, messageIdFor, testDeliveryIdFor } from '../deliveries/delivery-ids.js';
import type { JsonValue } from '@app/event-store';
import { matchesDataFilter } from '../matching/data-filter.js';
import { redact } from '../matching/redact.js';
import type { RegisteredEndpoint } from './endpoint-registry.js';

/** The delivery of one public event to one endpoint, if the endpoint wants it (type patterns and data filter); redaction happens here, before anything is stored. */
export function planDelivery(
  sourceEventId: string,
  event: ExternalEvent,
  endpoint: RegisteredEndpoint,
  now: Date,
  replayId: string | null = null,
): ScheduledData | null {
  if (!endpoint.matchesType(event.type) || !matchesDataFilter(endpoint.definition.filter, event.data)) return null;
  return {
    deliveryId: deliveryIdFor(sourceEventId, endpoint.id, replayId),
    endpointId: endpoint.id,
    messageId: messageIdFor(sourceEventId, endpoint.id),
    sourceEventId,
    replayId,
    test: false,
    payload: { ...event, data: redact(event.data, endpoint.definition.redact) },
    scheduledAt: now.toISOString(),
  };
}

/** POST /api/webhooks/:id/test: a webhook.test event for that endpoint only (its filters do not apply, its redaction does). */
export function planTestDelivery(testId: string, data: JsonValue, requestedAt: Date, endpoint: RegisteredEndpoint, now: Date): ScheduledData {
  const deliveryId = testDeliveryIdFor(testId, endpoint.id);
  return {
    deliveryId,
    endpointId: endpoint.id,
    messageId: `msg_${derivedUuid('webhook-test-message', deliveryId).replace(/-/g, '')}`,
    sourceEventId: null,
    replayId: null,
    test: true,
    payload: { type: 'webhook.test', timestamp: requestedAt.toISOString(), data: redact(data, endpoint.definition.redact) },
    scheduledAt: now.toISOString(),
  };
}
