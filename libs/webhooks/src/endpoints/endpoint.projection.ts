import type { PoolClient } from '@app/database';
import type { RecordedEvent } from '@app/event-store';
import type { Projection } from '@app/projections';
import { ENDPOINT_EVENT_TYPES, type EndpointEvent } from './endpoint.decider.js';

/** Endpoints as clients see them (never the secret) and their replays. Deleted endpoints stay, marked, so their delivery history can be read. */
export const webhookEndpointProjection: Projection = {
  name: 'webhook-endpoints',
  eventTypes: ENDPOINT_EVENT_TYPES.filter((t) => t !== 'WebhookTestRequested'),
  migrations: [
    {
      id: 'webhooks/001-endpoints',
      sql: `
CREATE TABLE webhook_endpoints (
  endpoint_id text PRIMARY KEY,
  name text NOT NULL,
  definition jsonb NOT NULL,
  status text NOT NULL,
  disabled_reason text,
  disabled_detail text,
  disabled_at timestamptz,
  secret_rotated_at timestamptz,
  previous_secret_expires_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_live ON webhook_endpoints (created_at, endpoint_id) WHERE status <> 'deleted';
CREATE TABLE webhook_replays_view (
  replay_id text PRIMARY KEY,
  endpoint_id text NOT NULL,
  since timestamptz NOT NULL,
  until timestamptz NOT NULL,
  status text NOT NULL,
  scheduled integer,
  requested_at timestamptz NOT NULL,
  completed_at timestamptz
);
CREATE INDEX webhook_replays_view_endpoint ON webhook_replays_view (endpoint_id, requested_at);`,
    },
  ],

  async apply(client: PoolClient, events: readonly RecordedEvent[]) {
    for (const recorded of events) {
      const event = { type: recorded.type, data: recorded.data } as EndpointEvent;
      switch (event.type) {
        case 'WebhookEndpointCreated': {
          const d = event.data;
          await client.query(
            `INSERT INTO webhook_endpoints (endpoint_id, name, definition, status, disabled_reason, disabled_detail, disabled_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (endpoint_id) DO NOTHING`,
            [d.endpointId, d.definition.name, JSON.stringify(d.definition), d.enabled ? 'enabled' : 'disabled', d.enabled ? null : 'manual', d.enabled ? null : 'created disabled', d.enabled ? null : d.createdAt, d.createdAt],
          );
          break;
        }
        case 'WebhookEndpointUpdated':
          await client.query('UPDATE webhook_endpoints SET name = $2, definition = $3, updated_at = $4 WHERE endpoint_id = $1', [
            event.data.endpointId,
            event.data.definition.name,
            JSON.stringify(event.data.definition),
            event.data.updatedAt,
          ]);
          break;
        case 'WebhookEndpointSecretRotated':
          await client.query('UPDATE webhook_endpoints SET secret_rotated_at = $2, previous_secret_expires_at = $3, updated_at = $2 WHERE endpoint_id = $1', [
            event.data.endpointId,
            event.data.rotatedAt,
            event.data.previousSecretExpiresAt,
          ]);
          break;
        case 'WebhookEndpointDisabled':
          await client.query(
            `UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2, disabled_detail = $3, disabled_at = $4, updated_at = $4 WHERE endpoint_id = $1`,
            [event.data.endpointId, event.data.reason, event.data.detail, event.data.disabledAt],
          );
          break;
        case 'WebhookEndpointEnabled':
          await client.query(
            `UPDATE webhook_endpoints SET status = 'enabled', disabled_reason = NULL, disabled_detail = NULL, disabled_at = NULL, updated_at = $2 WHERE endpoint_id = $1`,
            [event.data.endpointId, event.data.enabledAt],
          );
          break;
        case 'WebhookEndpointDeleted':
          await client.query(`UPDATE webhook_endpoints SET status = 'deleted', updated_at = $2 WHERE endpoint_id = $1`, [event.data.endpointId, event.data.deletedAt]);
          break;
        case 'WebhookReplayRequested':
          await client.query(
            `INSERT INTO webhook_replays_view (replay_id, endpoint_id, since, until, status, requested_at) VALUES ($1, $2, $3, $4, 'running', $5) ON CONFLICT DO NOTHING`,
            [event.data.replayId, event.data.endpointId, event.data.since, event.data.until, event.data.requestedAt],
          );
          break;
        case 'WebhookReplayCompleted':
          await client.query(`UPDATE webhook_replays_view SET status = 'completed', scheduled = $2, completed_at = $3 WHERE replay_id = $1`, [
            event.data.replayId,
            event.data.scheduled,
            event.data.completedAt,
          ]);
          break;
        default:
          break;
      }
    }
  },

  async reset(client: PoolClient) {
    await client.query('TRUNCATE webhook_endpoints, webhook_replays_view');
  },
};
