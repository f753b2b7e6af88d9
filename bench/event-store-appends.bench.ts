// Section "event-store appends": 16 concurrent writers, each on its own streams (the first append of a
// stream with no_stream, the next ones with the exact expected revision, as a command handler does),
// batches of 1 and of 10 events, for a fixed time. Compared on the same server, each in its own database
// and its own node process:
//   ours    PostgresEventStore.appendToStream
//   emmett  @event-driven-io/emmett-postgresql appendToStream (the same events, the same expected versions)
//   raw     one multi-row INSERT per append of the same rows into a copy of es_events (same columns,
//           defaults and indexes) — no concurrency check, no stream table: the floor of what a write costs.
// Every system gets a pool of as many connections as writers. Durability is the server's default for all
// (synchronous_commit on, logged tables); none of the three turns it down.
import { createPool, runMigrations } from '@app/database';
import { eventStoreMigrations } from '@app/event-store';
import pg from 'pg';
import type { AppendJob, AppendOutcome, AppendSystem } from './event-store.worker.js';
import { type BenchContext, type BenchSection, formatNumber, runChild } from './harness.js';

const WORKER = new URL('./event-store.worker.js', import.meta.url);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 16);
const DURATION_MS = Number(process.env.BENCH_APPEND_MS ?? 5000);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SYSTEMS: AppendSystem[] = ['ours', 'emmett', 'raw'];
const PEER_NAME: Record<AppendSystem, string> = { ours: 'ours', emmett: 'emmett-postgresql', raw: 'raw INSERT' };

async function prepare(ctx: BenchContext, system: AppendSystem, batch: number): Promise<string> {
  const url = await ctx.createDatabase(`append_${system}_${batch}`);
  if (system === 'emmett') return url; // Emmett creates its own schema in its process (store.schema.migrate()).
  const pool = createPool(url, { max: 1 });
  try {
    await runMigrations(pool, eventStoreMigrations);
    if (system === 'raw') await pool.query('CREATE TABLE raw_events (LIKE es_events INCLUDING ALL)');
  } finally {
    await pool.end();
  }
  return url;
}

async function checkpoint(serverUrl: string): Promise<void> {
  // Each run starts right after a checkpoint, so none of them pays for one the previous run caused.
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  await c.query('CHECKPOINT');
  await c.end();
}

async function run(ctx: BenchContext): Promise<void> {
  for (const batch of [1, 10]) {
    const best = new Map<AppendSystem, AppendOutcome>();
    // Rounds interleave the systems so drift on the machine hits all of them alike; the best round counts.
    for (let round = 0; round < ROUNDS; round++) {
      for (const system of SYSTEMS) {
        const url = await prepare(ctx, system, batch);
        await checkpoint(ctx.serverUrl);
        const job: AppendJob = { kind: 'append', system, url, writers: WRITERS, batch, appendsPerStream: 10, warmupMs: WARMUP_MS, durationMs: DURATION_MS };
        const out = await runChild<AppendJob, AppendOutcome>(WORKER, job);
        const eps = out.events / out.seconds;
        ctx.report.log(`batch ${batch} round ${round + 1} ${system}: ${formatNumber(eps)} events/s, ${formatNumber(out.appends / out.seconds)} appends/s, p50 ${out.p50Ms.toFixed(1)} ms, p99 ${out.p99Ms.toFixed(1)} ms`);
        const prev = best.get(system);
        if (!prev || out.events / out.seconds > prev.events / prev.seconds) best.set(system, out);
      }
    }
    const ours = best.get('ours')!;
    for (const peer of ['emmett', 'raw'] as const) {
      const other = best.get(peer)!;
      const target = peer === 'emmett' ? { min: 1.5 } : { min: 0.6 };
      ctx.report.row({ metric: `batch ${batch}: events/s`, ours: ours.events / ours.seconds, peer: PEER_NAME[peer], peerValue: other.events / other.seconds, target });
      ctx.report.row({ metric: `batch ${batch}: appends/s`, ours: ours.appends / ours.seconds, peer: PEER_NAME[peer], peerValue: other.appends / other.seconds });
    }
    for (const system of SYSTEMS) {
      const o = best.get(system)!;
      ctx.report.note(`batch ${batch} ${PEER_NAME[system]}: append latency p50 ${o.p50Ms.toFixed(1)} ms, p99 ${o.p99Ms.toFixed(1)} ms`);
    }
  }
  ctx.report.note(
    `${WRITERS} writers, ${WRITERS} connections each system, ${DURATION_MS / 1000} s measured after ${WARMUP_MS / 1000} s warm-up, best of ${ROUNDS} interleaved rounds, fresh database per run; ` +
      `10 appends per stream (1st no_stream, then exact revision).`,
  );
}

export const eventStoreAppends: BenchSection = { name: 'event-store-appends', title: 'event-store appends', run };
