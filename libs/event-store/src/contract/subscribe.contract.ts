import { comparePositions, formatPosition, matchesFilter } from '../position.js';
import type { EventFilter, NewEvent } from '../types.js';
import {
  BatchCollector,
  expectAscending,
  ids,
  newEvent,
  newEvents,
  sleep,
  startPosition,
  testScope,
  waitFor,
  type ContractContext,
} from './helpers.js';

export function describeSubscriptions(ctx: ContractContext): void {
  describe('subscribeToAll', () => {
    it("catches up from 'start', then delivers live events", async () => {
      const { stream, prefix } = testScope();
      const before = newEvents(3, 'Before');
      await ctx.store.appendToStream(stream('s'), before);
      const collector = new BatchCollector();
      ctx.subscribe({ fromPosition: 'start', onBatch: collector.onBatch });
      await waitFor(() => collector.eventsOf(prefix('s')).length === 3, 'existing events');
      const live = newEvents(2, 'Live');
      await ctx.store.appendToStream(stream('s'), live.slice(0, 1));
      await ctx.store.appendToStream(stream('t'), live.slice(1));
      await waitFor(() => collector.eventsOf(prefix('t')).length === 1, 'live events');
      const ours = collector.events.filter((e) => e.streamId.startsWith(prefix('s')) || e.streamId.startsWith(prefix('t')));
      expect(ids(ours)).toEqual(ids([...before, ...live]));
      expectAscending(collector.events);
    });

    it('starts strictly after a given position', async () => {
      const { stream, prefix } = testScope();
      const written = newEvents(5, 'E');
      await ctx.store.appendToStream(stream('s'), written.slice(0, 2));
      const second = await ctx.store.appendToStream(stream('s'), written.slice(2, 3));
      await ctx.store.appendToStream(stream('s'), written.slice(3));
      const collector = new BatchCollector();
      ctx.subscribe({ fromPosition: second.position, onBatch: collector.onBatch });
      const live = newEvent('Live');
      await ctx.store.appendToStream(stream('s'), [live]);
      await waitFor(() => collector.eventsOf(prefix('s')).length >= 3, 'events after the position');
      await sleep(100);
      expect(ids(collector.eventsOf(prefix('s')))).toEqual(ids([...written.slice(3), live]));
    });

    it("from 'end' delivers only events written after it started, without gaps", async () => {
      const { stream, prefix } = testScope();
      await ctx.store.appendToStream(stream('old'), [newEvent('Old')]);
      const collector = new BatchCollector();
      ctx.subscribe({ fromPosition: 'end', onBatch: collector.onBatch });
      // When the subscription becomes live is not observable, so write markers until one arrives.
      const markers: NewEvent[] = [];
      while (collector.eventsOf(prefix('m')).length === 0) {
        const marker = newEvent('Marker', { n: markers.length });
        markers.push(marker);
        await ctx.store.appendToStream(stream('m'), [marker]);
        await sleep(50);
        if (markers.length > 200) throw new Error('subscription from end never delivered a marker');
      }
      const after = newEvent('After');
      await ctx.store.appendToStream(stream('m'), [after]);
      await waitFor(() => collector.eventsOf(prefix('m')).some((e) => e.id === after.id), 'the event written after going live');
      const seen = ids(collector.eventsOf(prefix('m')));
      const firstSeen = markers.findIndex((m) => m.id === seen[0]);
      expect(firstSeen).toBeGreaterThanOrEqual(0);
      expect(seen).toEqual(ids([...markers.slice(firstSeen), after]));
      expect(collector.eventsOf(prefix('old'))).toEqual([]);
    });

    it('hands over bounded batches one at a time, with checkpoints covering them, and reports catching up', async () => {
      const { stream, prefix } = testScope();
      const from = await startPosition(ctx.store);
      const written = newEvents(50, 'E');
      for (let i = 0; i < 50; i += 10) await ctx.store.appendToStream(stream('s'), written.slice(i, i + 10));
      const collector = new BatchCollector(5);
      ctx.subscribe({ fromPosition: from, maxBatchSize: 7, onBatch: collector.onBatch });
      await waitFor(() => collector.eventsOf(prefix('s')).length === 50, 'existing events');
      await waitFor(() => collector.batches.some((b) => b.caughtUp), 'a caught-up batch');
      const live = newEvent('Live');
      await ctx.store.appendToStream(stream('s'), [live]);
      await waitFor(() => collector.eventsOf(prefix('s')).length === 51, 'live event');

      expect(ids(collector.eventsOf(prefix('s')))).toEqual(ids([...written, live]));
      expect(collector.maxConcurrent).toBe(1);
      expect(collector.batches[0].caughtUp).toBe(false);
      expect(collector.batches.find((b) => b.events.some((e) => e.id === live.id))?.caughtUp).toBe(true);
      let previous = collector.batches[0].checkpoint;
      for (const batch of collector.batches) {
        expect(batch.events.length).toBeLessThanOrEqual(7);
        expect(comparePositions(batch.checkpoint, previous)).toBeGreaterThanOrEqual(0);
        for (const event of batch.events) expect(comparePositions(batch.checkpoint, event.position)).toBeGreaterThanOrEqual(0);
        previous = batch.checkpoint;
      }
    });

    it('resuming from a checkpoint delivers the rest exactly once', async () => {
      const { stream, prefix } = testScope();
      const from = await startPosition(ctx.store);
      const written = newEvents(30, 'E');
      for (let i = 0; i < 30; i += 3) await ctx.store.appendToStream(stream('s', i % 2), written.slice(i, i + 3));
      const first = new BatchCollector(20);
      const subscription = ctx.subscribe({ fromPosition: from, maxBatchSize: 4, onBatch: first.onBatch });
      await waitFor(() => first.eventsOf(prefix('s')).length >= 10, 'a first part');
      await subscription.close();
      const delivered = first.eventsOf(prefix('s')).length;
      expect(delivered).toBeLessThan(30);

      const second = new BatchCollector();
      ctx.subscribe({ fromPosition: first.lastCheckpoint!, onBatch: second.onBatch });
      await waitFor(() => second.eventsOf(prefix('s')).length >= 30 - delivered, 'the rest');
      await sleep(100);
      expect(ids([...first.eventsOf(prefix('s')), ...second.eventsOf(prefix('s'))])).toEqual(ids(written));
    });

    it('delivers only events matching a filter', async () => {
      const { stream, prefix } = testScope();
      const from = await startPosition(ctx.store);
      const filters: EventFilter[] = [
        { eventTypes: ['OrderPlaced', 'UserJoined'] },
        { eventTypePrefixes: ['OrderPlaced'] },
        { streamPrefixes: [prefix('user')] },
        { eventTypes: ['OrderShipped'], streamPrefixes: [prefix('audit')] },
      ];
      const collectors = filters.map((filter) => {
        const collector = new BatchCollector();
        ctx.subscribe({ fromPosition: from, filter, onBatch: collector.onBatch });
        return collector;
      });
      await ctx.store.appendToStream(stream('order'), [newEvent('OrderPlaced'), newEvent('OrderShipped'), newEvent('Noted')]);
      await ctx.store.appendToStream(stream('user'), [newEvent('UserJoined'), newEvent('Noted')]);
      await ctx.store.appendToStream(stream('audit'), [newEvent('OrderPlacedAudit'), newEvent('Noted')]);
      const end = newEvent('OrderPlaced');
      await ctx.store.appendToStream(stream('user'), [end]);

      const expected = [
        ['order:OrderPlaced', 'user:UserJoined', 'user:OrderPlaced'],
        ['order:OrderPlaced', 'audit:OrderPlacedAudit', 'user:OrderPlaced'],
        ['user:UserJoined', 'user:Noted', 'user:OrderPlaced'],
        ['order:OrderShipped', 'audit:OrderPlacedAudit', 'audit:Noted'],
      ];
      const categories = ['order', 'user', 'audit'];
      const ours = (collector: BatchCollector) =>
        collector.events.flatMap((e) => categories.filter((c) => e.streamId.startsWith(prefix(c))).map((c) => `${c}:${e.type}`));
      for (const [i, collector] of collectors.entries()) {
        await waitFor(() => ours(collector).length >= expected[i].length, `events for filter ${JSON.stringify(filters[i])}`);
      }
      await sleep(100);
      for (const [i, collector] of collectors.entries()) {
        expect(ours(collector)).toEqual(expected[i]);
        expect(collector.events.every((e) => matchesFilter(filters[i], e.type, e.streamId))).toBe(true);
      }
    });

    it("a filtered subscription's checkpoint moves past the events it filters out", async () => {
      const { stream, prefix } = testScope();
      const from = await startPosition(ctx.store);
      for (let i = 0; i < 20; i++) await ctx.store.appendToStream(stream('noise'), newEvents(10, 'Noise'));
      const noise = await ctx.store.readStream(stream('noise'));
      const collector = new BatchCollector();
      ctx.subscribe({ fromPosition: from, filter: { streamPrefixes: [prefix('wanted')] }, onBatch: collector.onBatch });
      await waitFor(
        () => collector.lastCheckpoint !== undefined && comparePositions(collector.lastCheckpoint, noise[99].position) >= 0,
        () => `a checkpoint past ${formatPosition(noise[99].position)} (${collector.describe()})`,
      );
      expect(collector.events).toEqual([]);

      const wanted = await ctx.store.appendToStream(stream('wanted'), [newEvent('Wanted')]);
      await waitFor(() => collector.events.length === 1, 'the matching event');
      expect(collector.events[0].streamId).toBe(stream('wanted'));
      expect(comparePositions(collector.lastCheckpoint!, wanted.position)).toBeGreaterThanOrEqual(0);
    });

    it('a filtered subscription that matches nothing still reports that it caught up, past what it read', async () => {
      const { stream, prefix } = testScope();
      const from = await startPosition(ctx.store);
      await ctx.store.appendToStream(stream('noise'), newEvents(5, 'Noise'));
      const noise = await ctx.store.readStream(stream('noise'));
      const collector = new BatchCollector();
      ctx.subscribe({ fromPosition: from, filter: { eventTypes: [`Unwritten${prefix('type')}`] }, onBatch: collector.onBatch });
      await waitFor(() => collector.batches.some((b) => b.caughtUp), () => `a caught-up batch (${collector.describe()})`);
      expect(collector.events).toEqual([]);
      const caughtUp = collector.batches.find((b) => b.caughtUp)!;
      expect(comparePositions(caughtUp.checkpoint, noise[4].position)).toBeGreaterThanOrEqual(0);
    });

    it('close() stops delivery and settles done', async () => {
      const { stream, prefix } = testScope();
      const from = await startPosition(ctx.store);
      const collector = new BatchCollector();
      const subscription = ctx.subscribe({ fromPosition: from, onBatch: collector.onBatch });
      await ctx.store.appendToStream(stream('s'), [newEvent('A')]);
      await waitFor(() => collector.eventsOf(prefix('s')).length === 1, 'first event');
      await subscription.close();
      const batches = collector.batches.length;
      await ctx.store.appendToStream(stream('s'), newEvents(3, 'B'));
      await sleep(300);
      expect(collector.batches.length).toBe(batches);
      await expect(subscription.done).resolves.toBeUndefined();
    });

    it('stops and reports when onBatch throws', async () => {
      const { stream } = testScope();
      const from = await startPosition(ctx.store);
      const failure = new Error('handler failed');
      const errors: Error[] = [];
      let calls = 0;
      const subscription = ctx.subscribe({
        fromPosition: from,
        filter: { streamPrefixes: [stream('s')] },
        onBatch: async (batch) => {
          if (batch.events.length === 0) return;
          calls++;
          throw failure;
        },
        onError: (error) => errors.push(error),
      });
      await ctx.store.appendToStream(stream('s'), [newEvent('A')]);
      await expect(subscription.done).rejects.toBe(failure);
      expect(errors).toEqual([failure]);
      await ctx.store.appendToStream(stream('s'), [newEvent('B')]);
      await sleep(200);
      expect(calls).toBe(1);
    });
  });
}
