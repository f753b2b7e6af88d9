import { randomUUID } from 'node:crypto';
import { createPool, runMigrations, type Pool } from '@app/database';
import { PostgresEventStore, eventStoreMigrations } from '@app/event-store';
import type { RecordedEvent } from '@app/event-store';
import { newEvent, newEvents, sleep, waitFor } from '../../event-store/src/contract/helpers.js';
import { createTestDatabase } from '../../../test/support/database.js';
import { ProjectionPositions } from './positions.js';
import type { Projection } from './projection.js';
import { ProjectionRunner } from './runner.js';
import { projectionMigrations } from './schema.js';

/** A projection that counts what it is handed: its batches (sizes, in order) and the events' ids. */
function countingProjection(name: string, eventType: string, batchIntervalMs?: number) {
  const batches: { size: number; at: number }[] = [];
  const ids: string[] = [];
  const projection: Projection = {
    name,
    eventTypes: [eventType],
    batchIntervalMs,
    migrations: [],
    apply: async (_client, events: readonly RecordedEvent[]) => {
      batches.push({ size: events.length, at: Date.now() });
      ids.push(...events.map((e) => e.id));
    },
    reset: async () => undefined,
  };
  return { projection, batches, ids };
}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('projection runner: batchIntervalMs', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: Pool;
  let store: PostgresEventStore;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('projection_runner');
    pool = createPool(db.url);
    await runMigrations(pool, [...eventStoreMigrations, ...projectionMigrations]);
    store = new PostgresEventStore(pool, { connectionString: db.url });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await store?.close();
    await pool?.end();
    await db?.drop();
  });

  async function startRunner(projections: Projection[]): Promise<ProjectionRunner> {
    const positions = new ProjectionPositions(pool, db.url);
    await positions.start();
    const runner = new ProjectionRunner(pool, store, projections, positions, db.url, silent);
    await runner.start();
    cleanups.push(async () => {
      await runner.stop();
      await positions.close();
    });
    return runner;
  }

  test('under a steady trickle, a paced projection gets at most one batch per interval, every event once and in order; an unpaced one keeps up event by event', async () => {
    const type = `Trickle-${randomUUID()}`;
    const paced = countingProjection(`paced-${randomUUID()}`, type, 300);
    const unpaced = countingProjection(`unpaced-${randomUUID()}`, type);
    await startRunner([paced.projection, unpaced.projection]);

    const appended: string[] = [];
    for (let i = 0; i < 40; i++) {
      const event = newEvent(type, { i });
      await store.appendToStream(`trickle-${randomUUID()}`, [event]);
      appended.push(event.id);
      await sleep(25);
    }
    await waitFor(() => paced.ids.length === 40 && unpaced.ids.length === 40, () => `all applied (paced ${paced.ids.length}, unpaced ${unpaced.ids.length})`);

    expect(paced.ids).toEqual(appended);
    expect(unpaced.ids).toEqual(appended);
    // Paced batches are far apart (the next read waits until the interval after the last batch began; half of it
    // leaves room for the time a batch takes before apply is called), the unpaced ones follow the 25 ms trickle.
    for (let i = 1; i < paced.batches.length; i++) expect(paced.batches[i].at - paced.batches[i - 1].at).toBeGreaterThanOrEqual(150);
    expect(paced.batches.length).toBeLessThan(unpaced.batches.length);
  });

  test('catching up is not paced, and stop() cuts a pause short', async () => {
    const type = `Backlog-${randomUUID()}`;
    // 2,500 events exist before the runner starts: batches of at most 1,000, only the last one caught up.
    for (let i = 0; i < 5; i++) await store.appendToStream(`backlog-${randomUUID()}`, newEvents(500, type, i * 500));
    const paced = countingProjection(`paced-${randomUUID()}`, type, 60_000);
    const started = Date.now();
    const runner = await startRunner([paced.projection]);
    await waitFor(() => paced.ids.length === 2500, () => `backlog applied (${paced.ids.length})`);
    expect(paced.batches.map((b) => b.size)).toEqual([1000, 1000, 500]);
    expect(Date.now() - started).toBeLessThan(30_000); // far below one 60 s interval: no pause between catch-up batches

    // Caught up: the runner now pauses for a minute before reading again, so a new event waits...
    const late = newEvent(type);
    await store.appendToStream(`late-${randomUUID()}`, [late]);
    await sleep(500);
    expect(paced.ids.includes(late.id)).toBe(false);
    // ...and stopping does not wait for the pause to end.
    const stopping = Date.now();
    await runner.stop();
    expect(Date.now() - stopping).toBeLessThan(30_000);

    // The held-back event was not lost: the next leader reads it from the checkpoint.
    const next = countingProjection(paced.projection.name, type, 60_000);
    await startRunner([next.projection]);
    await waitFor(() => next.ids.includes(late.id), 'the late event applied by the next runner');
    expect(next.ids).toEqual([late.id]);
  });
});
