// Section "event-store appends": 16 concurrent writers, each on its own streams (the first append of a
// stream with no_stream, the next ones with the exact expected revision, as a command handler does),
// batches of 1 and of 10 events. Compared on the same server, each in its own database and its own node
// process:
//   ours    PostgresEventStore.appendToStream (concurrent appends of the process share transactions: GroupCommit)
//   emmett  @event-driven-io/emmett-postgresql appendToStream (the same events, the same expected versions)
//   raw     one multi-row INSERT per append of the same rows into a copy of es_events (same columns,
//           defaults and indexes) — no concurrency check, no stream table: the floor of what a write costs.
// Every system gets a pool of as many connections as writers. Durability is the server's default for all
// (synchronous_commit on, logged tables); none of the three turns it down (Emmett does not either).
//
// Method: the three contenders are set up once, warmed up, then measured in short slices taken in turn
// (rotating which goes first), each slice right after a CHECKPOINT. A figure is the median of a
// contender's slices; a ratio is the median of the ratios of slices taken back to back, so load that
// drifts on the machine during the section (other processes) hits both sides of a ratio alike.
import { createPool, runMigrations } from '@app/database';
import { eventStoreMigrations } from '@app/event-store';
import pg from 'pg';
import type { AppendOutcome, AppendSetup, AppendSlice, AppendSystem } from './event-store.worker.js';
import { type BenchContext, type BenchSection, type ChildSession, formatNumber, median, startChildSession } from './harness.js';

const WORKER = new URL('./event-store.worker.js', import.meta.url);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 16);
const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 2000);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1000);
const ROTATIONS = Number(process.env.BENCH_ROTATIONS ?? 5);
const SYSTEMS: AppendSystem[] = ['ours', 'emmett', 'raw'];
const PEER_NAME: Record<AppendSystem, string> = { ours: 'ours', emmett: 'emmett-postgresql', raw: 'raw INSERT' };
const TARGET: Record<'emmett' | 'raw', number> = { emmett: 1.5, raw: 0.6 };

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

const perSecond = (o: AppendOutcome, what: 'events' | 'appends') => o[what] / o.seconds;

async function run(ctx: BenchContext): Promise<void> {
  const admin = new pg.Client({ connectionString: ctx.serverUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    for (const batch of [1, 10]) {
      const sessions = new Map<AppendSystem, ChildSession<AppendSlice, AppendOutcome>>();
      try {
        for (const system of SYSTEMS) {
          const url = await prepare(ctx, system, batch);
          const setup: AppendSetup = { system, url, writers: WRITERS, batch, appendsPerStream: 10 };
          sessions.set(system, await startChildSession<AppendSetup, AppendSlice, AppendOutcome>(WORKER, setup));
        }
        for (const system of SYSTEMS) await sessions.get(system)!.request({ ms: WARMUP_MS });

        const slices = new Map<AppendSystem, AppendOutcome[]>(SYSTEMS.map((s) => [s, []]));
        for (let r = 0; r < ROTATIONS; r++) {
          const order = SYSTEMS.map((_, i) => SYSTEMS[(i + r) % SYSTEMS.length]);
          for (const system of order) {
            // Each slice starts right after a checkpoint, so none pays for the writes of another.
            await admin.query('CHECKPOINT');
            const out = await sessions.get(system)!.request({ ms: SLICE_MS });
            slices.get(system)!.push(out);
          }
          ctx.report.log(
            `batch ${batch} rotation ${r + 1}: ` +
              SYSTEMS.map((s) => `${s} ${formatNumber(perSecond(slices.get(s)![r], 'events'))} events/s`).join(', '),
          );
        }

        const ours = slices.get('ours')!;
        for (const peer of ['emmett', 'raw'] as const) {
          const theirs = slices.get(peer)!;
          const ratios = ours.map((o, i) => perSecond(o, 'events') / perSecond(theirs[i], 'events'));
          for (const what of ['events', 'appends'] as const) {
            ctx.report.row({
              metric: `batch ${batch}: ${what}/s`,
              ours: median(ours.map((o) => perSecond(o, what))),
              peer: PEER_NAME[peer],
              peerValue: median(theirs.map((o) => perSecond(o, what))),
              ratio: median(ratios),
              target: what === 'events' ? { min: TARGET[peer] } : undefined,
            });
          }
          ctx.report.note(
            `batch ${batch} ours/${PEER_NAME[peer]} per rotation: ${ratios.map((x) => x.toFixed(2)).join(' ')}`,
          );
        }
        for (const system of SYSTEMS) {
          const s = slices.get(system)!;
          ctx.report.note(
            `batch ${batch} ${PEER_NAME[system]}: append latency p50 ${median(s.map((o) => o.p50Ms)).toFixed(1)} ms, p99 ${median(s.map((o) => o.p99Ms)).toFixed(1)} ms (median of slices)`,
          );
        }
      } finally {
        await Promise.all([...sessions.values()].map((s) => s.close()));
      }
    }
  } finally {
    await admin.end();
  }
  ctx.report.note(
    `${WRITERS} writers and ${WRITERS} connections per system; ${ROTATIONS} rotations of ${SLICE_MS / 1000} s slices after a ${WARMUP_MS / 1000} s warm-up; ` +
      `figures are medians of slices, ratios medians of back-to-back ratios; 10 appends per stream (1st no_stream, then exact revision); ` +
      `ours commits the appends its writers ask for at the same time in groups (one transaction for many, each append its own answer), emmett and raw one transaction per append.`,
  );
}

export const eventStoreAppends: BenchSection = { name: 'event-store-appends', title: 'event-store appends', run };
