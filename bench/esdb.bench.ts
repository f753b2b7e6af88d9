// Section "event-store esdb (gRPC test double)": our EventStoreDB adapter (EsdbEventStore) beside the
// bare @eventstore/db-client calls it wraps, both against the same in-memory gRPC test double of
// test/esdb-double in a child process. The double is not EventStoreDB: the absolute figures say
// nothing about a real server; the ratio is the adapter's own cost (mapping, metadata, positions,
// batching of subscription events, reconnect bookkeeping) over the client library.
//   appends   16 writers, batches of 1 and 10 events, a new stream every 10 appends (no_stream first,
//             then the exact expected revision), slices taken in turn (ours, raw, ours, raw …)
//   catch-up  subscribeToAll from the start to caughtUp over the seeded events (ours: batches handed to
//             onBatch; raw: the client's subscribeToAll with the same system-event filter)
import { EsdbEventStore } from '@app/event-store';
import { EventStoreDBClient, excludeSystemEvents, jsonEvent, NO_STREAM, START } from '@eventstore/db-client';
import { benchEvent } from './event-store.fixtures.js';
import { type BenchContext, type BenchSection, formatNumber, median, sleep, startChildSession } from './harness.js';

const DOUBLE = new URL('./esdb-double.server.js', import.meta.url);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 16);
const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 2000);
const ROTATIONS = Number(process.env.BENCH_ESDB_ROTATIONS ?? 3);
const CATCHUP_EVENTS = Number(process.env.BENCH_ESDB_CATCHUP_EVENTS ?? 50_000);
const CATCHUP_ROUNDS = 3;
const APPENDS_PER_STREAM = 10;

type Append = (stream: string, batch: number, n: number, revision: bigint) => Promise<void>;

function oursAppend(store: EsdbEventStore): Append {
  return async (stream, batch, n, revision) => {
    const events = Array.from({ length: batch }, (_, i) => benchEvent(stream, n + i));
    await store.appendToStream(stream, events, { expectedRevision: revision < 0n ? 'no_stream' : revision });
  };
}

function rawAppend(client: EventStoreDBClient): Append {
  return async (stream, batch, n, revision) => {
    const events = Array.from({ length: batch }, (_, i) => {
      const e = benchEvent(stream, n + i);
      return jsonEvent({ id: e.id, type: e.type, data: e.data as never, metadata: e.metadata as never });
    });
    await client.appendToStream(stream, events, { expectedRevision: revision < 0n ? NO_STREAM : revision });
  };
}

/** WRITERS loops appending for `ms`; returns events/s. */
async function slice(append: Append, batch: number, ms: number, tag: string): Promise<number> {
  const until = Date.now() + ms;
  let events = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let s = 0; Date.now() < until; s++) {
        const stream = `bench${tag}-${w}-${s}`;
        for (let a = 0; a < APPENDS_PER_STREAM && Date.now() < until; a++) {
          await append(stream, batch, a * batch, a === 0 ? -1n : BigInt(a * batch - 1));
          events += batch;
        }
      }
    }),
  );
  return events / ((performance.now() - started) / 1000);
}

async function catchUpOurs(connectionString: string, expected: number): Promise<number> {
  const store = EsdbEventStore.fromConnectionString(connectionString);
  try {
    let seen = 0;
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const sub = store.subscribeToAll({
        fromPosition: 'start',
        onBatch: async (batch) => {
          seen += batch.events.length;
          if (batch.caughtUp && seen >= expected) resolve();
        },
        onError: reject,
      });
      void sub.done.catch(reject);
    });
    const seconds = (performance.now() - started) / 1000;
    if (seen !== expected) throw new Error(`ours read ${seen} events, expected ${expected}`);
    return seen / seconds;
  } finally {
    await store.close();
  }
}

async function catchUpRaw(connectionString: string, expected: number): Promise<number> {
  const client = EventStoreDBClient.connectionString(connectionString);
  try {
    let seen = 0;
    const started = performance.now();
    const sub = client.subscribeToAll({ fromPosition: START, filter: excludeSystemEvents() });
    await new Promise<void>((resolve, reject) => {
      sub.on('data', () => void seen++);
      sub.on('caughtUp', () => (seen >= expected ? resolve() : undefined));
      sub.on('error', reject);
    });
    const seconds = (performance.now() - started) / 1000;
    await sub.unsubscribe();
    if (seen !== expected) throw new Error(`raw read ${seen} events, expected ${expected}`);
    return seen / seconds;
  } finally {
    await client.dispose();
  }
}

async function run(ctx: BenchContext): Promise<void> {
  const appendsDouble = await startChildSession<Record<string, never>, 'connectionString', string>(DOUBLE, {});
  try {
    const connectionString = await appendsDouble.request('connectionString');
    const store = EsdbEventStore.fromConnectionString(connectionString);
    const client = EventStoreDBClient.connectionString(connectionString);
    try {
      const systems = { ours: oursAppend(store), raw: rawAppend(client) };
      for (const batch of [1, 10]) {
        await slice(systems.ours, batch, 500, `w${batch}o`); // warm-up of both connections
        await slice(systems.raw, batch, 500, `w${batch}r`);
        const figures = { ours: [] as number[], raw: [] as number[] };
        for (let r = 0; r < ROTATIONS; r++) {
          for (const system of r % 2 ? (['raw', 'ours'] as const) : (['ours', 'raw'] as const)) {
            figures[system].push(await slice(systems[system], batch, SLICE_MS, `${batch}${system}${r}`));
          }
          ctx.report.log(`esdb batch ${batch} rotation ${r + 1}: ours ${formatNumber(figures.ours[r])}, raw ${formatNumber(figures.raw[r])} events/s`);
        }
        const ratios = figures.ours.map((o, i) => o / figures.raw[i]);
        ctx.report.row({
          metric: `esdb (test double) batch ${batch}: events/s`,
          ours: median(figures.ours),
          peer: 'raw db-client append',
          peerValue: median(figures.raw),
          ratio: median(ratios),
        });
      }
    } finally {
      await store.close();
      await client.dispose();
    }
  } finally {
    await appendsDouble.close();
  }

  // Catch-up on a double of its own that holds exactly the seeded events.
  const readDouble = await startChildSession<Record<string, never>, 'connectionString', string>(DOUBLE, {});
  try {
    const connectionString = await readDouble.request('connectionString');
    const seeder = EventStoreDBClient.connectionString(connectionString);
    const t0 = Date.now();
    const append = rawAppend(seeder);
    for (let n = 0; n < CATCHUP_EVENTS; n += 500) await append(`seed-${n / 500}`, Math.min(500, CATCHUP_EVENTS - n), n, -1n);
    await seeder.dispose();
    ctx.report.log(`seeded ${CATCHUP_EVENTS} events in the double in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await sleep(200);
    const rounds = { ours: [] as number[], raw: [] as number[] };
    for (let r = 0; r < CATCHUP_ROUNDS; r++) {
      for (const system of r % 2 ? (['raw', 'ours'] as const) : (['ours', 'raw'] as const)) {
        const rate = system === 'ours' ? await catchUpOurs(connectionString, CATCHUP_EVENTS) : await catchUpRaw(connectionString, CATCHUP_EVENTS);
        rounds[system].push(rate);
        ctx.report.log(`esdb catch-up round ${r + 1} ${system}: ${formatNumber(rate)} events/s`);
      }
    }
    ctx.report.row({
      metric: `esdb (test double) catch-up ${CATCHUP_EVENTS / 1000}k events: events/s`,
      ours: median(rounds.ours),
      peer: 'raw db-client subscribeToAll',
      peerValue: median(rounds.raw),
      ratio: median(rounds.ours.map((o, i) => o / rounds.raw[i])),
    });
  } finally {
    await readDouble.close();
  }
  ctx.report.note(
    'Against the in-memory gRPC TEST DOUBLE of test/esdb-double, not a real EventStoreDB: the ratio is the adapter over the bare client on the same wire; ' +
      `${WRITERS} writers, ${ROTATIONS} rotations of ${SLICE_MS / 1000} s slices; catch-up median of ${CATCHUP_ROUNDS} rounds. No target (the issue asks for the figures).`,
  );
}

export const esdbDouble: BenchSection = { name: 'event-store-esdb', title: 'event-store esdb (gRPC test double, not a real server)', run };
