import { createPool, runMigrations } from '@app/database';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../../../../test/support/database.js';
import { PostgresEventStore } from './postgres-event-store.js';
import { eventStoreMigrations } from './schema.js';

test('append, read and subscribe', async () => {
  const db = await createTestDatabase('smoke');
  const pool = createPool(db.url);
  await runMigrations(pool, eventStoreMigrations);
  const store = new PostgresEventStore(pool, { connectionString: db.url });
  const meta = { actor: { kind: 'system' as const, id: 't' }, correlationId: 'c', causationId: 'c' };
  const r = await store.appendToStream('a-1', [{ id: randomUUID(), type: 'A', data: { n: 1 }, metadata: meta }], { expectedRevision: 'no_stream' });
  expect(r.nextExpectedRevision).toBe(0n);
  const seen: string[] = [];
  const sub = store.subscribeToAll({ onBatch: async (b) => { seen.push(...b.events.map((e) => e.type)); } });
  await store.appendToStream('a-1', [{ id: randomUUID(), type: 'B', data: {}, metadata: meta }], { expectedRevision: 0n });
  for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  expect(seen).toEqual(['A', 'B']);
  await sub.close();
  await store.close();
  await pool.end();
  await db.drop();
});
