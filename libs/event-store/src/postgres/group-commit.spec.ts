import { createPool, runMigrations } from '@app/database';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../../../../test/support/database.js';
import { newEvent } from '../contract/helpers.js';
import { IdempotencyConflictError, WrongExpectedVersionError } from '../errors.js';
import type { AppendResult, RecordedEvent } from '../types.js';
import { PostgresEventStore } from './postgres-event-store.js';
import { eventStoreMigrations } from './schema.js';

// The postgres store's appendToStream commits concurrent appends in groups (GroupCommit, es_append_many).
describe('group commit of the postgres event store', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: ReturnType<typeof createPool>;
  let store: PostgresEventStore;

  beforeAll(async () => {
    db = await createTestDatabase('es_group_commit');
    pool = createPool(db.url);
    await runMigrations(pool, eventStoreMigrations);
    store = new PostgresEventStore(pool, { connectionString: db.url });
  });
  afterAll(async () => {
    await store?.close();
    await pool?.end();
    await db?.drop();
  });

  async function readAllOf(prefix: string): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    let from: RecordedEvent['position'] | 'start' = 'start';
    for (;;) {
      const page = await store.readAll({ fromPosition: from, maxCount: 1000, filter: { streamPrefixes: [prefix] } });
      events.push(...page);
      if (page.length < 1000) return events;
      from = page[page.length - 1].position;
    }
  }

  test('appends asked together share transactions, and every mode answers as it does on its own', async () => {
    const run = randomUUID().slice(0, 8);
    const streams = Array.from({ length: 200 }, (_, i) => `gc${run}-${i}`);
    const created = await Promise.all(streams.map((s) => store.appendToStream(s, [newEvent('Created')], { expectedRevision: 'no_stream' })));
    expect(created.every((r) => r.nextExpectedRevision === 0n)).toBe(true);
    expect(new Set(created.map((r) => r.position.commit)).size).toBeLessThan(streams.length / 10);

    const retried = newEvent('Retried');
    const original = await store.appendToStream(`gc${run}-retry`, [retried]);
    const taken = newEvent('Taken');
    await store.appendToStream(`gc${run}-owner`, [taken]);
    // One tick: all of these go into the same transaction.
    const results = await Promise.allSettled([
      ...streams.map((s, i) => store.appendToStream(s, [newEvent('Changed'), newEvent('Changed')], { expectedRevision: (['any', 'stream_exists', 0n] as const)[i % 3] })),
      store.appendToStream(`gc${run}-missing`, [newEvent('Changed')], { expectedRevision: 'stream_exists' }),
      store.appendToStream(streams[0], [newEvent('Changed')], { expectedRevision: 'no_stream' }),
      store.appendToStream(streams[1], [newEvent('Changed')], { expectedRevision: 7n }),
      store.appendToStream(`gc${run}-thief`, [taken]),
      store.appendToStream(`gc${run}-retry`, [retried]),
    ]);
    const changed = results.slice(0, streams.length);
    expect(changed.every((r) => r.status === 'fulfilled' && r.value.nextExpectedRevision === 2n)).toBe(true);
    expect(new Set(changed.map((r) => (r as PromiseFulfilledResult<AppendResult>).value.position.commit)).size).toBeLessThan(streams.length / 10);
    const [missing, notNew, stale, thief, retry] = results.slice(streams.length);
    expect(missing).toMatchObject({ status: 'rejected', reason: expect.any(WrongExpectedVersionError) });
    expect((missing as PromiseRejectedResult).reason.actual).toBe('no_stream');
    expect(notNew).toMatchObject({ status: 'rejected', reason: expect.any(WrongExpectedVersionError) });
    expect((stale as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedVersionError);
    expect(thief).toMatchObject({ status: 'rejected', reason: expect.any(IdempotencyConflictError) });
    expect(retry).toEqual({ status: 'fulfilled', value: original });
    // The failed appends wrote nothing, the others all of theirs, each stream in its order.
    expect(await store.readStream(`gc${run}-missing`)).toEqual([]);
    expect(await store.readStream(`gc${run}-thief`)).toEqual([]);
    for (const s of streams.slice(0, 6)) expect((await store.readStream(s)).map((e) => [e.type, e.revision])).toEqual([['Created', 0n], ['Changed', 1n], ['Changed', 2n]]);
    expect(await readAllOf(`gc${run}-`)).toHaveLength(streams.length * 3 + 2);
  });

  test('an error raised inside a group fails only the append at fault; the others are written', async () => {
    const run = randomUUID().slice(0, 8);
    const bad = { ...newEvent('Broken'), id: 'not-a-uuid' };
    const results = await Promise.allSettled([
      ...Array.from({ length: 20 }, (_, i) => store.appendToStream(`err${run}-${i}`, [newEvent('Fine')], { expectedRevision: 'no_stream' })),
      store.appendToStream(`err${run}-bad`, [bad]),
    ]);
    expect(results.slice(0, 20).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(results[20]).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ code: '22P02' }) });
    expect(await readAllOf(`err${run}-`)).toHaveLength(20);
    expect(await store.readStream(`err${run}-bad`)).toEqual([]);
  });

  test('large appends are split over several groups; each is written whole', async () => {
    const run = randomUUID().slice(0, 8);
    // About 400,000 characters each: at most two fit the group limit (1 MiB of characters).
    const big = (i: number) => ({ ...newEvent('Large'), data: { i, blob: 'x'.repeat(400_000) } });
    const results = await Promise.all([
      ...Array.from({ length: 8 }, (_, i) => store.appendToStream(`big${run}-${i}`, [big(i)], { expectedRevision: 'no_stream' })),
      ...Array.from({ length: 40 }, (_, i) => store.appendToStream(`small${run}-${i}`, [newEvent('Small')], { expectedRevision: 'no_stream' })),
    ]);
    const commits = new Map<bigint, number>();
    for (const r of results.slice(0, 8)) commits.set(r.position.commit, (commits.get(r.position.commit) ?? 0) + 1);
    expect(commits.size).toBeGreaterThanOrEqual(4);
    expect(Math.max(...commits.values())).toBeLessThanOrEqual(2);
    // The small ones still share transactions.
    expect(new Set(results.slice(8).map((r) => r.position.commit)).size).toBeLessThan(10);
    const [read] = await store.readStream(`big${run}-5`);
    expect(read.data).toEqual({ i: 5, blob: 'x'.repeat(400_000) });
  });

  test("'any' appends of concurrent groups to shared streams: $all keeps every stream's order", async () => {
    const run = randomUUID().slice(0, 8);
    // Two stores on one database: their groups run in separate transactions at the same time, and each store
    // keeps two in flight.
    const otherPool = createPool(db.url);
    const other = new PostgresEventStore(otherPool, { connectionString: db.url });
    try {
      const shared = Array.from({ length: 6 }, (_, i) => `any${run}-shared${i}`);
      let written = 0;
      const writer = async (s: PostgresEventStore, w: number) => {
        for (let i = 0; i < 60; i++) {
          const pick = (w * 7 + i * 5) % shared.length;
          const appends = [s.appendToStream(shared[pick], [newEvent('Shared')]), s.appendToStream(`any${run}-own${w}-${i}`, [newEvent('Own')])];
          if (i % 3 === 0) appends.push(s.appendToStream(shared[(pick + 1) % shared.length], [newEvent('Shared'), newEvent('Shared')], { expectedRevision: 'stream_exists' }).catch(() => ({}) as AppendResult));
          await Promise.all(appends);
          written++;
        }
      };
      await Promise.all(Array.from({ length: 12 }, (_, w) => writer(w % 2 ? other : store, w)));
      expect(written).toBe(12 * 60);
      const events = await readAllOf(`any${run}-shared`);
      const next = new Map<string, bigint>();
      for (const e of events) {
        expect(e.revision).toBe(next.get(e.streamId) ?? 0n);
        next.set(e.streamId, e.revision + 1n);
      }
      for (const s of shared) expect(next.get(s)).toBe(BigInt((await store.readStream(s)).length));
    } finally {
      await other.close();
      await otherPool.end();
    }
  });
});
