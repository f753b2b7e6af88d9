import { ConflictError } from '@app/core';
import { deciderSpecification } from '../../../core/src/decider-specification.js';
import { type AttemptResult, deliveryDecider, type DeliveryEvent, type ScheduledData } from './delivery.decider.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.js';

const spec = deciderSpecification(deliveryDecider);
const now = new Date('2026-12-01T10:00:00Z');
const at = now.toISOString();
const scheduledData: ScheduledData = {
  deliveryId: 'd1', endpointId: 'e1', messageId: 'msg_1', sourceEventId: 's1', replayId: null, test: false,
  payload: { type: 'key-value.entry.set', timestamp: at, data: { key: 'k' } }, scheduledAt: at,
};
const scheduled: DeliveryEvent = { type: 'WebhookDeliveryScheduled', data: scheduledData };
const result = (statusCode: number | null, extra: Partial<AttemptResult> = {}): AttemptResult => ({ startedAt: now, durationMs: 12, statusCode, response: null, error: statusCode === null ? 'connection refused' : null, retryAfter: null, ...extra });
const attempted = (attempt: number, statusCode: number | null, outcome: 'succeeded' | 'failed' | 'gone', nextAttemptAt: string | null): DeliveryEvent => ({
  type: 'WebhookDeliveryAttempted',
  data: { deliveryId: 'd1', endpointId: 'e1', attempt, startedAt: at, durationMs: 12, statusCode, response: null, error: statusCode === null ? 'connection refused' : null, outcome, nextAttemptAt },
});
const record = (statusCode: number | null, policy: RetryPolicy = DEFAULT_RETRY_POLICY, extra: Partial<AttemptResult> = {}) =>
  ({ type: 'RecordAttempt', result: result(statusCode, extra), policy, random: 0.5, now }) as const;
const plus = (ms: number) => new Date(now.getTime() + ms).toISOString();

describe('webhook delivery decider', () => {
  test('scheduling is idempotent', () => {
    spec.given([]).when({ type: 'ScheduleDelivery', delivery: scheduledData }).then([scheduled]);
    spec.given([scheduled]).when({ type: 'ScheduleDelivery', delivery: scheduledData }).then([]);
  });

  test('2xx succeeds', () => {
    spec.given([scheduled]).when(record(204)).then([attempted(1, 204, 'succeeded', null), { type: 'WebhookDeliverySucceeded', data: { deliveryId: 'd1', endpointId: 'e1', attempt: 1, at } }]);
  });

  test('a failure is retried on the schedule (5 s after the first attempt, random 0.5 = no jitter)', () => {
    spec.given([scheduled]).when(record(500)).then([attempted(1, 500, 'failed', plus(5000))]);
    spec.given([scheduled, attempted(1, 500, 'failed', plus(5000))]).when(record(null)).then([attempted(2, null, 'failed', plus(300_000))]);
  });

  test('jitter stays within ±20 %', () => {
    const low = deliveryDecider.decide({ ...record(500), random: 0 }, deliveryDecider.evolve(deliveryDecider.initialState(), scheduled));
    const high = deliveryDecider.decide({ ...record(500), random: 0.999999 }, deliveryDecider.evolve(deliveryDecider.initialState(), scheduled));
    expect((low[0].data as { nextAttemptAt: string }).nextAttemptAt).toBe(plus(4000));
    expect(Date.parse((high[0].data as { nextAttemptAt: string }).nextAttemptAt)).toBeLessThanOrEqual(now.getTime() + 6000);
  });

  test('429 and 503 honour Retry-After (seconds or a date); other codes ignore it', () => {
    spec.given([scheduled]).when(record(429, DEFAULT_RETRY_POLICY, { retryAfter: '120' })).then([attempted(1, 429, 'failed', plus(120_000))]);
    spec.given([scheduled]).when(record(503, DEFAULT_RETRY_POLICY, { retryAfter: new Date(now.getTime() + 60_000).toUTCString() })).then([attempted(1, 503, 'failed', plus(60_000))]);
    spec.given([scheduled]).when(record(500, DEFAULT_RETRY_POLICY, { retryAfter: '120' })).then([attempted(1, 500, 'failed', plus(5000))]);
  });

  test('410 fails the delivery at once', () => {
    spec.given([scheduled]).when(record(410)).then([
      attempted(1, 410, 'gone', null),
      { type: 'WebhookDeliveryFailed', data: { deliveryId: 'd1', endpointId: 'e1', attempts: 1, reason: 'gone', at } },
    ]);
  });

  test('the last attempt fails the delivery; Retry-After cannot extend the policy', () => {
    const policy: RetryPolicy = { strategy: 'schedule', delaysSeconds: [1] };
    const first = attempted(1, 500, 'failed', plus(1000));
    spec.given([scheduled, first]).when(record(429, policy, { retryAfter: '5' })).then([
      attempted(2, 429, 'failed', null),
      { type: 'WebhookDeliveryFailed', data: { deliveryId: 'd1', endpointId: 'e1', attempts: 2, reason: 'attempts-exhausted', at } },
    ]);
  });

  test('exponential policy doubles up to its cap', () => {
    const policy: RetryPolicy = { strategy: 'exponential', initialDelaySeconds: 2, maxDelaySeconds: 5, maxAttempts: 4 };
    spec.given([scheduled]).when(record(500, policy)).then([attempted(1, 500, 'failed', plus(2000))]);
    spec.given([scheduled, attempted(1, 500, 'failed', '')]).when(record(500, policy)).then([attempted(2, 500, 'failed', plus(4000))]);
    spec.given([scheduled, attempted(1, 500, 'failed', ''), attempted(2, 500, 'failed', '')]).when(record(500, policy)).then([attempted(3, 500, 'failed', plus(5000))]);
  });

  test('a cancelled delivery records a late attempt and nothing else', () => {
    const cancelled: DeliveryEvent = { type: 'WebhookDeliveryCancelled', data: { deliveryId: 'd1', endpointId: 'e1', reason: 'endpoint-deleted', at } };
    spec.given([scheduled]).when({ type: 'CancelDelivery', reason: 'endpoint-deleted', now }).then([cancelled]);
    spec.given([scheduled, cancelled]).when(record(200)).then([attempted(1, 200, 'succeeded', null)]);
    spec.given([scheduled, cancelled]).when({ type: 'CancelDelivery', reason: 'again', now }).then([]);
  });

  test('redelivery only for settled deliveries, with the whole retry policy again', () => {
    spec.given([scheduled]).when({ type: 'RequestRedelivery', now }).thenThrows(ConflictError, 'DELIVERY_PENDING');
    const policy: RetryPolicy = { strategy: 'schedule', delaysSeconds: [1] };
    const failed: DeliveryEvent[] = [
      attempted(1, 500, 'failed', plus(1000)),
      attempted(2, 500, 'failed', null),
      { type: 'WebhookDeliveryFailed', data: { deliveryId: 'd1', endpointId: 'e1', attempts: 2, reason: 'attempts-exhausted', at } },
    ];
    const redelivery: DeliveryEvent = { type: 'WebhookDeliveryRedeliveryRequested', data: { deliveryId: 'd1', endpointId: 'e1', attemptsSoFar: 2, at } };
    spec.given([scheduled, ...failed]).when({ type: 'RequestRedelivery', now }).then([redelivery]);
    spec.given([scheduled, ...failed, redelivery]).when(record(500, policy)).then([attempted(3, 500, 'failed', plus(1000))]);
  });

  test('a stream copied from a batch record (Scheduled, Succeeded without its Attempted) knows the attempts made', () => {
    const succeeded: DeliveryEvent = { type: 'WebhookDeliverySucceeded', data: { deliveryId: 'd1', endpointId: 'e1', attempt: 1, at } };
    spec.given([scheduled, succeeded]).when({ type: 'RequestRedelivery', now }).then([
      { type: 'WebhookDeliveryRedeliveryRequested', data: { deliveryId: 'd1', endpointId: 'e1', attemptsSoFar: 1, at } },
    ]);
  });
});
