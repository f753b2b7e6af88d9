import { type Pool, type PoolClient, withTransaction } from '@app/database';
import { comparePositions, START, type AllSubscription, type EventStore, type Position, type SubscriptionBatch } from '@app/event-store';
import pg from 'pg';
import { advanceCheckpoint, readCheckpoint, resetCheckpoint } from './checkpoints.js';
import { PROJECTIONS_CHANNEL, ProjectionPositions } from './positions.js';
import type { Projection } from './projection.js';

export interface RunnerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Another runner (or a rebuild) moved the checkpoint: this batch must not be applied. */
class CheckpointMovedError extends Error {}

function lockKey(name: string): string {
  return `opsledger:projection:${name}`;
}

interface Running {
  projection: Projection;
  subscription: AllSubscription | null;
  leader: boolean;
  restartTimer: NodeJS.Timeout | null;
  failures: number;
  /** The checkpoint as stored in projection_checkpoints (may lag the announced position). */
  persisted: Position;
  persistedAt: number;
  /** Bumped on every subscribe, so a replaced subscription's late error does not start another one. */
  generation: number;
}

const CHECKPOINT_IDLE_PERSIST_MS = 1000;

/**
 * Runs each projection on exactly one process at a time (a session advisory lock per projection),
 * applying each batch and its checkpoint in one transaction, so a crash never applies an event twice
 * or skips one. Other processes stand by and take over when the holder's connection goes away.
 */
export class ProjectionRunner {
  private readonly running = new Map<string, Running>();
  private lockClient: pg.Client | null = null;
  private electionTimer: NodeJS.Timeout | null = null;
  private notifyPending = new Map<string, Position>();
  private notifying = false;
  private stopped = false;
  /** Batch-interval pauses in progress (see Projection.batchIntervalMs); stop() cuts them short. */
  private readonly pauses = new Set<() => void>();

  constructor(
    private readonly pool: Pool,
    private readonly store: EventStore,
    private readonly projections: readonly Projection[],
    private readonly positions: ProjectionPositions,
    private readonly connectionString: string,
    private readonly logger: RunnerLogger,
    private readonly options: { electionIntervalMs?: number; maxBatchSize?: number } = {},
  ) {
    for (const projection of projections) {
      this.running.set(projection.name, { projection, subscription: null, leader: false, restartTimer: null, failures: 0, persisted: START, persistedAt: 0, generation: 0 });
    }
  }

  names(): string[] {
    return this.projections.map((p) => p.name);
  }

  /** Projections whose read models an event of this type changes. */
  namesFor(eventTypes: readonly string[]): string[] {
    return this.projections.filter((p) => p.eventTypes.some((t) => eventTypes.includes(t))).map((p) => p.name);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.elect();
    this.electionTimer = setInterval(() => void this.elect(), this.options.electionIntervalMs ?? 2000);
    this.electionTimer.unref();
  }

  private async connectLockClient(): Promise<pg.Client | null> {
    if (this.lockClient) return this.lockClient;
    const client = new pg.Client({ connectionString: this.connectionString, application_name: 'opsledger-projection-locks' });
    const lost = () => {
      if (this.lockClient !== client) return;
      this.lockClient = null;
      // Losing the session loses the locks: stop everything this process was leading.
      for (const r of this.running.values()) void this.demote(r);
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
    } catch (error) {
      this.logger.warn({ err: error }, 'projection lock connection failed');
      return null;
    }
    this.lockClient = client;
    return client;
  }

  private async elect(): Promise<void> {
    if (this.stopped) return;
    const client = await this.connectLockClient();
    if (!client) return;
    for (const r of this.running.values()) {
      if (r.leader) {
        await this.restartIfMovedBack(r).catch((error) => !this.stopped && this.logger.warn({ err: error, projection: r.projection.name }, 'projection checkpoint check failed'));
        continue;
      }
      try {
        const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [lockKey(r.projection.name)]);
        if (rows[0].ok && !this.stopped) {
          r.leader = true;
          await this.subscribe(r);
        }
      } catch (error) {
        // stop() ends the lock connection under a running election round; that is no failure.
        if (!this.stopped) this.logger.warn({ err: error, projection: r.projection.name }, 'projection election failed');
      }
    }
  }

  /**
   * A rebuild started by another process (the replay CLI) moved the stored checkpoint back; an idle leader
   * would notice only at its next batch, so the election round looks and restarts it from the start.
   */
  private async restartIfMovedBack(r: Running): Promise<void> {
    const known = r.persisted;
    const generation = r.generation;
    if (!r.subscription || known.commit < 0n) return;
    const stored = await readCheckpoint(this.pool, r.projection.name);
    if (comparePositions(stored, known) >= 0 || generation !== r.generation || !r.subscription || !r.leader || this.stopped) return;
    this.logger.info({ projection: r.projection.name }, 'projection checkpoint moved back (rebuild requested); rebuilding');
    const sub = r.subscription;
    r.subscription = null;
    await sub.close();
    if (r.leader && !this.stopped && generation === r.generation) await this.subscribe(r);
  }

  private async subscribe(r: Running): Promise<void> {
    const name = r.projection.name;
    const generation = ++r.generation;
    const start = await readCheckpoint(this.pool, name);
    r.persisted = start;
    this.positions.update(name, start, true);
    r.subscription = this.store.subscribeToAll({
      fromPosition: start.commit < 0n ? 'start' : start,
      filter: { eventTypes: r.projection.eventTypes },
      maxBatchSize: this.options.maxBatchSize ?? 1000,
      onBatch: async (batch) => {
        const began = Date.now();
        await this.applyBatch(r, batch);
        r.failures = 0;
        const interval = r.projection.batchIntervalMs ?? 0;
        if (interval > 0 && batch.events.length && batch.caughtUp && !this.stopped) await this.pause(began + interval - Date.now());
      },
      onError: (error) => {
        if (generation !== r.generation) return;
        r.subscription = null;
        if (this.stopped || !r.leader) return;
        const moved = error instanceof CheckpointMovedError;
        r.failures = moved ? 0 : r.failures + 1;
        if (!moved) this.logger.error({ err: error, projection: name }, 'projection failed; restarting from its checkpoint');
        const delay = moved ? 10 : Math.min(100 * 2 ** r.failures, 10_000);
        r.restartTimer = setTimeout(() => {
          r.restartTimer = null;
          if (r.leader && !this.stopped && generation === r.generation) void this.subscribe(r).catch((e) => this.logger.error({ err: e }, 'projection restart failed'));
        }, delay);
      },
    });
  }

  /**
   * A batch with events: apply + checkpoint in one transaction. A batch that only moves the checkpoint
   * past other projections' events changes nothing here, so it is announced at once and stored lazily:
   * resuming from an older checkpoint only re-reads events this projection does not handle.
   */
  private async applyBatch(r: Running, batch: SubscriptionBatch): Promise<void> {
    const { projection } = r;
    const now = Date.now();
    if (batch.events.length || now - r.persistedAt > CHECKPOINT_IDLE_PERSIST_MS) {
      const previous = r.persisted;
      const client: PoolClient = await this.pool.connect();
      try {
        // The events are durable in the store; a read model that loses its last commits in a server crash
        // loses its checkpoint with them and re-applies, so these commits need not wait for the WAL flush.
        await client.query('BEGIN; SET LOCAL synchronous_commit = off');
        // The checkpoint row first: it locks the row, and moves only from where this runner left it.
        if (!(await advanceCheckpoint(client, projection.name, previous, batch.checkpoint, batch.events.length))) {
          throw new CheckpointMovedError(`${projection.name} checkpoint moved`);
        }
        if (batch.events.length) await projection.apply(client, batch.events);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
      r.persisted = batch.checkpoint;
      r.persistedAt = now;
    }
    this.positions.update(projection.name, batch.checkpoint);
    this.publish(projection.name, batch.checkpoint);
    if (batch.events.length) projection.afterCommit?.(batch.events);
  }

  /** Tells other processes' waiters (coalesced: one NOTIFY in flight, latest position per projection). */
  private publish(name: string, position: Position): void {
    this.notifyPending.set(name, position);
    if (this.notifying) return;
    this.notifying = true;
    void (async () => {
      while (this.notifyPending.size) {
        const batch = [...this.notifyPending];
        this.notifyPending.clear();
        try {
          await this.pool.query(
            `SELECT pg_notify('${PROJECTIONS_CHANNEL}', p) FROM unnest($1::text[]) AS p`,
            [batch.map(([n, pos]) => ProjectionPositions.payload(n, pos))],
          );
        } catch {
          // Waiters elsewhere time out or catch up on their next refresh.
        }
      }
      this.notifying = false;
    })();
  }

  private async demote(r: Running): Promise<void> {
    r.leader = false;
    if (r.restartTimer) clearTimeout(r.restartTimer);
    r.restartTimer = null;
    const sub = r.subscription;
    r.subscription = null;
    await sub?.close();
  }

  /**
   * Empties a projection's tables and moves its checkpoint back to the start in one transaction;
   * whichever process leads it then rebuilds it (its next batch sees the moved checkpoint and restarts).
   */
  async reset(name: string): Promise<void> {
    const r = this.running.get(name);
    if (!r) throw new Error(`unknown projection ${name}`);
    await withTransaction(this.pool, async (client) => {
      await client.query('SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE', [name]);
      await r.projection.reset(client);
      await resetCheckpoint(client, name);
    });
    this.positions.update(name, { commit: -1n, prepare: -1n }, true);
    this.publish(name, { commit: -1n, prepare: -1n });
    if (r.leader && r.subscription) {
      // Restart at once rather than waiting for the next event to reveal the moved checkpoint.
      const sub = r.subscription;
      r.subscription = null;
      await sub.close();
      await this.subscribe(r);
    }
  }

  isLeader(name: string): boolean {
    return this.running.get(name)?.leader ?? false;
  }

  private pause(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pauses.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.pauses.add(done);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const cut of [...this.pauses]) cut();
    if (this.electionTimer) clearInterval(this.electionTimer);
    await Promise.all([...this.running.values()].map((r) => this.demote(r)));
    const client = this.lockClient;
    this.lockClient = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}
