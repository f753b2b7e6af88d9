import { ConflictError, NotFoundError, ValidationError } from '@app/core';
import { deciderSpecification } from '../../../core/src/decider-specification.js';
import { DEFAULT_RETRY_POLICY } from '../deliveries/retry-policy.js';
import { endpointDecider, type EndpointDefinition, type EndpointEvent } from './endpoint.decider.js';

const spec = deciderSpecification(endpointDecider);
const now = new Date('2026-12-01T10:00:00Z');
const at = now.toISOString();
const definition: EndpointDefinition = {
  name: 'ci', url: 'https://hooks.example.com/x', events: ['task.*'], filter: null, provider: 'generic', template: null, headers: {},
  timeoutMs: 10_000, retry: DEFAULT_RETRY_POLICY, redact: [], maxConcurrency: 10, rateLimitPerSecond: null,
};
const created: EndpointEvent = { type: 'WebhookEndpointCreated', data: { endpointId: 'e1', definition, enabled: true, secret: 'sealed-1', createdAt: at } };
const disabled: EndpointEvent = { type: 'WebhookEndpointDisabled', data: { endpointId: 'e1', reason: 'gone', detail: '410', disabledAt: at } };
const deleted: EndpointEvent = { type: 'WebhookEndpointDeleted', data: { endpointId: 'e1', deletedAt: at } };

describe('webhook endpoint decider', () => {
  test('create once', () => {
    spec.given([]).when({ type: 'CreateEndpoint', endpointId: 'e1', definition, enabled: true, secret: 'sealed-1', now }).then([created]);
    spec.given([created]).when({ type: 'CreateEndpoint', endpointId: 'e1', definition, enabled: true, secret: 'x', now }).thenThrows(ConflictError, 'WEBHOOK_EXISTS');
  });

  test('update changes the definition and, separately, the status', () => {
    const renamed = { ...definition, name: 'renamed' };
    spec.given([created]).when({ type: 'UpdateEndpoint', definition: renamed, enabled: false, now }).then([
      { type: 'WebhookEndpointUpdated', data: { endpointId: 'e1', definition: renamed, updatedAt: at } },
      { type: 'WebhookEndpointDisabled', data: { endpointId: 'e1', reason: 'manual', detail: 'disabled by a client', disabledAt: at } },
    ]);
    spec.given([created, disabled]).when({ type: 'UpdateEndpoint', enabled: true, now }).then([{ type: 'WebhookEndpointEnabled', data: { endpointId: 'e1', enabledAt: at } }]);
    spec.given([created]).when({ type: 'UpdateEndpoint', enabled: true, now }).then([]);
  });

  test('rotation keeps the previous secret for the overlap', () => {
    spec.given([created]).when({ type: 'RotateSecret', secret: 'sealed-2', overlapSeconds: 3600, now }).then([
      { type: 'WebhookEndpointSecretRotated', data: { endpointId: 'e1', secret: 'sealed-2', previousSecret: 'sealed-1', previousSecretExpiresAt: '2026-12-01T11:00:00.000Z', rotatedAt: at } },
    ]);
  });

  test('disable only an enabled endpoint; a deleted one is gone for every command', () => {
    spec.given([created, disabled]).when({ type: 'DisableEndpoint', reason: 'failing', detail: 'x', now }).then([]);
    spec.given([created, deleted]).when({ type: 'DisableEndpoint', reason: 'failing', detail: 'x', now }).thenThrows(NotFoundError, 'WEBHOOK_NOT_FOUND');
    spec.given([created, deleted]).when({ type: 'DeleteEndpoint', now }).thenThrows(NotFoundError, 'WEBHOOK_NOT_FOUND');
    spec.given([created, deleted]).when({ type: 'UpdateEndpoint', enabled: true, now }).thenThrows(NotFoundError, 'WEBHOOK_NOT_FOUND');
  });

  test('tests and replays need an enabled endpoint and a sane range', () => {
    spec.given([created, disabled]).when({ type: 'RequestTest', testId: 't', data: null, now }).thenThrows(ConflictError, 'WEBHOOK_DISABLED');
    const since = new Date('2026-11-30T00:00:00Z');
    spec.given([created]).when({ type: 'RequestReplay', replayId: 'r', since, until: since, now }).thenThrows(ValidationError, 'INVALID_RANGE');
    spec.given([created]).when({ type: 'RequestReplay', replayId: 'r', since: new Date('2026-10-01T00:00:00Z'), until: now, now }).thenThrows(ValidationError, 'INVALID_RANGE');
    spec.given([created]).when({ type: 'RequestReplay', replayId: 'r', since, until: now, now }).then([
      { type: 'WebhookReplayRequested', data: { endpointId: 'e1', replayId: 'r', since: since.toISOString(), until: at, requestedAt: at } },
    ]);
  });

  test('a replay completes once', () => {
    const requested: EndpointEvent = { type: 'WebhookReplayRequested', data: { endpointId: 'e1', replayId: 'r', since: at, until: at, requestedAt: at } };
    const completed: EndpointEvent = { type: 'WebhookReplayCompleted', data: { endpointId: 'e1', replayId: 'r', scheduled: 3, completedAt: at } };
    spec.given([created, requested]).when({ type: 'CompleteReplay', replayId: 'r', scheduled: 3, now }).then([completed]);
    spec.given([created, requested, completed]).when({ type: 'CompleteReplay', replayId: 'r', scheduled: 3, now }).then([]);
  });
});
