import { createPool, ensureDatabase, type Pool } from '@app/database';
import { comparePositions, createEventStore, type EventStore, type Position } from '@app/event-store';
import { type Projection, ProjectionPositions, ProjectionRunner, readAllCheckpoints } from '@app/projections';
import { ALL_PROJECTIONS } from '@app/read-models';
import cliProgress from 'cli-progress';
import path from 'node:path';
import type { CliConfig } from './cli-config.js';
import { DataDirLock } from './data-dir-lock.js';
import { embeddedClusterExists, type EmbeddedCluster, runningEmbeddedCluster, startEmbeddedCluster } from './embedded-cluster.js';
import { migrate } from './migrations.js';
import { sleep } from './processes.js';

export class UnknownProjectionError extends Error {}

/** `--all` or one projection name; the error lists the names. */
export function selectProjections(target: string | undefined): Projection[] {
  const names = ALL_PROJECTIONS.map((p) => p.name);
  const selected = target === '--all' ? ALL_PROJECTIONS : ALL_PROJECTIONS.filter((p) => p.name === target);
  if (!selected.length) {
    const what = target ? `unknown projection "${target}"` : 'replay needs a projection name or --all';
    throw new UnknownProjectionError(`${what}; projections: ${names.join(', ')} (or --all)`);
  }
  return selected;
}

/** Events a rebuild will apply: those of the projection's types up to `head`. */
async function countEvents(store: EventStore, pool: Pool, types: readonly string[], head: Position): Promise<number> {
  if (store.kind === 'postgres') {
    const { rows } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM es_events WHERE type = ANY($1::text[]) AND (transaction_id, global_position) <= ($2::text::xid8, $3::bigint)`,
      [types, head.commit.toString(), head.prepare.toString()],
    );
    return Number(rows[0].n);
  }
  let count = 0;
  let from: Position | 'start' = 'start';
  for (;;) {
    const page = await store.readAll({ fromPosition: from, maxCount: 1000, filter: { eventTypes: types } });
    const upToHead = page.filter((e) => comparePositions(e.position, head) <= 0);
    count += upToHead.length;
    if (page.length < 1000 || upToHead.length < page.length) return count;
    from = page[page.length - 1].position;
  }
}

interface Connection {
  databaseUrl: string;
  release(): Promise<void>;
}

/** DATABASE_URL, or the launcher's embedded PostgreSQL if it runs, or the embedded one started for this command. */
async function connect({ config, embeddedPgPort }: CliConfig, say: (line: string) => void): Promise<Connection> {
  if (config.DATABASE_URL) return { databaseUrl: config.DATABASE_URL, release: async () => undefined };
  const dataDir = path.resolve(config.OPSLEDGER_DATA_DIR);
  const running = runningEmbeddedCluster(dataDir);
  if (running) return { databaseUrl: await ensureDatabase(running.serverUrl, 'opsledger'), release: async () => undefined };
  if (!embeddedClusterExists(dataDir)) throw new Error(`no embedded database in ${dataDir}: run \`npm start\` first, or set DATABASE_URL`);
  const acquired = await DataDirLock.acquire(dataDir, 'replay', (msg) => say(msg));
  if ('heldBy' in acquired) throw new Error(`another opsledger ${acquired.heldBy.command} (pid ${acquired.heldBy.pid}) is using ${dataDir}; try again when it is up`);
  let cluster: EmbeddedCluster | null = null;
  try {
    const quiet = { info: () => undefined, warn: (o: object, m: string) => say(`${m} ${JSON.stringify(o)}`) };
    cluster = await startEmbeddedCluster({ dataDir, port: embeddedPgPort, log: quiet });
    say(`started the embedded PostgreSQL in ${path.join(dataDir, 'postgres')} for this replay`);
    const databaseUrl = await ensureDatabase(cluster.serverUrl, 'opsledger');
    const started = cluster;
    return {
      databaseUrl,
      release: async () => {
        await started.stop();
        acquired.lock.release();
      },
    };
  } catch (error) {
    await cluster?.stop();
    acquired.lock.release();
    throw error;
  }
}

/**
 * `opsledger replay <projection>|--all`: empties the read model and moves its checkpoint back, then waits
 * until it holds every event again. Whoever holds the projection's leader lock rebuilds it: the api if it
 * runs (this command then watches), otherwise this command.
 */
export async function replayCommand(cli: CliConfig, projections: Projection[]): Promise<number> {
  const say = (line: string) => process.stderr.write(line + '\n');
  const connection = await connect(cli, say);
  const { databaseUrl } = connection;
  const pool = createPool(databaseUrl, { max: 4, applicationName: 'opsledger-replay' });
  const store = createEventStore({ eventStoreConnectionString: cli.config.EVENTSTORE_CONNECTION_STRING, pool, databaseUrl });
  const positions = new ProjectionPositions(pool, databaseUrl);
  const reason = (o: object) => ((o as { err?: Error }).err ? `: ${(o as { err: Error }).err.message}` : '');
  const runnerLog = { info: () => undefined, warn: (o: object, m: string) => say(`warning: ${m}${reason(o)}`), error: (o: object, m: string) => say(`error: ${m}${reason(o)}`) };
  const runner = new ProjectionRunner(pool, store, projections, positions, databaseUrl, runnerLog, { electionIntervalMs: 500 });
  let interrupted = false;
  const onSignal = () => (interrupted = true);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Bars only on a terminal; in a pipe or a log the summary lines say it all.
  const bars = process.stderr.isTTY
    ? new cliProgress.MultiBar(
        { format: ' {name} [{bar}] {value}/{total} events | {rate} events/s | {who}', hideCursor: true, clearOnComplete: false, stopOnComplete: false },
        cliProgress.Presets.shades_classic,
      )
    : null;
  try {
    await migrate(databaseUrl);
    for (const p of projections) await runner.reset(p.name);
    const head = await store.headPosition();
    const totals = new Map<string, number>();
    for (const p of projections) totals.set(p.name, head ? await countEvents(store, pool, p.eventTypes, head) : 0);
    const started = Date.now();
    await runner.start();
    const width = Math.max(...projections.map((p) => p.name.length));
    const bar = new Map(projections.map((p) => [p.name, bars?.create(totals.get(p.name)!, 0, { name: p.name.padEnd(width), rate: 0, who: '' })]));
    const finished = new Map<string, { events: number; ms: number }>();
    while (finished.size < projections.length) {
      if (interrupted) throw new Error('interrupted; the projections go on rebuilding wherever they are led');
      const rows = new Map((await readAllCheckpoints(pool)).map((r) => [r.name, r]));
      for (const p of projections) {
        const applied = Number(rows.get(p.name)?.eventsApplied ?? 0n);
        const total = totals.get(p.name)!;
        const ms = Date.now() - started;
        const who = runner.isLeader(p.name) ? 'rebuilding here' : 'rebuilt by the process that leads it';
        bar.get(p.name)?.update(Math.min(applied, total), { rate: Math.round(applied / Math.max(ms / 1000, 0.001)), who });
        // events_applied moves in the same transaction as the read model, so reaching the count means rebuilt.
        if (!finished.has(p.name) && applied >= total) finished.set(p.name, { events: applied, ms });
      }
      if (finished.size < projections.length) await sleep(100);
    }
    bars?.stop();
    let events = 0;
    for (const [name, f] of finished) {
      events += f.events;
      process.stdout.write(`${name}: rebuilt ${f.events} events in ${(f.ms / 1000).toFixed(2)} s (${Math.round(f.events / Math.max(f.ms / 1000, 0.001))} events/s)\n`);
    }
    const ms = Date.now() - started;
    process.stdout.write(`replay done: ${events} events in ${(ms / 1000).toFixed(2)} s, ${Math.round(events / Math.max(ms / 1000, 0.001))} events/s\n`);
    return 0;
  } finally {
    bars?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await runner.stop();
    await positions.close();
    await store.close();
    await pool.end();
    await connection.release();
  }
}
