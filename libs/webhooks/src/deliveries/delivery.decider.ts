import { ConflictError, type Decider, type DomainEvent, type ExternalEvent, NotFoundError } from '@app/core';
import { parseRetryAfter, type RetryPolicy, retryDelayMs } from './retry-policy.js';

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'cancelled';
export type AttemptOutcome = 'succeeded' | 'failed' | 'gone';

/** What one HTTP attempt came to (measured by the dispatcher). */
export interface AttemptResult {
  startedAt: Date;
  durationMs: number;
  /** null: no response (connection refused, timeout, refused address). */
  statusCode: number | null;
  /** The response body, truncated to the configured limit. */
  response: string | null;
  error: string | null;
  retryAfter: string | null;
}

export interface ScheduledData {
  deliveryId: string;
  endpointId: string;
  /** `webhook-id`: the same for every send of one event to one endpoint (redelivery and replay too). */
  messageId: string;
  sourceEventId: string | null;
  replayId: string | null;
  test: boolean;
  payload: ExternalEvent;
  scheduledAt: string;
}

export type DeliveryEvent =
  | DomainEvent<'WebhookDeliveryScheduled', ScheduledData>
  | DomainEvent<
      'WebhookDeliveryAttempted',
      { deliveryId: string; endpointId: string; attempt: number; startedAt: string; durationMs: number; statusCode: number | null; response: string | null; error: string | null; outcome: AttemptOutcome; nextAttemptAt: string | null }
    >
  | DomainEvent<'WebhookDeliverySucceeded', { deliveryId: string; endpointId: string; attempt: number; at: string }>
  | DomainEvent<'WebhookDeliveryFailed', { deliveryId: string; endpointId: string; attempts: number; reason: 'gone' | 'attempts-exhausted'; at: string }>
  | DomainEvent<'WebhookDeliveryCancelled', { deliveryId: string; endpointId: string; reason: string; at: string }>
  | DomainEvent<'WebhookDeliveryRedeliveryRequested', { deliveryId: string; endpointId: string; attemptsSoFar: number; at: string }>;

export const DELIVERY_EVENT_TYPES = [
  'WebhookDeliveryScheduled',
  'WebhookDeliveryAttempted',
  'WebhookDeliverySucceeded',
  'WebhookDeliveryFailed',
  'WebhookDeliveryCancelled',
  'WebhookDeliveryRedeliveryRequested',
] as const;

export type DeliveryCommand =
  | { type: 'ScheduleDelivery'; delivery: ScheduledData }
  | { type: 'RecordAttempt'; result: AttemptResult; policy: RetryPolicy; random: number; now: Date }
  | { type: 'CancelDelivery'; reason: string; now: Date }
  | { type: 'RequestRedelivery'; now: Date };

export type DeliveryState =
  | { status: 'none' }
  /** retryBase: attempts made before the last redelivery request (a redelivery gets the whole retry policy again). */
  | { status: DeliveryStatus; deliveryId: string; endpointId: string; attempts: number; retryBase: number };

export const deliveryStreamId = (deliveryId: string) => `webhook-delivery-${deliveryId}`;

function classify(statusCode: number | null): AttemptOutcome {
  if (statusCode !== null && statusCode >= 200 && statusCode < 300) return 'succeeded';
  return statusCode === 410 ? 'gone' : 'failed';
}

export const deliveryDecider: Decider<DeliveryCommand, DeliveryState, DeliveryEvent> = {
  initialState: () => ({ status: 'none' }),

  decide(command, state) {
    switch (command.type) {
      case 'ScheduleDelivery':
        return state.status === 'none' ? [{ type: 'WebhookDeliveryScheduled', data: command.delivery }] : [];
      case 'RecordAttempt': {
        if (state.status === 'none') throw new NotFoundError('delivery not found', 'DELIVERY_NOT_FOUND');
        const { result, now } = command;
        const attempt = state.attempts + 1;
        const outcome = classify(result.statusCode);
        const base = { deliveryId: state.deliveryId, endpointId: state.endpointId, attempt, startedAt: result.startedAt.toISOString(), durationMs: result.durationMs };
        const attempted = (nextAttemptAt: string | null): DeliveryEvent => ({
          type: 'WebhookDeliveryAttempted',
          data: { ...base, statusCode: result.statusCode, response: result.response, error: result.error, outcome, nextAttemptAt },
        });
        // The send happened even if the delivery was settled meanwhile (cancelled): record it, change nothing else.
        if (state.status !== 'pending') return [attempted(null)];
        const at = now.toISOString();
        if (outcome === 'succeeded') return [attempted(null), { type: 'WebhookDeliverySucceeded', data: { deliveryId: state.deliveryId, endpointId: state.endpointId, attempt, at } }];
        if (outcome === 'gone') {
          return [attempted(null), { type: 'WebhookDeliveryFailed', data: { deliveryId: state.deliveryId, endpointId: state.endpointId, attempts: attempt, reason: 'gone', at } }];
        }
        const scheduled = retryDelayMs(command.policy, attempt - state.retryBase, command.random);
        const retryAfter = result.statusCode === 429 || result.statusCode === 503 ? parseRetryAfter(result.retryAfter, now) : null;
        const delay = scheduled === null ? null : (retryAfter ?? scheduled);
        if (delay === null) {
          return [attempted(null), { type: 'WebhookDeliveryFailed', data: { deliveryId: state.deliveryId, endpointId: state.endpointId, attempts: attempt, reason: 'attempts-exhausted', at } }];
        }
        return [attempted(new Date(now.getTime() + delay).toISOString())];
      }
      case 'CancelDelivery':
        if (state.status !== 'pending') return [];
        return [{ type: 'WebhookDeliveryCancelled', data: { deliveryId: state.deliveryId, endpointId: state.endpointId, reason: command.reason, at: command.now.toISOString() } }];
      case 'RequestRedelivery':
        if (state.status === 'none') throw new NotFoundError('delivery not found', 'DELIVERY_NOT_FOUND');
        if (state.status === 'pending') throw new ConflictError('the delivery is still pending; it is sent again on its next attempt', 'DELIVERY_PENDING');
        return [{ type: 'WebhookDeliveryRedeliveryRequested', data: { deliveryId: state.deliveryId, endpointId: state.endpointId, attemptsSoFar: state.attempts, at: command.now.toISOString() } }];
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },

  evolve(state, event) {
    if (event.type === 'WebhookDeliveryScheduled') return { status: 'pending', deliveryId: event.data.deliveryId, endpointId: event.data.endpointId, attempts: 0, retryBase: 0 };
    if (state.status === 'none') return state;
    switch (event.type) {
      case 'WebhookDeliveryAttempted':
        return { ...state, attempts: event.data.attempt };
      case 'WebhookDeliverySucceeded':
        // A stream copied from a batch (see delivery-batch.ts) holds Succeeded without its Attempted events.
        return { ...state, status: 'succeeded', attempts: Math.max(state.attempts, event.data.attempt) };
      case 'WebhookDeliveryFailed':
        return { ...state, status: 'failed' };
      case 'WebhookDeliveryCancelled':
        return { ...state, status: 'cancelled' };
      case 'WebhookDeliveryRedeliveryRequested':
        return { ...state, status: 'pending', retryBase: state.attempts };
      default:
        return state;
    }
  },
};
