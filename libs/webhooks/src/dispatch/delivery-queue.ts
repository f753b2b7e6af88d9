import type { PoolClient } from '@app/database';
import type { EventMetadata } from '@app/event-store';
import type { ScheduledData } from '../deliveries/delivery.decider.js';

export const WEBHOOKS_CHANNEL = 'opsledger_webhooks';

/**
 * What the delivery's Scheduled event will say, kept on its queue row until the first attempt is recorded
 * (the payload has a column of its own).
 */
export interface QueuedScheduled {
  sourceEventId: string | null;
  replayId: string | null;
  test: boolean;
  scheduledAt: string;
  causationId: string;
  actor: EventMetadata['actor'];
}

/**
 * Queue rows for new deliveries, inside the caller's transaction (the one that moves the router's checkpoint
 * or the replay's cursor, so a crash before the commit plans the same deliveries again under the same
 * deterministic ids, and ON CONFLICT makes that second pass change nothing); wakes the dispatchers at commit.
 * Revision -1: the delivery's stream does not exist yet. The dispatcher writes its Scheduled event together
 * with the first outcome, one append per delivery.
 */
export async function enqueue(client: PoolClient, deliveries: readonly ScheduledData[], metadataOf: (d: ScheduledData) => EventMetadata): Promise<void> {
  if (!deliveries.length) return;
  await client.query(
    `INSERT INTO webhook_queue (delivery_id, endpoint_id, message_id, correlation_id, status, revision, next_attempt_at, payload, scheduled, created_at)
     SELECT d.delivery_id, d.endpoint_id, d.message_id, d.correlation_id, 'pending', -1, now(), d.payload, d.scheduled, d.created_at
     FROM jsonb_to_recordset($1::jsonb) AS d(delivery_id uuid, endpoint_id text, message_id text, correlation_id text, payload jsonb, scheduled jsonb, created_at timestamptz)
     ON CONFLICT (delivery_id) DO NOTHING`,
    [
      JSON.stringify(
        deliveries.map((d) => {
          const metadata = metadataOf(d);
          const scheduled: QueuedScheduled = { sourceEventId: d.sourceEventId, replayId: d.replayId, test: d.test, scheduledAt: d.scheduledAt, causationId: metadata.causationId, actor: metadata.actor };
          return { delivery_id: d.deliveryId, endpoint_id: d.endpointId, message_id: d.messageId, correlation_id: metadata.correlationId, payload: d.payload, scheduled, created_at: d.scheduledAt };
        }),
      ),
    ],
  );
  await client.query(`SELECT pg_notify('${WEBHOOKS_CHANNEL}', 'due')`);
}
