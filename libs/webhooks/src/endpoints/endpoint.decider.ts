import { ConflictError, type Decider, type DomainEvent, NotFoundError, ValidationError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import type { RetryPolicy } from '../deliveries/retry-policy.js';
import type { DataFilter } from '../matching/data-filter.js';

export const PROVIDERS = ['generic', 'slack', 'teams', 'custom'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** Everything about an endpoint a client defines (the secret aside). */
export interface EndpointDefinition {
  name: string;
  url: string;
  events: string[];
  filter: DataFilter | null;
  provider: ProviderName;
  /** The body template of the `custom` provider. */
  template: JsonValue | null;
  headers: Record<string, string>;
  timeoutMs: number;
  retry: RetryPolicy;
  redact: string[];
  maxConcurrency: number;
  rateLimitPerSecond: number | null;
}

export type DisableReason = 'manual' | 'gone' | 'failing';

export type EndpointEvent =
  | DomainEvent<'WebhookEndpointCreated', { endpointId: string; definition: EndpointDefinition; enabled: boolean; secret: string; createdAt: string }>
  | DomainEvent<'WebhookEndpointUpdated', { endpointId: string; definition: EndpointDefinition; updatedAt: string }>
  | DomainEvent<'WebhookEndpointSecretRotated', { endpointId: string; secret: string; previousSecret: string; previousSecretExpiresAt: string; rotatedAt: string }>
  | DomainEvent<'WebhookEndpointDisabled', { endpointId: string; reason: DisableReason; detail: string; disabledAt: string }>
  | DomainEvent<'WebhookEndpointEnabled', { endpointId: string; enabledAt: string }>
  | DomainEvent<'WebhookEndpointDeleted', { endpointId: string; deletedAt: string }>
  | DomainEvent<'WebhookTestRequested', { endpointId: string; testId: string; data: JsonValue; requestedAt: string }>
  | DomainEvent<'WebhookReplayRequested', { endpointId: string; replayId: string; since: string; until: string; requestedAt: string }>
  | DomainEvent<'WebhookReplayCompleted', { endpointId: string; replayId: string; scheduled: number; completedAt: string }>;

/** Events that change what an endpoint is (the dispatcher's registry folds these). */
export const ENDPOINT_STATE_EVENT_TYPES = [
  'WebhookEndpointCreated',
  'WebhookEndpointUpdated',
  'WebhookEndpointSecretRotated',
  'WebhookEndpointDisabled',
  'WebhookEndpointEnabled',
  'WebhookEndpointDeleted',
] as const;
export const ENDPOINT_EVENT_TYPES = [...ENDPOINT_STATE_EVENT_TYPES, 'WebhookTestRequested', 'WebhookReplayRequested', 'WebhookReplayCompleted'] as const;

export type EndpointCommand =
  | { type: 'CreateEndpoint'; endpointId: string; definition: EndpointDefinition; enabled: boolean; secret: string; now: Date }
  | { type: 'UpdateEndpoint'; definition?: EndpointDefinition; enabled?: boolean; now: Date }
  | { type: 'RotateSecret'; secret: string; overlapSeconds: number; now: Date }
  | { type: 'DisableEndpoint'; reason: DisableReason; detail: string; now: Date }
  | { type: 'DeleteEndpoint'; now: Date }
  | { type: 'RequestTest'; testId: string; data: JsonValue; now: Date }
  | { type: 'RequestReplay'; replayId: string; since: Date; until: Date; now: Date }
  | { type: 'CompleteReplay'; replayId: string; scheduled: number; now: Date };

export type EndpointState =
  | { status: 'none' }
  | { status: 'enabled' | 'disabled' | 'deleted'; endpointId: string; definition: EndpointDefinition; secret: string; replays: string[] };

export const endpointStreamId = (endpointId: string) => `webhook-endpoint-${endpointId}`;

const MAX_REPLAY_RANGE_MS = 31 * 86_400_000;

function existing(state: EndpointState): Exclude<EndpointState, { status: 'none' }> {
  if (state.status === 'none' || state.status === 'deleted') throw new NotFoundError('webhook endpoint not found', 'WEBHOOK_NOT_FOUND');
  return state;
}

function enabledOnly(state: EndpointState, what: string): Exclude<EndpointState, { status: 'none' }> {
  const current = existing(state);
  if (current.status !== 'enabled') throw new ConflictError(`the endpoint is disabled; enable it before ${what}`, 'WEBHOOK_DISABLED');
  return current;
}

export const endpointDecider: Decider<EndpointCommand, EndpointState, EndpointEvent> = {
  initialState: () => ({ status: 'none' }),

  decide(command, state) {
    const at = command.now.toISOString();
    switch (command.type) {
      case 'CreateEndpoint':
        if (state.status !== 'none') throw new ConflictError(`webhook endpoint ${command.endpointId} already exists`, 'WEBHOOK_EXISTS');
        return [{ type: 'WebhookEndpointCreated', data: { endpointId: command.endpointId, definition: command.definition, enabled: command.enabled, secret: command.secret, createdAt: at } }];
      case 'UpdateEndpoint': {
        const current = existing(state);
        const events: EndpointEvent[] = [];
        if (command.definition) events.push({ type: 'WebhookEndpointUpdated', data: { endpointId: current.endpointId, definition: command.definition, updatedAt: at } });
        if (command.enabled === true && current.status === 'disabled') events.push({ type: 'WebhookEndpointEnabled', data: { endpointId: current.endpointId, enabledAt: at } });
        if (command.enabled === false && current.status === 'enabled') {
          events.push({ type: 'WebhookEndpointDisabled', data: { endpointId: current.endpointId, reason: 'manual', detail: 'disabled by a client', disabledAt: at } });
        }
        return events;
      }
      case 'RotateSecret': {
        const current = existing(state);
        const expires = new Date(command.now.getTime() + command.overlapSeconds * 1000).toISOString();
        return [{ type: 'WebhookEndpointSecretRotated', data: { endpointId: current.endpointId, secret: command.secret, previousSecret: current.secret, previousSecretExpiresAt: expires, rotatedAt: at } }];
      }
      case 'DisableEndpoint': {
        const current = existing(state);
        if (current.status !== 'enabled') return [];
        return [{ type: 'WebhookEndpointDisabled', data: { endpointId: current.endpointId, reason: command.reason, detail: command.detail, disabledAt: at } }];
      }
      case 'DeleteEndpoint': {
        const current = existing(state);
        return [{ type: 'WebhookEndpointDeleted', data: { endpointId: current.endpointId, deletedAt: at } }];
      }
      case 'RequestTest': {
        const current = enabledOnly(state, 'sending a test event');
        return [{ type: 'WebhookTestRequested', data: { endpointId: current.endpointId, testId: command.testId, data: command.data, requestedAt: at } }];
      }
      case 'RequestReplay': {
        const current = enabledOnly(state, 'replaying');
        const span = command.until.getTime() - command.since.getTime();
        if (span <= 0) throw new ValidationError('until must be after since', { field: 'until' }, 'INVALID_RANGE');
        if (span > MAX_REPLAY_RANGE_MS) throw new ValidationError('a replay covers at most 31 days', { field: 'since' }, 'INVALID_RANGE');
        if (command.since.getTime() > command.now.getTime()) throw new ValidationError('since is in the future', { field: 'since' }, 'INVALID_RANGE');
        return [
          {
            type: 'WebhookReplayRequested',
            data: { endpointId: current.endpointId, replayId: command.replayId, since: command.since.toISOString(), until: command.until.toISOString(), requestedAt: at },
          },
        ];
      }
      case 'CompleteReplay': {
        if (state.status === 'none' || !state.replays.includes(command.replayId)) return [];
        return [{ type: 'WebhookReplayCompleted', data: { endpointId: state.endpointId, replayId: command.replayId, scheduled: command.scheduled, completedAt: at } }];
      }
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },

  evolve(state, event) {
    if (event.type === 'WebhookEndpointCreated') {
      const d = event.data;
      return { status: d.enabled ? 'enabled' : 'disabled', endpointId: d.endpointId, definition: d.definition, secret: d.secret, replays: [] };
    }
    if (state.status === 'none') return state;
    switch (event.type) {
      case 'WebhookEndpointUpdated':
        return { ...state, definition: event.data.definition };
      case 'WebhookEndpointSecretRotated':
        return { ...state, secret: event.data.secret };
      case 'WebhookEndpointDisabled':
        return { ...state, status: 'disabled' };
      case 'WebhookEndpointEnabled':
        return { ...state, status: 'enabled' };
      case 'WebhookEndpointDeleted':
        return { ...state, status: 'deleted' };
      case 'WebhookReplayRequested':
        return { ...state, replays: [...state.replays, event.data.replayId] };
      case 'WebhookReplayCompleted':
        return { ...state, replays: state.replays.filter((r) => r !== event.data.replayId) };
      default:
        return state;
    }
  },
};
