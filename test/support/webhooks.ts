import { randomBytes } from 'node:crypto';
import standardwebhooks from 'standardwebhooks';
import type { TestApi } from './api.js';
import { eventually } from './problem.js';
import type { ReceivedRequest, WebhookReceiver } from './webhook-receiver.js';

/** Shared by the api and the process manager of a test, so both open the same sealed secrets. */
export const TEST_ENCRYPTION_KEY = randomBytes(32).toString('base64');

export function verified(request: ReceivedRequest, secret: string): { type: string; timestamp: string; data: any } {
  return new standardwebhooks.Webhook(secret).verify(request.body, request.headers as Record<string, string>) as { type: string; timestamp: string; data: any };
}

export async function createWebhook(api: TestApi, receiver: WebhookReceiver, path: string, body: Record<string, unknown>): Promise<{ id: string; secret: string; [k: string]: any }> {
  const res = await api.call('POST', '/api/webhooks', { name: path, url: receiver.url + path, ...body });
  if (res.status !== 201) throw new Error(`create webhook: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Waits until `path` received at least `count` requests. */
export function received(receiver: WebhookReceiver, path: string, count = 1, timeoutMs = 15_000): Promise<ReceivedRequest[]> {
  return eventually(async () => (receiver.at(path).length >= count ? receiver.at(path) : undefined), timeoutMs, `${count} request(s) at ${path}`);
}

export async function deliveriesOf(api: TestApi, endpointId: string): Promise<any[]> {
  const res = await api.call('GET', `/api/webhooks/${endpointId}/deliveries?limit=500`);
  if (res.status !== 200) throw new Error(`deliveries: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.items;
}

/** Waits until the endpoint's deliveries satisfy `done` (as the tracking api shows them). */
export function deliveriesWhen(api: TestApi, endpointId: string, done: (items: any[]) => boolean, timeoutMs = 15_000, what = 'deliveries'): Promise<any[]> {
  return eventually(async () => {
    const items = await deliveriesOf(api, endpointId);
    return done(items) ? items : undefined;
  }, timeoutMs, what);
}

/**
 * Delivery events as one row per delivery event (type, stream_id), with the batch events of first-attempt
 * successes (WebhookDeliveriesSucceeded) expanded into the Scheduled, Attempted and Succeeded they stand for.
 */
export const DELIVERY_RECORDS = `
  SELECT type, stream_id FROM es_events WHERE type LIKE 'WebhookDelivery%'
  UNION ALL
  SELECT t.type, 'webhook-delivery-' || (d->'scheduled'->>'deliveryId') FROM es_events e
    CROSS JOIN jsonb_array_elements(e.data->'deliveries') AS d
    CROSS JOIN (VALUES ('WebhookDeliveryScheduled'), ('WebhookDeliveryAttempted'), ('WebhookDeliverySucceeded')) AS t(type)
  WHERE e.type = 'WebhookDeliveriesSucceeded'`;
