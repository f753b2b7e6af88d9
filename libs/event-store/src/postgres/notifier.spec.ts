import { createPool } from '@app/database';
import { createTestDatabase } from '../../../../test/support/database.js';
import { EventNotifier } from './notifier.js';

// Typed wake-ups: an append names its event types, locally and in the NOTIFY payload; a waiter with a type
// filter wakes only for its types, one without a filter (or a payload without names) for everything.
describe('event notifier: wake-ups by event type', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: ReturnType<typeof createPool>;
  let here: EventNotifier;
  let there: EventNotifier;

  beforeAll(async () => {
    db = await createTestDatabase('es_notifier');
    pool = createPool(db.url);
    here = new EventNotifier(pool, db.url);
    there = new EventNotifier(pool, db.url);
    await Promise.all([here.start(), there.start()]);
  });
  afterAll(async () => {
    await here?.close();
    await there?.close();
    await pool?.end();
    await db?.drop();
  });

  const waiter = (notifier: EventNotifier, filter: Parameters<EventNotifier['wait']>[1] | string) => {
    const w = { woken: false, ...notifier.wait(60_000, typeof filter === 'string' ? { types: new Set([filter]), prefixes: [] } : filter) };
    void w.promise.then(() => (w.woken = true));
    return w;
  };
  const settle = () => new Promise((r) => setTimeout(r, 50));

  test('local appends wake the waiters whose filter takes one of their types', async () => {
    const a = waiter(here, 'A');
    const prefixed = waiter(here, { types: new Set(), prefixes: ['Task'] });
    const any = waiter(here, null);
    here.published(['B', 'TaskStarted']);
    await settle();
    expect([a.woken, prefixed.woken, any.woken]).toEqual([false, true, true]);
    here.published(['A']);
    await a.promise;
    expect(a.woken).toBe(true);
  });

  test('a NOTIFY from another process names its types; a payload without names wakes everyone', async () => {
    const a = waiter(there, 'A');
    const b = waiter(there, 'B');
    here.published(['A']);
    await a.promise;
    await settle();
    expect(b.woken).toBe(false);
    // An older process (or more types than fit) sends an empty payload.
    await pool.query(`SELECT pg_notify('opsledger_events', '')`);
    await b.promise;
    const c = waiter(there, 'C');
    here.published(); // types unknown
    await c.promise;
  });
});
