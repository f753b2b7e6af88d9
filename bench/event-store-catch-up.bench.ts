// Section "event-store catch-up": 200k events already in es_events (written in 5k-event transactions,
// 10 events per stream), then the time from subscribeToAll({ fromPosition: 'start' }) to the batch that
// says caughtUp, beside a raw keyset-paginated SELECT of the same columns over the same index in the
// same batch size. Each reader runs in its own node process; rounds alternate which goes first. Figures
// are medians of rounds, the ratio the median of the ratios of rounds (one run of each, back to back).
import { createPool, runMigrations } from '@app/database';
import { eventStoreMigrations } from '@app/event-store';
import pg from 'pg';
import type { CatchUpJob, CatchUpOutcome } from './event-store.worker.js';
import { type BenchContext, type BenchSection, formatNumber, median, runChild } from './harness.js';

const WORKER = new URL('./event-store.worker.js', import.meta.url);
const EVENTS = Number(process.env.BENCH_CATCHUP_EVENTS ?? 200_000);
const BATCH = Number(process.env.BENCH_CATCHUP_BATCH ?? 500);
const ROUNDS = Number(process.env.BENCH_CATCHUP_ROUNDS ?? 2);
const PER_TX = 5000;
const PER_STREAM = 10;

export async function seed(url: string): Promise<void> {
  const pool = createPool(url, { max: 1 });
  try {
    await runMigrations(pool, eventStoreMigrations);
    // Bulk load: es_events' constraints and indexes are dropped, then rebuilt as they were after the load
    // (read from the catalog, so the table keeps whatever shape the migrations give it).
    const { rows: constraints } = await pool.query<{ name: string; def: string }>(
      `SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE conrelid = 'es_events'::regclass AND contype IN ('p', 'u')`,
    );
    const { rows: indexes } = await pool.query<{ name: string; def: string }>(
      `SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
       WHERE x.indrelid = 'es_events'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)`,
    );
    for (const c of constraints) await pool.query(`ALTER TABLE es_events DROP CONSTRAINT "${c.name}"`);
    for (const i of indexes) await pool.query(`DROP INDEX "${i.name}"`);
    // Generated in the server with the same shape as benchEvent; one transaction per PER_TX events.
    for (let first = 0; first < EVENTS; first += PER_TX) {
      await pool.query(
        `WITH ins AS (
           INSERT INTO es_events (event_id, stream_id, revision, type, data, metadata)
           SELECT id, 'kv-' || (k / $3), k % $3, 'KeyValueEntrySet',
             jsonb_build_object('key', 'ci/kv-' || (k / $3),
               'value', jsonb_build_object('status', 'passed', 'build', k, 'branch', 'main', 'tags', jsonb_build_array('bench', 'ci'),
                 'url', 'https://ci.example.com/builds/' || k),
               'tags', jsonb_build_array('bench'), 'expiresAt', NULL),
             jsonb_build_object('actor', jsonb_build_object('kind', 'token', 'id', 'tok_01JBENCH0000000000000000'),
               'correlationId', id, 'causationId', id, 'requestId', 'req-' || k, 'ip', '127.0.0.1')
           FROM (SELECT gen_random_uuid() AS id, k FROM generate_series($1::bigint, $2::bigint) AS k) g
           ORDER BY k
           RETURNING stream_id, revision)
         INSERT INTO es_streams (stream_id, revision) SELECT stream_id, max(revision) FROM ins GROUP BY stream_id
         ON CONFLICT (stream_id) DO UPDATE SET revision = excluded.revision`,
        [first, Math.min(EVENTS, first + PER_TX) - 1, PER_STREAM],
      );
    }
    for (const c of constraints) await pool.query(`ALTER TABLE es_events ADD CONSTRAINT "${c.name}" ${c.def}`);
    for (const i of indexes) await pool.query(i.def);
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
  const rounds: Record<'ours' | 'raw', number[]> = { ours: [], raw: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const system of round % 2 ? (['raw', 'ours'] as const) : (['ours', 'raw'] as const)) {
      const out = await runChild<CatchUpJob, CatchUpOutcome>(WORKER, { system, url, batchSize: BATCH, expected: EVENTS });
      if (out.events !== EVENTS) throw new Error(`${system} read ${out.events} events, expected ${EVENTS}`);
      ctx.report.log(`round ${round + 1} ${system}: ${formatNumber(out.events / out.seconds)} events/s (${out.seconds.toFixed(2)} s, ${out.batches} batches)`);
      rounds[system].push(out.events / out.seconds);
    }
  }
  const ratios = rounds.ours.map((o, i) => o / rounds.raw[i]);
  ctx.report.row({
    metric: `catch-up ${EVENTS / 1000}k events: events/s`,
    ours: median(rounds.ours),
    peer: 'raw keyset SELECT',
    peerValue: median(rounds.raw),
    ratio: median(ratios),
    target: { min: 0.5 },
  });
  ctx.report.note(`batch size ${BATCH}; ${ROUNDS} rounds, ours/raw per round: ${ratios.map((r) => r.toFixed(2)).join(' ')}; one process per run.`);
}

export const eventStoreCatchUp: BenchSection = { name: 'event-store-catch-up', title: 'event-store catch-up', run };
