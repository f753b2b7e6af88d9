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

describe('postgres event store: a subscription behind an older open transaction', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: ReturnType<typeof createPool>;
  let reads = 0;

  beforeAll(async () => {
    db = await createTestDatabase('es_sub_pending');
    pool = createPool(db.url);
    await runMigrations(pool, eventStoreMigrations);
    // Counts the subscription's page reads (the statement with the 'p' branch), passing every query through.
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const config = args[0] as { text?: string } | string;
      if (typeof config === 'object' && config.text?.includes("SELECT 'p'")) reads++;
      return query(...args);
    };
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  /** A subscription to `types` from just after a marker event; the events it receives, as they come. */
  async function subscribe(store: PostgresEventStore, types: string[]) {
    const marker = await store.appendToStream(`marker-${randomUUID()}`, [newEvent('Marker')]);
    const received: string[] = [];
    let arrived: (() => void) | null = null;
    const sub = store.subscribeToAll({
      fromPosition: marker.position,
      filter: { eventTypes: types },
      onBatch: async (batch) => {
        for (const e of batch.events) received.push(e.type);
        if (batch.events.length) arrived?.();
      },
    });
    const next = () => new Promise<void>((resolve) => (arrived = resolve));
    return { sub, received, next };
  }

  async function olderTransaction() {
    const older = await pool.connect();
    await older.query('BEGIN');
    await older.query('SELECT pg_current_xact_id()');
    return {
      commit: async () => {
        await older.query('COMMIT');
        older.release();
      },
    };
  }

  test('an event of its type held back by a transaction that appends nothing arrives once that one ends, without waiting for the poll interval', async () => {
    const store = new PostgresEventStore(pool, { connectionString: db.url, pollIntervalMs: 120_000 });
    try {
      const { sub, received, next } = await subscribe(store, ['Held']);
      const older = await olderTransaction();
      const arrival = next();
      await store.appendToStream(`held-${randomUUID()}`, [newEvent('Held')]);
      await new Promise((r) => setTimeout(r, 150));
      expect(received).toEqual([]); // committed, but not yet safely ordered
      await older.commit(); // no append, so no NOTIFY: only the subscription's own polling finds the event
      await arrival;
      expect(received).toEqual(['Held']);
      await sub.close();
    } finally {
      await store.close();
    }
  }, 20_000);

  test('events of other types held back by an older transaction do not make it poll', async () => {
    const store = new PostgresEventStore(pool, { connectionString: db.url, pollIntervalMs: 200 });
    try {
      const { sub, received } = await subscribe(store, ['Wanted']);
      await new Promise((r) => setTimeout(r, 300));
      const older = await olderTransaction();
      for (let i = 0; i < 3; i++) await store.appendToStream(`other-${randomUUID()}`, [newEvent('Other')]);
      reads = 0;
      // About 1 s with the others committed behind the open transaction: a read per poll interval (5), where
      // polling for held-back events (every 1 to 20 ms) would read some fifty times.
      await new Promise((r) => setTimeout(r, 1000));
      const counted = reads;
      await older.commit();
      expect(counted).toBeLessThanOrEqual(10);
      expect(received).toEqual([]);
      await sub.close();
    } finally {
      await store.close();
    }
  });
});
