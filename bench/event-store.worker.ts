// Child process of the event-store sections: runs ONE contender (ours, Emmett or a raw baseline) against
// its own database and sends back what it measured. See harness.runChild for why each gets a process.
import { createPool } from '@app/database';
import { PostgresEventStore, type NewEvent } from '@app/event-store';
import { randomUUID } from 'node:crypto';
import { benchEvent } from './event-store.fixtures.js';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { childMain, childServe, percentile } from './harness.js';

export type AppendSystem = 'ours' | 'emmett' | 'raw';

/** Set-up of one append contender; it then runs slices of `ms` on request (AppendSlice → AppendOutcome). */
export interface AppendSetup {
  system: AppendSystem;
  url: string;
  writers: number;
  batch: number;
  /** Appends per stream before the writer moves on to a new stream (first one: no_stream). */
  appendsPerStream: number;
}

export interface AppendSlice {
  ms: number;
}

export interface AppendOutcome {
  appends: number;
  events: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

export interface CatchUpJob {
  system: 'ours' | 'raw';
  url: string;
  batchSize: number;
  expected: number;
}

export interface CatchUpOutcome {
  events: number;
  seconds: number;
  batches: number;
}


interface Appender {
  /** expected: -1n for a new stream (no_stream), else the stream's current 0-based revision (exact). */
  append(streamId: string, events: NewEvent[], expected: bigint): Promise<void>;
  close(): Promise<void>;
}

async function oursAppender(url: string, connections: number): Promise<Appender> {
  const pool = createPool(url, { max: connections, applicationName: 'bench-ours' });
  const store = new PostgresEventStore(pool, { connectionString: url });
  return {
    append: async (streamId, events, expected) => {
      await store.appendToStream(streamId, events, { expectedRevision: expected < 0n ? 'no_stream' : expected });
    },
    close: async () => {
      await store.close();
      await pool.end();
    },
  };
}

async function emmettAppender(url: string, connections: number): Promise<Appender> {
  // Imported here only: dumbo replaces pg's global type parsers (int8 → BigInt, jsonb) when it creates a pool.
  const { getPostgreSQLEventStore } = await import('@event-driven-io/emmett-postgresql');
  const { STREAM_DOES_NOT_EXIST } = await import('@event-driven-io/emmett');
  const { createPool: create } = await import('@app/database');
  const pool = create(url, { max: connections, applicationName: 'bench-emmett' });
  const store = getPostgreSQLEventStore(url, { connectionOptions: { pool } });
  await store.schema.migrate();
  return {
    append: async (streamId, events, expected) => {
      // Emmett's stream version counts events (0 = no stream); ours is the 0-based revision of the last one.
      // messageId = our event id, so both stores get the same rows.
      await store.appendToStream(
        streamId,
        events.map((e) => ({ type: e.type, data: e.data as Record<string, unknown>, metadata: { ...e.metadata, messageId: e.id } })),
        { expectedStreamVersion: expected < 0n ? STREAM_DOES_NOT_EXIST : expected + 1n },
      );
    },
    close: async () => {
      await store.close();
      await pool.end();
    },
  };
}

/** Same rows into a copy of es_events (same columns, defaults and indexes): one multi-row INSERT per append. */
async function rawAppender(url: string, connections: number): Promise<Appender> {
  const pool = createPool(url, { max: connections, applicationName: 'bench-raw' });
  const sqlFor = new Map<number, string>();
  const sql = (n: number) => {
    let s = sqlFor.get(n);
    if (!s) {
      const values = Array.from({ length: n }, (_, i) => `($${i * 6 + 1}::uuid, $${i * 6 + 2}, $${i * 6 + 3}::bigint, $${i * 6 + 4}, $${i * 6 + 5}::jsonb, $${i * 6 + 6}::jsonb)`);
      s = `INSERT INTO raw_events (event_id, stream_id, revision, type, data, metadata) VALUES ${values.join(', ')}`;
      sqlFor.set(n, s);
    }
    return s;
  };
  return {
    append: async (streamId, events, expected) => {
      const params: unknown[] = [];
      events.forEach((e, i) => params.push(e.id, streamId, (expected + 1n + BigInt(i)).toString(), e.type, JSON.stringify(e.data), JSON.stringify(e.metadata)));
      await pool.query(sql(events.length), params);
    },
    close: () => pool.end(),
  };
}

/**
 * Writers keep their streams from one slice to the next. A slice starts every writer, stops them after
 * `ms`, waits for the appends in flight and counts what completed between its start and that moment.
 */
async function appendSession(setup: AppendSetup) {
  const appender = setup.system === 'ours' ? await oursAppender(setup.url, setup.writers) : setup.system === 'emmett' ? await emmettAppender(setup.url, setup.writers) : await rawAppender(setup.url, setup.writers);
  const run = randomUUID().slice(0, 8);
  const state = Array.from({ length: setup.writers }, () => ({ streamNo: 0, revision: -1n, onStream: 0 }));
  const writer = async (w: number, until: () => boolean, latencies: number[]) => {
    const s = state[w];
    while (!until()) {
      const streamId = `bench-${run}_${w}_${s.streamNo}`;
      const events = Array.from({ length: setup.batch }, (_, i) => benchEvent(streamId, Number(s.revision) + 1 + i));
      const t0 = performance.now();
      await appender.append(streamId, events, s.revision);
      latencies.push(performance.now() - t0);
      s.revision += BigInt(setup.batch);
      if (++s.onStream >= setup.appendsPerStream) {
        s.streamNo++;
        s.revision = -1n;
        s.onStream = 0;
      }
    }
  };
  return {
    async handle(slice: AppendSlice): Promise<AppendOutcome> {
      const latencies: number[] = [];
      const t0 = performance.now();
      const end = t0 + slice.ms;
      await Promise.all(state.map((_, w) => writer(w, () => performance.now() >= end, latencies)));
      const seconds = (performance.now() - t0) / 1000;
      latencies.sort((a, b) => a - b);
      return { appends: latencies.length, events: latencies.length * setup.batch, seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
    },
    close: () => appender.close(),
  };
}

async function oursCatchUp(job: CatchUpJob): Promise<CatchUpOutcome> {
  const pool = createPool(job.url, { max: 4, applicationName: 'bench-ours' });
  const store = new PostgresEventStore(pool, { connectionString: job.url });
  await pool.query('SELECT 1');
  let events = 0;
  let batches = 0;
  const t0 = performance.now();
  let t1 = 0;
  await new Promise<void>((resolve, reject) => {
    const sub = store.subscribeToAll({
      fromPosition: 'start',
      maxBatchSize: job.batchSize,
      onBatch: async (batch) => {
        events += batch.events.length;
        batches++;
        if (batch.caughtUp && events >= job.expected) {
          t1 = performance.now();
          resolve();
        }
      },
      onError: reject,
    });
    void sub.done.catch(reject);
  });
  await store.close();
  await pool.end();
  return { events, seconds: (t1 - t0) / 1000, batches };
}

/** Keyset pagination over the same index and columns, no visibility bound, rows as pg returns them. */
async function rawCatchUp(job: CatchUpJob): Promise<CatchUpOutcome> {
  const pool: pg.Pool = createPool(job.url, { max: 4, applicationName: 'bench-raw' });
  await pool.query('SELECT 1');
  let events = 0;
  let batches = 0;
  let tx = '0';
  let pos = '-1';
  const t0 = performance.now();
  for (;;) {
    const { rows } = await pool.query<{ tx: string; pos: string }>(
      `SELECT transaction_id::text AS tx, global_position AS pos, event_id, stream_id, revision, type, data, metadata, created_at
       FROM es_events WHERE (transaction_id, global_position) > ($1::text::xid8, $2::bigint)
       ORDER BY transaction_id, global_position LIMIT $3`,
      [tx, pos, job.batchSize],
    );
    batches++;
    events += rows.length;
    if (rows.length) {
      tx = rows[rows.length - 1].tx;
      pos = rows[rows.length - 1].pos;
    }
    if (rows.length < job.batchSize) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  await pool.end();
  return { events, seconds, batches };
}

async function runCatchUp(job: CatchUpJob): Promise<CatchUpOutcome> {
  return job.system === 'ours' ? oursCatchUp(job) : rawCatchUp(job);
}

if (process.send) {
  if (process.argv[3] === 'serve') childServe(appendSession);
  else childMain(runCatchUp);
}
