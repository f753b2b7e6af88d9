import { createPool, runMigrations } from '@app/database';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../../../../test/support/database.js';
import { newEvent } from '../contract/helpers.js';
import { IdempotencyConflictError, WrongExpectedVersionError } from '../errors.js';
import { comparePositions } from '../position.js';
import type { RecordedEvent } from '../types.js';
import { AppendBatcher } from './append-batcher.js';
import { PostgresEventStore } from './postgres-event-store.js';
import { eventStoreMigrations } from './schema.js';

describe('AppendBatcher on the postgres event store', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: ReturnType<typeof createPool>;
  let store: PostgresEventStore;
  let batcher: AppendBatcher;

  beforeAll(async () => {
    db = await createTestDatabase('es_batcher');
    pool = createPool(db.url);
    await runMigrations(pool, eventStoreMigrations);
    store = new PostgresEventStore(pool, { connectionString: db.url });
    batcher = new AppendBatcher(store, pool);
  });
  afterAll(async () => {
    await store?.close();
    await pool?.end();
    await db?.drop();
  });

  test('appends asked together are written in fewer transactions, each with the answers appendToStream gives', async () => {
    const run = randomUUID().slice(0, 8);
    const streams = Array.from({ length: 300 }, (_, i) => `batch${run}-${i}`);
    const first = await Promise.all(streams.map((s) => batcher.append(s, [newEvent('Created')], 'no_stream')));
    const second = await Promise.all(streams.map((s) => batcher.append(s, [newEvent('Changed'), newEvent('Changed')], 0n)));
    expect(first.every((r) => r.nextExpectedRevision === 0n)).toBe(true);
    expect(second.every((r) => r.nextExpectedRevision === 2n)).toBe(true);
    // Fewer commits than appends: the 300 first events share transaction ids.
    expect(new Set(first.map((r) => r.position.commit)).size).toBeLessThan(streams.length / 10);
    for (const s of streams.slice(0, 5)) expect((await store.readStream(s)).map((e) => e.type)).toEqual(['Created', 'Changed', 'Changed']);
  });

  test('a wrong expected revision or an id used elsewhere fails only that append; an exact retry answers as the first time', async () => {
    const run = randomUUID().slice(0, 8);
    const retried = newEvent('Created');
    const original = await batcher.append(`ok${run}`, [retried], 'no_stream');
    const taken = newEvent('Created');
    await batcher.append(`owner${run}`, [taken], 'no_stream');
    const results = await Promise.allSettled([
      batcher.append(`ok${run}`, [newEvent('Changed')], 0n),
      batcher.append(`ok${run}-stale`, [newEvent('Changed')], 3n),
      batcher.append(`owner${run}`, [newEvent('Changed')], 'no_stream'),
      batcher.append(`thief${run}`, [taken], 'no_stream'),
      batcher.append(`ok${run}`, [retried], 'no_stream'),
    ]);
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { nextExpectedRevision: 1n } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: expect.any(WrongExpectedVersionError) });
    expect((results[1] as PromiseRejectedResult).reason.actual).toBe('no_stream');
    expect(results[2]).toMatchObject({ status: 'rejected', reason: expect.any(WrongExpectedVersionError) });
    expect((results[2] as PromiseRejectedResult).reason.actual).toBe(0n);
    expect(results[3]).toMatchObject({ status: 'rejected', reason: expect.any(IdempotencyConflictError) });
    expect(results[4]).toMatchObject({ status: 'fulfilled', value: original });
    expect(await store.readStream(`thief${run}`)).toEqual([]);
    expect(await store.readStream(`ok${run}-stale`)).toEqual([]);
  });

  test('a subscriber sees every batched event once, in order, while plain appends run beside the batches', async () => {
    const run = randomUUID().slice(0, 8);
    const seen: RecordedEvent[] = [];
    const head = await store.headPosition();
    const subscription = store.subscribeToAll({
      fromPosition: head ?? 'start',
      filter: { streamPrefixes: [`order${run}-`] },
      onBatch: async (batch) => void seen.push(...batch.events),
    });
    try {
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 20; i++) {
          const stream = `order${run}-${w}-${i}`;
          if (w % 2) await store.appendToStream(stream, [newEvent('Plain')], { expectedRevision: 'no_stream' });
          else await batcher.append(stream, [newEvent('Batched'), newEvent('Batched')], 'no_stream');
        }
      });
      await Promise.all(writers);
      const expected = 4 * 20 * 2 + 4 * 20;
      const deadline = Date.now() + 20_000;
      while (seen.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(seen).toHaveLength(expected);
      expect(new Set(seen.map((e) => e.id)).size).toBe(expected);
      for (let i = 1; i < seen.length; i++) expect(comparePositions(seen[i - 1].position, seen[i].position)).toBeLessThan(0);
    } finally {
      await subscription.close();
    }
  });
});
