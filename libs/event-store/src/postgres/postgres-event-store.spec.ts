import { randomUUID } from 'node:crypto';
import { createPool, runMigrations } from '@app/database';
import { createTestDatabase } from '../../../../test/support/database.js';
import { describeEventStoreContract } from '../contract/event-store.contract.js';
import { newEvent } from '../contract/helpers.js';
import { PostgresEventStore } from './postgres-event-store.js';
import { eventStoreMigrations } from './schema.js';

describeEventStoreContract('postgres', async () => {
  const db = await createTestDatabase('es_contract');
  const pool = createPool(db.url);
  await runMigrations(pool, eventStoreMigrations);
  const store = new PostgresEventStore(pool, { connectionString: db.url });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await pool.end();
      await db.drop();
    },
  };
});

describe('postgres event store: readAll behind an older open transaction', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: ReturnType<typeof createPool>;
  let store: PostgresEventStore;

  beforeAll(async () => {
    db = await createTestDatabase('es_read_all');
    pool = createPool(db.url);
    await runMigrations(pool, eventStoreMigrations);
    store = new PostgresEventStore(pool, { connectionString: db.url });
  });
  afterAll(async () => {
    await store?.close();
    await pool?.end();
    await db?.drop();
  });

  const event = (type: string) => newEvent(type);

  test('an append that returned is read as soon as the older writer commits; a filter-unrelated writer does not delay the answer', async () => {
    // An older transaction with an xid holds the visibility horizon below the append that follows it.
    const older = await pool.connect();
    try {
      await older.query('BEGIN');
      await older.query('SELECT pg_current_xact_id()');
      const appended = await store.appendToStream(`hidden-${randomUUID()}`, [event('Hidden')]);

      let answered = false;
      const read = store.readAll({ fromPosition: 'start', filter: { eventTypes: ['Hidden'] } }).then((events) => ((answered = true), events));
      await new Promise((r) => setTimeout(r, 200));
      expect(answered).toBe(false); // still waiting: the event is committed but not yet safely ordered
      await older.query('COMMIT');
      const events = await read;
      expect(events.map((e) => e.position)).toEqual([appended.position]);

      // Nothing matching waits behind the open transaction: the answer is immediate.
      await older.query('BEGIN');
      await older.query('SELECT pg_current_xact_id()');
      await store.appendToStream(`other-${randomUUID()}`, [event('Other')]);
      expect(await store.readAll({ fromPosition: appended.position, filter: { eventTypes: ['Hidden'] } })).toEqual([]);
      await older.query('COMMIT');
    } finally {
      older.release();
    }
  });

  test('headPosition includes an append that returned, once the older writer commits', async () => {
    const older = await pool.connect();
    try {
      await older.query('BEGIN');
      await older.query('SELECT pg_current_xact_id()');
      const appended = await store.appendToStream(`head-${randomUUID()}`, [event('Head')]);
      let answered = false;
      const head = store.headPosition().then((position) => ((answered = true), position));
      await new Promise((r) => setTimeout(r, 200));
      expect(answered).toBe(false);
      await older.query('COMMIT');
      expect(await head).toEqual(appended.position);
    } finally {
      older.release();
    }
  });
});
