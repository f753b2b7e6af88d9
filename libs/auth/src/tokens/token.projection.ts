import type { PoolClient } from '@app/database';
import type { RecordedEvent } from '@app/event-store';
import type { Projection } from '@app/projections';
import { TOKEN_EVENT_TYPES, type TokenEvent } from './token.decider.js';

/** Token read model: metadata for listing, and secret hashes (current + previous during a grace period) for verification. */
export const tokenProjection: Projection = {
  name: 'application-tokens',
  eventTypes: TOKEN_EVENT_TYPES,
  migrations: [
    {
      id: 'auth/001-application-tokens',
      sql: `
CREATE TABLE application_tokens (
  id text PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL,
  scopes text[] NOT NULL,
  expires_at timestamptz,
  created_at timestamptz NOT NULL,
  created_by jsonb NOT NULL,
  rotated_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX application_tokens_created ON application_tokens (created_at, id);
CREATE TABLE application_token_secrets (
  hash text PRIMARY KEY,
  token_id text NOT NULL,
  valid_until timestamptz
);
CREATE INDEX application_token_secrets_token ON application_token_secrets (token_id);
-- Operational counters, written in batches outside the event log; not rebuilt by a replay.
CREATE TABLE application_token_usage (
  token_id text PRIMARY KEY,
  last_used_at timestamptz NOT NULL,
  last_used_ip text,
  use_count bigint NOT NULL DEFAULT 0
);`,
    },
  ],

  async apply(client: PoolClient, events: readonly RecordedEvent[]) {
    for (const recorded of events) {
      const event = { type: recorded.type, data: recorded.data } as TokenEvent;
      switch (event.type) {
        case 'ApplicationTokenCreated': {
          const d = event.data;
          await client.query(
            `INSERT INTO application_tokens (id, name, role, scopes, expires_at, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [d.tokenId, d.name, d.role, d.scopes, d.expiresAt, d.createdAt, JSON.stringify(recorded.metadata.actor)],
          );
          await client.query('INSERT INTO application_token_secrets (hash, token_id, valid_until) VALUES ($1, $2, NULL)', [d.secretHash, d.tokenId]);
          break;
        }
        case 'ApplicationTokenRotated': {
          const d = event.data;
          await client.query('UPDATE application_tokens SET rotated_at = $2, expires_at = $3 WHERE id = $1', [d.tokenId, d.rotatedAt, d.expiresAt]);
          await client.query('DELETE FROM application_token_secrets WHERE token_id = $1 AND hash <> $2', [d.tokenId, d.previousSecretHash]);
          await client.query('UPDATE application_token_secrets SET valid_until = $2 WHERE hash = $1', [d.previousSecretHash, d.previousValidUntil]);
          await client.query('INSERT INTO application_token_secrets (hash, token_id, valid_until) VALUES ($1, $2, NULL)', [d.secretHash, d.tokenId]);
          break;
        }
        case 'ApplicationTokenRevoked':
          await client.query('UPDATE application_tokens SET revoked_at = $2 WHERE id = $1', [event.data.tokenId, event.data.revokedAt]);
          await client.query('DELETE FROM application_token_secrets WHERE token_id = $1', [event.data.tokenId]);
          break;
      }
    }
  },

  async reset(client: PoolClient) {
    await client.query('TRUNCATE application_tokens, application_token_secrets');
  },
};
