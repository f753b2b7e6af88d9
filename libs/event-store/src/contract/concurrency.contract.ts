import { WrongExpectedVersionError } from '../errors.js';
import type { EventStore, ExpectedRevision, NewEvent, Position, RecordedEvent } from '../types.js';
import { BatchCollector, expectAscending, ids, newEvents, sleep, startPosition, testScope, waitFor, type ContractContext } from './helpers.js';

const WRITERS = 8;
const APPENDS_PER_WRITER = 50;

async function readAllAfter(store: EventStore, from: Position | 'start', streamPrefix: string): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let position = from;
  for (;;) {
    const page = await store.readAll({ fromPosition: position, maxCount: 500, filter: { streamPrefixes: [streamPrefix] } });
    if (page.length === 0) return events;
    events.push(...page);
    position = page[page.length - 1].position;
  }
}

/** Read, then append at the revision read; on a conflict read again (what a command handler does). */
async function appendOptimistically(store: EventStore, streamId: string, events: NewEvent[]): Promise<ExpectedRevision> {
  for (;;) {
    const [last] = await store.readStream(streamId, { direction: 'backwards', maxCount: 1 });
    const expectedRevision = last ? last.revision : 'no_stream';
    try {
      await store.appendToStream(streamId, events, { expectedRevision });
      return expectedRevision;
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error;
    }
  }
}

export function describeConcurrency(ctx: ContractContext): void {
  describe('concurrent writers', () => {
    it('a subscriber sees every event exactly once, in position order, the same as readAll', async () => {
      const { stream, prefix } = testScope();
      const from = await startPosition(ctx.store);
      const collector = new BatchCollector();
      ctx.subscribe({ fromPosition: from, maxBatchSize: 100, onBatch: collector.onBatch });

      const written: NewEvent[] = [];
      const writer = async (w: number) => {
        let ownRevision: ExpectedRevision = 'no_stream';
        for (let i = 0; i < APPENDS_PER_WRITER; i++) {
          const batch = newEvents(i % 2 === 0 ? 10 : 1, `Written${w}`, i * 10);
          let target: string;
          let expectedRevision: ExpectedRevision;
          if (i % 4 === 0) {
            target = stream('c', `shared${i % 3}`);
            expectedRevision = 'any';
            await ctx.store.appendToStream(target, batch, { expectedRevision });
          } else if (i % 4 === 1) {
            target = stream('c', `contended${i % 2}`);
            expectedRevision = await appendOptimistically(ctx.store, target, batch);
          } else {
            target = stream('c', `writer${w}`);
            expectedRevision = ownRevision;
            const result = await ctx.store.appendToStream(target, batch, { expectedRevision });
            ownRevision = result.nextExpectedRevision;
          }
          written.push(...batch);
          // A client that lost the answer sends the same append again.
          if (i % 5 === 0) await ctx.store.appendToStream(target, batch, { expectedRevision });
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));

      await waitFor(() => collector.eventsOf(prefix('c')).length >= written.length, `${written.length} events`, 60_000);
      await sleep(200);
      const seen = collector.eventsOf(prefix('c'));
      expect(seen.length).toBe(written.length);
      expect(new Set(ids(seen)).size).toBe(written.length);
      expect(new Set(ids(seen))).toEqual(new Set(ids(written)));
      expectAscending(collector.events);
      expect(ids(await readAllAfter(ctx.store, from, prefix('c')))).toEqual(ids(seen));

      const byStream = new Map<string, bigint[]>();
      for (const event of seen) byStream.set(event.streamId, [...(byStream.get(event.streamId) ?? []), event.revision]);
      for (const [streamId, revisions] of byStream) {
        // $all order must agree with each stream's own order.
        expect({ streamId, revisions }).toEqual({ streamId, revisions: revisions.map((_, i) => BigInt(i)) });
        expect(ids(await ctx.store.readStream(streamId))).toEqual(ids(seen.filter((e) => e.streamId === streamId)));
      }
    }, 240_000);
  });
}
