import type { PoolClient } from '@app/database';
import type { EventMetadata, StreamAppender } from '@app/event-store';
import type { ScheduledData } from '../deliveries/delivery.decider.js';
import { deliveryStreamId } from '../deliveries/delivery.decider.js';
import { scheduledEventIdFor } from '../deliveries/delivery-ids.js';
import { mapLimit } from './leader-lock.js';

export const WEBHOOKS_CHANNEL = 'opsledger_webhooks';
/** With the postgres event store the appends in flight are written together in batches (AppendBatcher). */
const APPEND_CONCURRENCY = 256;

/**
 * Records each delivery as the first event of its own stream. The event id derives from the delivery id, so
 * a second append (the router read its batch again after a crash) is an idempotent retry, never a second delivery.
 */
export async function appendScheduled(appends: StreamAppender, deliveries: readonly ScheduledData[], metadataOf: (d: ScheduledData) => EventMetadata): Promise<void> {
  await mapLimit(deliveries, APPEND_CONCURRENCY, (d) =>
    appends.append(
      deliveryStreamId(d.deliveryId),
      [{ id: scheduledEventIdFor(d.deliveryId), type: 'WebhookDeliveryScheduled', data: d, metadata: metadataOf(d) }],
      'no_stream',
    ),
  );
}

/** Queue rows for scheduled deliveries (revision 0: the Scheduled event), inside the caller's transaction; wakes the dispatchers at commit. */
export async function enqueue(client: PoolClient, deliveries: readonly ScheduledData[], correlationOf: (d: ScheduledData) => string): Promise<void> {
  if (!deliveries.length) return;
  await client.query(
    `INSERT INTO webhook_queue (delivery_id, endpoint_id, message_id, correlation_id, status, revision, next_attempt_at, payload)
     SELECT d.delivery_id, d.endpoint_id, d.message_id, d.correlation_id, 'pending', 0, now(), d.payload
     FROM jsonb_to_recordset($1::jsonb) AS d(delivery_id uuid, endpoint_id text, message_id text, correlation_id text, payload jsonb)
     ON CONFLICT (delivery_id) DO NOTHING`,
    [
      JSON.stringify(
        deliveries.map((d) => ({ delivery_id: d.deliveryId, endpoint_id: d.endpointId, message_id: d.messageId, correlation_id: correlationOf(d), payload: d.payload })),
      ),
    ],
  );
  await client.query(`SELECT pg_notify('${WEBHOOKS_CHANNEL}', 'due')`);
}
