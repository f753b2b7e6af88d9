import { randomUUID } from 'node:crypto';
import { IdempotencyConflictError, WrongExpectedVersionError } from '../errors.js';
import { comparePositions } from '../position.js';
import type { ExpectedRevision } from '../types.js';
import { expectAscending, ids, newEvent, newEvents, testScope, type ContractContext } from './helpers.js';

async function wrongExpectedVersion(promise: Promise<unknown>): Promise<WrongExpectedVersionError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WrongExpectedVersionError);
  return error as WrongExpectedVersionError;
}

export function describeAppend(ctx: ContractContext): void {
  describe('appendToStream', () => {
    it('writes events with per-stream revisions and increasing global positions', async () => {
      const { stream } = testScope();
      const first = newEvent('Opened', { name: 'a' });
      const r1 = await ctx.store.appendToStream(stream('acct'), [first], { expectedRevision: 'no_stream' });
      expect(r1.nextExpectedRevision).toBe(0n);
      const batch = newEvents(3, 'Deposited');
      const r2 = await ctx.store.appendToStream(stream('acct'), batch, { expectedRevision: 0n });
      expect(r2.nextExpectedRevision).toBe(3n);
      expect(comparePositions(r2.position, r1.position)).toBeGreaterThan(0);

      const read = await ctx.store.readStream(stream('acct'));
      expect(ids(read)).toEqual(ids([first, ...batch]));
      expect(read.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n]);
      expect(read.map((e) => e.type)).toEqual(['Opened', 'Deposited', 'Deposited', 'Deposited']);
      expect(read.map((e) => e.data)).toEqual([{ name: 'a' }, { n: 0 }, { n: 1 }, { n: 2 }]);
      expect(read.every((e) => e.streamId === stream('acct'))).toBe(true);
      expect(read.every((e) => e.createdAt instanceof Date && !Number.isNaN(e.createdAt.getTime()))).toBe(true);
      expectAscending(read);
      expect(read[0].position).toEqual(r1.position);
      expect(read[3].position).toEqual(r2.position);
    });

    it("appends with 'any' (the default) whether or not the stream exists", async () => {
      const { stream } = testScope();
      expect((await ctx.store.appendToStream(stream('s'), [newEvent('A')])).nextExpectedRevision).toBe(0n);
      expect((await ctx.store.appendToStream(stream('s'), [newEvent('B')], { expectedRevision: 'any' })).nextExpectedRevision).toBe(1n);
      expect(await ctx.store.readStream(stream('s'))).toHaveLength(2);
    });

    it("'no_stream' fails on an existing stream with the actual revision", async () => {
      const { stream } = testScope();
      await ctx.store.appendToStream(stream('s'), newEvents(2, 'A'), { expectedRevision: 'no_stream' });
      const error = await wrongExpectedVersion(ctx.store.appendToStream(stream('s'), [newEvent('B')], { expectedRevision: 'no_stream' }));
      expect(error.actual).toBe(1n);
      expect(error.expected).toBe('no_stream');
      expect(error.streamId).toBe(stream('s'));
      expect(error.code).toBe('WRONG_EXPECTED_VERSION');
      expect(await ctx.store.readStream(stream('s'))).toHaveLength(2);
    });

    it("'stream_exists' fails on a missing stream with actual 'no_stream' and succeeds on an existing one", async () => {
      const { stream } = testScope();
      const error = await wrongExpectedVersion(ctx.store.appendToStream(stream('s'), [newEvent('A')], { expectedRevision: 'stream_exists' }));
      expect(error.actual).toBe('no_stream');
      expect(error.expected).toBe('stream_exists');
      expect(await ctx.store.readStream(stream('s'))).toEqual([]);

      await ctx.store.appendToStream(stream('s'), [newEvent('A')]);
      const result = await ctx.store.appendToStream(stream('s'), [newEvent('B')], { expectedRevision: 'stream_exists' });
      expect(result.nextExpectedRevision).toBe(1n);
    });

    it('an exact revision must equal the current one', async () => {
      const { stream } = testScope();
      const missing = await wrongExpectedVersion(ctx.store.appendToStream(stream('s'), [newEvent('A')], { expectedRevision: 0n }));
      expect(missing.actual).toBe('no_stream');
      expect(missing.expected).toBe(0n);

      await ctx.store.appendToStream(stream('s'), newEvents(3, 'A'), { expectedRevision: 'no_stream' });
      for (const stale of [0n, 1n, 3n, 7n] satisfies ExpectedRevision[]) {
        const error = await wrongExpectedVersion(ctx.store.appendToStream(stream('s'), [newEvent('B')], { expectedRevision: stale }));
        expect(error.actual).toBe(2n);
        expect(error.expected).toBe(stale);
      }
      expect((await ctx.store.appendToStream(stream('s'), [newEvent('B')], { expectedRevision: 2n })).nextExpectedRevision).toBe(3n);
      expect(await ctx.store.readStream(stream('s'))).toHaveLength(4);
    });

    it('re-appending the same event ids is idempotent in every expected-revision mode', async () => {
      const { stream } = testScope();
      const created = newEvents(2, 'Created');
      const first = await ctx.store.appendToStream(stream('s'), created, { expectedRevision: 'no_stream' });
      const retry = await ctx.store.appendToStream(stream('s'), created, { expectedRevision: 'no_stream' });
      expect(retry).toEqual(first);

      const updated = [newEvent('Updated')];
      const second = await ctx.store.appendToStream(stream('s'), updated, { expectedRevision: 1n });
      expect(second.nextExpectedRevision).toBe(2n);
      await ctx.store.appendToStream(stream('s'), [newEvent('Later')], { expectedRevision: 2n });

      // Retries that arrive after the stream moved on answer as the original append did.
      expect(await ctx.store.appendToStream(stream('s'), updated, { expectedRevision: 1n })).toEqual(second);
      expect(await ctx.store.appendToStream(stream('s'), updated, { expectedRevision: 'any' })).toEqual(second);
      expect(await ctx.store.appendToStream(stream('s'), created, { expectedRevision: 'no_stream' })).toEqual(first);

      const read = await ctx.store.readStream(stream('s'));
      expect(read.map((e) => e.type)).toEqual(['Created', 'Created', 'Updated', 'Later']);
    });

    it('an event id used in another stream is never taken for a retry of that append', async () => {
      const { stream } = testScope();
      const event = newEvent('Created');
      const original = await ctx.store.appendToStream(stream('a'), [event]);
      const reuse = ctx.store.appendToStream(stream('b'), [{ ...event, type: 'Other' }]);
      if (ctx.store.kind === 'esdb') {
        // EventStoreDB scopes idempotency to one stream: the id is simply written again.
        const result = await reuse;
        expect(result.nextExpectedRevision).toBe(0n);
        expect(comparePositions(result.position, original.position)).toBeGreaterThan(0);
        expect((await ctx.store.readStream(stream('b'))).map((e) => e.type)).toEqual(['Other']);
      } else {
        await expect(reuse).rejects.toBeInstanceOf(IdempotencyConflictError);
        expect(await ctx.store.readStream(stream('b'))).toEqual([]);
      }
      expect(ids(await ctx.store.readStream(stream('a')))).toEqual([event.id]);
    });

    it('keeps every metadata field', async () => {
      const { stream } = testScope();
      const meta = {
        actor: { kind: 'token' as const, id: 'tok_123' },
        correlationId: randomUUID(),
        causationId: randomUUID(),
        requestId: 'req-42',
        ip: '203.0.113.9',
      };
      const data = { nested: { list: [1, 'two', null, true], empty: {} }, text: 'zürich ✓' };
      await ctx.store.appendToStream(stream('s'), [newEvent('A', data, meta)]);
      const [read] = await ctx.store.readStream(stream('s'));
      expect(read.metadata).toMatchObject(meta);
      expect(read.data).toEqual(data);
      const [fromAll] = await ctx.store.readAll({ fromPosition: 'start', filter: { streamPrefixes: [stream('s')] } });
      expect(fromAll.metadata).toMatchObject(meta);
    });
  });
}
