import { randomUUID } from 'node:crypto';
import { EsdbDouble } from '../../../../test/esdb-double/esdb-double.js';
import { describeEventStoreContract } from '../contract/event-store.contract.js';
import { BatchCollector, expectAscending, ids, metadata, newEvent, sleep, waitFor } from '../contract/helpers.js';
import { EventStoreUnavailableError, IdempotencyConflictError, StreamDeletedError } from '../errors.js';
import type { NewEvent } from '../types.js';
import { EsdbEventStore } from './esdb-event-store.js';

describeEventStoreContract('esdb (gRPC double)', async () => {
  const double = await EsdbDouble.start();
  const store = EsdbEventStore.fromConnectionString(double.connectionString);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await double.stop();
    },
  };
});

describe('EsdbEventStore on the gRPC double', () => {
  let double: EsdbDouble;
  let store: EsdbEventStore;

  beforeEach(async () => {
    double = await EsdbDouble.start();
    store = EsdbEventStore.fromConnectionString(double.connectionString, { maxReconnectAttempts: 3 });
  });

  afterEach(async () => {
    await store.close();
    await double.stop();
  });

  it('a subscription survives server restarts while catching up and while live, missing and repeating nothing', async () => {
    const written: NewEvent[] = [];
    const write = async (count: number) => {
      for (let i = 0; i < count; i += 10) {
        // About 1 KB each, so the server cannot push everything into the client's buffers at once.
        const batch = Array.from({ length: 10 }, (_, j) => newEvent('Written', { n: written.length + j, pad: 'x'.repeat(1000) }));
        written.push(...batch);
        await store.appendToStream(`restart-${i % 3}`, batch);
      }
    };
    await write(1000);
    const collector = new BatchCollector(5);
    const subscription = store.subscribeToAll({ fromPosition: 'start', maxBatchSize: 10, onBatch: collector.onBatch });

    await waitFor(() => collector.events.length >= 50, 'the subscription to be catching up');
    await double.stop();
    await sleep(300);
    await double.restart();
    await waitFor(() => collector.events.length >= 1000 && collector.batches[collector.batches.length - 1].caughtUp, () => `catching up (${collector.describe()})`);

    await double.stop();
    await sleep(300);
    await double.restart();
    await write(50);
    await waitFor(() => collector.events.length >= 1050, () => `live events after the restart (${collector.describe()})`);
    await sleep(200);

    expect(collector.events.length).toBe(1050);
    expect(ids(collector.events)).toEqual(ids(written));
    expectAscending(collector.events);
    await subscription.close();
  });

  it('a subscription gives up and reports when the server stays away', async () => {
    await store.appendToStream('s-1', [newEvent('A')]);
    const errors: Error[] = [];
    const collector = new BatchCollector();
    const subscription = store.subscribeToAll({ onBatch: collector.onBatch, onError: (e) => errors.push(e) });
    await waitFor(() => collector.events.length === 1, 'the first event');
    await double.stop();
    await expect(subscription.done).rejects.toBeInstanceOf(EventStoreUnavailableError);
    expect(errors).toHaveLength(1);
  });

  it('maps an unreachable server to EventStoreUnavailableError and recovers when it is back', async () => {
    await store.appendToStream('s-1', [newEvent('A')]);
    await double.stop();
    await expect(store.appendToStream('s-1', [newEvent('B')])).rejects.toBeInstanceOf(EventStoreUnavailableError);
    await expect(store.readStream('s-1')).rejects.toBeInstanceOf(EventStoreUnavailableError);
    await expect(store.ping()).rejects.toBeInstanceOf(EventStoreUnavailableError);
    await double.restart();
    await waitFor(() => store.ping().then(() => true, () => false), 'the store to reconnect');
    expect((await store.appendToStream('s-1', [newEvent('B')], { expectedRevision: 0n })).nextExpectedRevision).toBe(1n);
  });

  it('maps a deleted stream to StreamDeletedError', async () => {
    await store.appendToStream('gone-1', [newEvent('A')]);
    double.log.tombstone('gone-1');
    await expect(store.appendToStream('gone-1', [newEvent('B')])).rejects.toBeInstanceOf(StreamDeletedError);
    await expect(store.readStream('gone-1')).rejects.toBeInstanceOf(StreamDeletedError);
  });

  it("reports ids matching only part of an earlier append as an IdempotencyConflictError ('any')", async () => {
    const [a, b] = [newEvent('A'), newEvent('B')];
    await store.appendToStream('s-1', [a, b]);
    await expect(store.appendToStream('s-1', [a, newEvent('C')])).rejects.toBeInstanceOf(IdempotencyConflictError);
    expect(ids(await store.readStream('s-1'))).toEqual(ids([a, b]));
  });

  it("writes correlation and causation ids also under EventStoreDB's own metadata keys", async () => {
    const meta = metadata({ correlationId: randomUUID(), causationId: randomUUID() });
    await store.appendToStream('s-1', [newEvent('A', {}, meta)]);
    const [record] = double.log.stream('s-1')!;
    expect(JSON.parse(Buffer.from(record.customMetadata).toString('utf8'))).toMatchObject({
      ...meta,
      $correlationId: meta.correlationId,
      $causationId: meta.causationId,
    });
    expect(record.contentType).toBe('application/json');
  });
});
