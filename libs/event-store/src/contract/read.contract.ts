import { comparePositions } from '../position.js';
import type { EventFilter, NewEvent, RecordedEvent } from '../types.js';
import { expectAscending, ids, newEvent, newEvents, startPosition, testScope, type ContractContext } from './helpers.js';

export function describeReads(ctx: ContractContext): void {
  describe('readStream', () => {
    it('returns an empty array for a stream that does not exist', async () => {
      const { stream } = testScope();
      expect(await ctx.store.readStream(stream('missing'))).toEqual([]);
      expect(await ctx.store.readStream(stream('missing'), { direction: 'backwards' })).toEqual([]);
    });

    it('reads forwards and backwards from a revision with a max count', async () => {
      const { stream } = testScope();
      const written = newEvents(10, 'Counted');
      await ctx.store.appendToStream(stream('s'), written.slice(0, 4));
      await ctx.store.appendToStream(stream('s'), written.slice(4));
      const revisions = (events: RecordedEvent[]) => events.map((e) => Number(e.revision));

      expect(ids(await ctx.store.readStream(stream('s')))).toEqual(ids(written));
      expect(revisions(await ctx.store.readStream(stream('s'), { fromRevision: 3n, maxCount: 4 }))).toEqual([3, 4, 5, 6]);
      expect(revisions(await ctx.store.readStream(stream('s'), { fromRevision: 8n }))).toEqual([8, 9]);
      expect(await ctx.store.readStream(stream('s'), { fromRevision: 10n })).toEqual([]);
      expect(revisions(await ctx.store.readStream(stream('s'), { direction: 'backwards', maxCount: 3 }))).toEqual([9, 8, 7]);
      expect(revisions(await ctx.store.readStream(stream('s'), { direction: 'backwards', fromRevision: 'end', maxCount: 2 }))).toEqual([9, 8]);
      expect(revisions(await ctx.store.readStream(stream('s'), { direction: 'backwards', fromRevision: 4n, maxCount: 3 }))).toEqual([4, 3, 2]);
      expect(revisions(await ctx.store.readStream(stream('s'), { direction: 'backwards', fromRevision: 1n }))).toEqual([1, 0]);
      expect(revisions(await ctx.store.readStream(stream('s'), { fromRevision: 'start', maxCount: 1 }))).toEqual([0]);
    });

    it('does not mix events of streams sharing a prefix', async () => {
      const { stream } = testScope();
      await ctx.store.appendToStream(stream('s', 1), [newEvent('A')]);
      await ctx.store.appendToStream(stream('s', 10), [newEvent('B')]);
      expect((await ctx.store.readStream(stream('s', 1))).map((e) => e.type)).toEqual(['A']);
    });
  });

  describe('readAll', () => {
    it('reads strictly after a position, in position order, with a max count', async () => {
      const { stream, prefix } = testScope();
      const from = await startPosition(ctx.store);
      const written: NewEvent[] = [];
      for (let i = 0; i < 4; i++) {
        const batch = newEvents(3, 'Step', i * 3);
        written.push(...batch);
        await ctx.store.appendToStream(stream('s', i % 2), batch);
      }
      const all = (await ctx.store.readAll({ fromPosition: from })).filter((e) => e.streamId.startsWith(prefix('s')));
      expect(ids(all)).toEqual(ids(written));
      expectAscending(all);

      const afterFifth = await ctx.store.readAll({ fromPosition: all[4].position, filter: { streamPrefixes: [prefix('s')] } });
      expect(ids(afterFifth)).toEqual(ids(written.slice(5)));

      const page = await ctx.store.readAll({ fromPosition: all[1].position, maxCount: 3, filter: { streamPrefixes: [prefix('s')] } });
      expect(ids(page)).toEqual(ids(written.slice(2, 5)));
      expect(await ctx.store.readAll({ fromPosition: all[11].position, filter: { streamPrefixes: [prefix('s')] } })).toEqual([]);
    });

    it("reads from 'start' by default", async () => {
      const { stream } = testScope();
      const result = await ctx.store.appendToStream(stream('s'), [newEvent('A')]);
      const [first] = await ctx.store.readAll({ maxCount: 1 });
      expect(first).toBeDefined();
      expect(comparePositions(first.position, result.position)).toBeLessThanOrEqual(0);
      const [fromStart] = await ctx.store.readAll({ fromPosition: 'start', maxCount: 1 });
      expect(fromStart.id).toBe(first.id);
    });

    it('filters by event type, event type prefix and stream prefix (any one matching)', async () => {
      const { stream, prefix } = testScope();
      const from = await startPosition(ctx.store);
      await ctx.store.appendToStream(stream('order'), [newEvent('OrderPlaced'), newEvent('OrderShipped'), newEvent('Noted')]);
      await ctx.store.appendToStream(stream('user'), [newEvent('UserJoined'), newEvent('Noted')]);
      await ctx.store.appendToStream(stream('audit'), [newEvent('OrderPlacedAudit'), newEvent('Noted')]);
      const read = async (filter: EventFilter) => {
        const events = await ctx.store.readAll({ fromPosition: from, filter });
        expectAscending(events);
        return events.filter((e) => [prefix('order'), prefix('user'), prefix('audit')].some((p) => e.streamId.startsWith(p))).map((e) => `${e.streamId.slice(0, 4)}:${e.type}`);
      };

      expect(await read({ eventTypes: ['OrderPlaced', 'UserJoined'] })).toEqual(['orde:OrderPlaced', 'user:UserJoined']);
      expect(await read({ eventTypePrefixes: ['OrderPlaced'] })).toEqual(['orde:OrderPlaced', 'audi:OrderPlacedAudit']);
      expect(await read({ streamPrefixes: [prefix('user')] })).toEqual(['user:UserJoined', 'user:Noted']);
      expect(await read({ eventTypes: ['OrderShipped'], streamPrefixes: [prefix('audit')] })).toEqual([
        'orde:OrderShipped',
        'audi:OrderPlacedAudit',
        'audi:Noted',
      ]);
      expect(await read({})).toHaveLength(7);
    });

    it('applies maxCount to matching events, not to events scanned', async () => {
      const { stream, prefix } = testScope();
      const from = await startPosition(ctx.store);
      await ctx.store.appendToStream(stream('noise'), newEvents(30, 'Noise'));
      const wanted = newEvents(5, 'Wanted');
      await ctx.store.appendToStream(stream('s'), wanted);
      const read = await ctx.store.readAll({ fromPosition: from, maxCount: 3, filter: { streamPrefixes: [prefix('s')] } });
      expect(ids(read)).toEqual(ids(wanted.slice(0, 3)));
    });
  });

  describe('headPosition', () => {
    it('is null exactly when the store holds no events', async () => {
      const head = await ctx.store.headPosition();
      const any = await ctx.store.readAll({ maxCount: 1 });
      expect(head === null).toBe(any.length === 0);
    });

    it('is the position of the last event written', async () => {
      const { stream } = testScope();
      const first = await ctx.store.appendToStream(stream('s'), newEvents(3, 'A'));
      expect(await ctx.store.headPosition()).toEqual(first.position);
      const second = await ctx.store.appendToStream(stream('t'), [newEvent('B')]);
      expect(await ctx.store.headPosition()).toEqual(second.position);
    });
  });

  describe('ping', () => {
    it('resolves while the store is reachable', async () => {
      await expect(ctx.store.ping()).resolves.toBeUndefined();
    });
  });
}
