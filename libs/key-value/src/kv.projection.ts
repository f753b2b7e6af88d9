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

  /**
   * A batch in two statements at most: the events are folded per key first (the last write of a key
   * decides its row), then one DELETE and one multi-row upsert. A key deleted and set again within the
   * batch is deleted first, so its row starts anew (created_at of the first write after the delete).
   */
  async apply(client: PoolClient, events: readonly RecordedEvent[]) {
    const rows = new Map<string, { set: RecordedEvent | null; createdAt: Date | null; recreated: boolean }>();
    for (const recorded of events) {
      const event = { type: recorded.type, data: recorded.data } as KeyValueEvent;
      const key = event.data.key;
      const row = rows.get(key) ?? { set: null, createdAt: null, recreated: false };
      if (event.type === 'KeyValueSet') {
        row.set = recorded;
        row.createdAt ??= recorded.createdAt;
      } else {
        row.set = null;
        row.createdAt = null;
        row.recreated = true;
      }
      rows.set(key, row);
    }
    const deletes = [...rows].filter(([, r]) => r.recreated).map(([key]) => key);
    if (deletes.length) await client.query('DELETE FROM kv_entries WHERE key = ANY($1::text[])', [deletes]);
    type SetData = Extract<KeyValueEvent, { type: 'KeyValueSet' }>['data'];
    const sets = [...rows.values()].flatMap(({ set, createdAt }) => (set ? [{ set, data: set.data as SetData, createdAt: createdAt! }] : []));
    if (!sets.length) return;
    await client.query(
      `INSERT INTO kv_entries (key, value, version, tags, expires_at, created_at, updated_at, updated_by)
       SELECT k, v, ver, ARRAY(SELECT jsonb_array_elements_text(tg)), exp, cr, up, by
       FROM unnest($1::text[], $2::jsonb[], $3::bigint[], $4::jsonb[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::jsonb[])
         AS u(k, v, ver, tg, exp, cr, up, by)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, tags = excluded.tags,
         expires_at = excluded.expires_at, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      [
        sets.map((r) => r.data.key),
        sets.map((r) => JSON.stringify(r.data.value)),
        sets.map((r) => (r.set.revision + 1n).toString()),
        sets.map((r) => JSON.stringify(r.data.tags)),
        sets.map((r) => r.data.expiresAt),
        sets.map((r) => r.createdAt),
        sets.map((r) => r.set.createdAt),
        sets.map((r) => JSON.stringify(r.set.metadata.actor)),
      ],
    );
  },

  async reset(client: PoolClient) {
    await client.query('TRUNCATE kv_entries');
  },
};
