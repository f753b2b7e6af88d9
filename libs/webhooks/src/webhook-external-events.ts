import type { DomainEvent, ExternalEventCatalog } from '@app/core';
import type { JsonValue } from '@app/event-store';

/** POST /api/webhooks/trigger: a client's own event, delivered under its own name. */
export type CustomEvent = DomainEvent<'WebhookCustomEventTriggered', { type: string; data: JsonValue }>;
export const customEventStreamId = (id: string) => `webhook-custom-${id}`;

/** Names other features own; custom events may not take them. */
export const RESERVED_EVENT_PREFIXES = ['task.', 'doc-store.', 'key-value.', 'auth.', 'salesforce.', 'environment.', 'webhook.'];

export const WEBHOOK_EXTERNAL_EVENTS: ExternalEventCatalog = {
  WebhookEndpointDisabled: { name: 'webhook.endpoint.disabled' },
  WebhookCustomEventTriggered: {
    name: 'custom',
    nameOf: (e) => (e.data as CustomEvent['data']).type,
    data: (e) => (e.data as CustomEvent['data']).data,
  },
};
