// Section "event-store catch-up": 200k events already in es_events (written in 5k-event transactions,
// 10 events per stream), then the time from subscribeToAll({ fromPosition: 'start' }) to the batch that
// says caughtUp, beside a raw keyset-paginated SELECT of the same columns over the same index in the
// same batch size. Each reader runs in its own node process; rounds alternate, the best counts.
import { createPool, runMigrations } from '@app/database';
import { eventStoreMigrations } from '@app/event-store';
import pg from 'pg';
import { benchEvent } from './event-store.fixtures.js';
import type { CatchUpJob, CatchUpOutcome } from './event-store.worker.js';
import { type BenchContext, type BenchSection, formatNumber, runChild } from './harness.js';

const WORKER = new URL('./event-store.worker.js', import.meta.url);
const EVENTS = Number(process.env.BENCH_CATCHUP_EVENTS ?? 200_000);
const BATCH = Number(process.env.BENCH_CATCHUP_BATCH ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2) + 1;
const PER_TX = 5000;
const PER_STREAM = 10;

export async function seed(url: string): Promise<void> {
  const pool = createPool(url, { max: 1 });
  try {
    await runMigrations(pool, eventStoreMigrations);
    for (let first = 0; first < EVENTS; first += PER_TX) {
      const cols: unknown[][] = [[], [], [], [], [], []];
      for (let k = first; k < Math.min(EVENTS, first + PER_TX); k++) {
        const streamId = `kv-${Math.floor(k / PER_STREAM)}`;
        const e = benchEvent(streamId, k);
        cols[0].push(e.id);
        cols[1].push(streamId);
        cols[2].push(String(k % PER_STREAM));
        cols[3].push(e.type);
        cols[4].push(JSON.stringify(e.data));
        cols[5].push(JSON.stringify(e.metadata));
      }
      await pool.query(
        `WITH ins AS (
           INSERT INTO es_events (event_id, stream_id, revision, type, data, metadata)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::jsonb[], $6::jsonb[])
           RETURNING stream_id, revision)
         INSERT INTO es_streams (stream_id, revision) SELECT stream_id, max(revision) FROM ins GROUP BY stream_id
         ON CONFLICT (stream_id) DO UPDATE SET revision = excluded.revision`,
        cols,
      );
    }
    await pool.query('VACUUM (ANALYZE) es_events');
    await pool.query('VACUUM (ANALYZE) es_streams');
    await pool.query('CHECKPOINT');
  } finally {
    await pool.end();
  }
}

async function run(ctx: BenchContext): Promise<void> {
  const url = await ctx.createDatabase('catch_up');
  const t0 = Date.now();
  await seed(url);
  ctx.report.log(`seeded ${EVENTS} events in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const best: Partial<Record<'ours' | 'raw', CatchUpOutcome>> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const system of round % 2 ? (['raw', 'ours'] as const) : (['ours', 'raw'] as const)) {
      const out = await runChild<CatchUpJob, CatchUpOutcome>(WORKER, { kind: 'catch-up', system, url, batchSize: BATCH, expected: EVENTS });
      if (out.events !== EVENTS) throw new Error(`${system} read ${out.events} events, expected ${EVENTS}`);
      ctx.report.log(`round ${round + 1} ${system}: ${formatNumber(out.events / out.seconds)} events/s (${out.seconds.toFixed(2)} s, ${out.batches} batches)`);
      const prev = best[system];
      if (!prev || out.seconds < prev.seconds) best[system] = out;
    }
  }
  ctx.report.row({
    metric: `catch-up ${EVENTS / 1000}k events: events/s`,
    ours: EVENTS / best.ours!.seconds,
    peer: 'raw keyset SELECT',
    peerValue: EVENTS / best.raw!.seconds,
    target: { min: 0.5 },
  });
  ctx.report.note(`batch size ${BATCH}; ours ${best.ours!.seconds.toFixed(2)} s, raw ${best.raw!.seconds.toFixed(2)} s; best of ${ROUNDS} alternating rounds, one process per run.`);
}

export const eventStoreCatchUp: BenchSection = { name: 'event-store-catch-up', title: 'event-store catch-up', run };
