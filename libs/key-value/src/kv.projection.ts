import type { PoolClient } from '@app/database';
import type { RecordedEvent } from '@app/event-store';
import type { Projection } from '@app/projections';
import { KEY_VALUE_EVENT_TYPES, type KeyValueEvent } from './kv.decider.js';

/** Current entries; `version` is the stream revision + 1 of the last write, so it doubles as the expected version. */
export const keyValueProjection: Projection = {
  name: 'key-value',
  eventTypes: KEY_VALUE_EVENT_TYPES,
  migrations: [
    {
      id: 'key-value/001-entries',
      sql: `
CREATE TABLE kv_entries (
  key text COLLATE "C" PRIMARY KEY,
  value jsonb NOT NULL,
  version bigint NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  expires_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  updated_by jsonb NOT NULL
);
CREATE INDEX kv_entries_tags ON kv_entries USING gin (tags);
CREATE INDEX kv_entries_expiry ON kv_entries (expires_at) WHERE expires_at IS NOT NULL;`,
    },
  ],

  async apply(client: PoolClient, events: readonly RecordedEvent[]) {
    for (const recorded of events) {
      const event = { type: recorded.type, data: recorded.data } as KeyValueEvent;
      if (event.type === 'KeyValueSet') {
        const d = event.data;
        await client.query(
          `INSERT INTO kv_entries (key, value, version, tags, expires_at, created_at, updated_at, updated_by)
           VALUES ($1, $2::jsonb, $3, $4, $5, $6, $6, $7)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, tags = excluded.tags,
             expires_at = excluded.expires_at, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
          [d.key, JSON.stringify(d.value), (recorded.revision + 1n).toString(), d.tags, d.expiresAt, recorded.createdAt, JSON.stringify(recorded.metadata.actor)],
        );
      } else {
        await client.query('DELETE FROM kv_entries WHERE key = $1', [event.data.key]);
      }
    }
  },

  async reset(client: PoolClient) {
    await client.query('TRUNCATE kv_entries');
  },
};
