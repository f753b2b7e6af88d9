import type { DomainEvent } from '@app/core';
import type { DeliveryEvent, ScheduledData } from './delivery.decider.js';

type AttemptedData = Extract<DeliveryEvent, { type: 'WebhookDeliveryAttempted' }>['data'];

/** One delivery settled by its first attempt: what its own stream would have held, in one entry. */
export interface SucceededEntry {
  scheduled: ScheduledData;
  attempt: AttemptedData;
  /** When the success was recorded (WebhookDeliverySucceeded.at). */
  at: string;
  /** The source event's correlation and the event that caused the delivery (per entry: a batch mixes them). */
  correlationId: string;
  causationId: string;
}

/**
 * The common case, recorded in bulk: deliveries that succeeded at their first attempt, many to one event in a
 * stream of its own (one append per batch instead of one per delivery). Every other delivery (a failed first
 * attempt, a cancel, a redelivery) has a stream per delivery; a redelivery of a batched one first copies it
 * into its own stream (RedeliverHandler), so its later life is told there.
 */
export type DeliveryBatchEvent = DomainEvent<'WebhookDeliveriesSucceeded', { deliveries: SucceededEntry[] }>;
export const DELIVERY_BATCH_EVENT_TYPE = 'WebhookDeliveriesSucceeded';
export const deliveryBatchStreamId = (batchId: string) => `webhook-delivery-batch-${batchId}`;

/** A batch as the per-delivery events it stands for (Scheduled, Attempted, Succeeded per entry). */
export function expandDeliveryBatch(data: DeliveryBatchEvent['data']): DeliveryEvent[] {
  return data.deliveries.flatMap((d): DeliveryEvent[] => [
    { type: 'WebhookDeliveryScheduled', data: d.scheduled },
    { type: 'WebhookDeliveryAttempted', data: d.attempt },
    { type: 'WebhookDeliverySucceeded', data: { deliveryId: d.scheduled.deliveryId, endpointId: d.scheduled.endpointId, attempt: d.attempt.attempt, at: d.at } },
  ]);
}
