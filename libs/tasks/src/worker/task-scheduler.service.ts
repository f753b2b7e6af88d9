import { DomainError } from '@app/core';
import { type Pool, type PoolClient } from '@app/database';
import { AppendBatcher, type AllSubscription, EVENT_STORE, type EventStore, type Position, type RecordedEvent, WrongExpectedVersionError } from '@app/event-store';
import { PG_POOL } from '@app/platform';
import { readCheckpoint } from '@app/projections';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap, Optional } from '@nestjs/common';
import { PRIORITIES, type Priority, TASK_EVENT_TYPES } from '../domain/task.events.js';
import { taskProjection } from '../domain/task.projection.js';
import type { TaskState } from '../domain/task.state.js';
import type { TaskHandler } from '../registry/task-type.js';
import { TaskTypeRegistry } from '../registry/task-type.registry.js';
import { leaseLostAbort, shutdownAbort } from './abort-reasons.js';
import { Capacity } from './capacity.js';
import { triggerOccurrence } from './occurrences.js';
import { TASK_PROGRESS_PUBLISHER, type TaskProgressPublisher } from './progress-publisher.js';
import { RunningAttempt } from './running-attempt.js';
import { TaskStreamWriter } from './stream-writer.js';
import { type BookEntry, TaskBook } from './task-book.js';
import { TASKS_CONFIG, type TasksConfig } from './tasks-config.js';
import { WorkerLease } from './worker-lease.js';

// Unref'd: a shutdown that finished early must not wait for these.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/**
 * The task scheduler of one process-manager instance. It follows task events itself (from the read model's
 * snapshot, then the subscription), so it claims new work as soon as it is written, without waiting for
 * the api's projections. A claim is the append of TaskStarted with the expected revision: of several
 * instances claiming one task, exactly one wins.
 */
@Injectable()
export class TaskScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('tasks');
  private readonly book = new TaskBook();
  private readonly capacity: Capacity;
  private readonly lease: WorkerLease;
  private readonly batcher: AppendBatcher;
  private readonly running = new Map<string, { attempt: RunningAttempt; done: Promise<void> }>();
  private readonly claiming = new Set<string>();
  private readonly triggering = new Set<string>();
  private readonly parked = new Map<string, Set<string>>();
  private readonly unknownTypesLogged = new Set<string>();
  private subscription: AllSubscription | null = null;
  private position: Position | 'start' = 'start';
  private dueTimer: NodeJS.Timeout | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private reaperTimer: NodeJS.Timeout | null = null;
  private reaping: Promise<void> | null = null;
  private kickPending = false;
  private leaseLost = false;
  private stopping = false;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(TASKS_CONFIG) private readonly config: TasksConfig,
    private readonly registry: TaskTypeRegistry,
    @Optional() @Inject(TASK_PROGRESS_PUBLISHER) private readonly publisher: TaskProgressPublisher | null,
  ) {
    const overrides = config.typeLimits();
    this.capacity = new Capacity(config.OPSLEDGER_TASKS_CONCURRENCY, config.OPSLEDGER_TASKS_RESERVED_CRITICAL, config.OPSLEDGER_TASKS_RESERVED_NORMAL, (type) =>
      overrides.get(type) ?? registry.get(type)?.definition.concurrency,
    );
    this.lease = new WorkerLease(pool, config.OPSLEDGER_TASKS_LEASE_MS, () => this.onLeaseLost());
    this.batcher = new AppendBatcher(store, pool);
  }

  get workerId(): string {
    return this.lease.workerId;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.lease.start();
    this.position = await this.loadSnapshot();
    this.subscribe();
    this.tickTimer = setInterval(() => this.kick(), 1000);
    const reapEvery = Math.max(250, Math.floor(this.config.OPSLEDGER_TASKS_LEASE_MS / 2));
    this.reaperTimer = setInterval(() => {
      this.reaping ??= this.reap()
        .catch((error) => this.logger.warn({ msg: 'lease reaper failed', err: error }))
        .finally(() => (this.reaping = null));
    }, reapEvery);
    this.logger.log({ msg: 'task scheduler started', workerId: this.workerId, openTasks: this.book.size, concurrency: this.capacity.total });
  }

  /** The open tasks as of the tasks read model's checkpoint, read in one snapshot; the subscription continues from there. */
  private async loadSnapshot(): Promise<Position | 'start'> {
    const client: PoolClient = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const checkpoint = await readCheckpoint(client, taskProjection.name);
      const { rows } = await client.query<{ state: TaskState; revision: string; correlation_id: string | null }>(
        `SELECT state, revision, correlation_id FROM tasks WHERE status IN ('pending', 'active')`,
      );
      await client.query('COMMIT');
      this.book.load(rows.map((r) => ({ state: r.state, revision: BigInt(r.revision), correlationId: r.correlation_id ?? r.state.operationId })));
      return checkpoint.commit < 0n ? 'start' : checkpoint;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private subscribe(): void {
    if (this.stopping) return;
    this.subscription = this.store.subscribeToAll({
      fromPosition: this.position,
      filter: { eventTypes: TASK_EVENT_TYPES },
      maxBatchSize: 1000,
      onBatch: async ({ events, checkpoint }) => {
        for (const event of events) this.onEvent(event);
        this.position = checkpoint;
        if (events.length) this.kick();
      },
      onError: (error) => {
        this.logger.error({ msg: 'task subscription failed; resuming', err: error });
        setTimeout(() => this.subscribe(), 1000).unref();
      },
    });
  }

  private onEvent(event: RecordedEvent): void {
    this.book.apply(event);
    this.running.get((event.data as { operationId: string }).operationId)?.attempt.observe(event);
  }

  private kick(): void {
    if (this.kickPending || this.stopping) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.stopping || !this.lease.healthy) return;
    const now = Date.now();
    for (let entry = this.book.popDueSchedule(now); entry; entry = this.book.popDueSchedule(now)) this.startTrigger(entry);
    for (const priority of PRIORITIES) {
      while (this.capacity.admits(priority)) {
        const entry = this.book.popDue(priority, now);
        if (!entry) break;
        this.tryStart(entry, priority);
      }
    }
    this.armDueTimer();
  }

  private tryStart(entry: BookEntry, priority: Priority): void {
    const { operationId: id, taskType: type } = entry.state;
    if (this.running.has(id) || this.claiming.has(id)) return;
    const registered = this.registry.get(type);
    if (!registered || !this.capacity.typeAdmits(type)) {
      if (!registered && !this.unknownTypesLogged.has(type)) {
        this.unknownTypesLogged.add(type);
        this.logger.warn({ msg: 'no handler for this task type in this process manager; its tasks wait', taskType: type });
      }
      let set = this.parked.get(type);
      if (!set) this.parked.set(type, (set = new Set()));
      set.add(id);
      return;
    }
    this.capacity.acquire(priority, type);
    this.claiming.add(id);
    void this.claim(entry, priority, registered.handler);
  }

  private async claim(entry: BookEntry, priority: Priority, handler: TaskHandler<unknown>): Promise<void> {
    const { operationId: id, taskType: type } = entry.state;
    const writer = new TaskStreamWriter(this.store, this.batcher, id, entry.state, entry.revision, entry.correlationId, this.workerId);
    try {
      await writer.execute({ type: 'StartAttempt', workerId: this.workerId, leaseMs: this.config.OPSLEDGER_TASKS_LEASE_MS, now: new Date() });
    } catch (error) {
      this.claiming.delete(id);
      this.release(priority, type);
      // Not runnable any more (another instance started it, it was cancelled): the subscription brings the news.
      if (!(error instanceof DomainError) && !(error instanceof WrongExpectedVersionError)) {
        this.logger.warn({ msg: 'claim failed; retrying soon', operationId: id, err: error });
        setTimeout(() => {
          this.book.requeue(id);
          this.kick();
        }, 1000).unref();
      }
      return;
    }
    this.claiming.delete(id);
    const attempt = new RunningAttempt(writer, handler, this.publisher, this.logger);
    // The slot frees when the handler is done, so the next claims share a batch with this outcome.
    let released = false;
    const free = () => {
      if (released) return;
      released = true;
      this.release(priority, type);
    };
    const done = attempt
      .run(free)
      .catch((error) => this.logger.error({ msg: 'attempt failed unexpectedly', operationId: id, err: error }))
      .finally(() => {
        this.running.delete(id);
        free();
      });
    this.running.set(id, { attempt, done });
  }

  private release(priority: Priority, type: string): void {
    this.capacity.release(priority, type);
    const parked = this.parked.get(type);
    if (parked) {
      for (const id of parked) {
        parked.delete(id);
        if (this.book.get(id)?.state.status === 'pending') {
          this.book.requeue(id);
          break;
        }
      }
    }
    this.kick();
  }

  private startTrigger(entry: BookEntry): void {
    const id = entry.state.operationId;
    if (this.triggering.has(id)) return;
    this.triggering.add(id);
    triggerOccurrence(this.store, this.batcher, entry, this.workerId)
      .catch((error) => {
        if (!(error instanceof DomainError)) this.logger.warn({ msg: 'recurrence trigger failed; retrying', operationId: id, err: error });
        setTimeout(() => {
          this.book.requeue(id);
          this.kick();
        }, 1000).unref();
      })
      .finally(() => this.triggering.delete(id));
  }

  private armDueTimer(): void {
    const next = this.book.nextDueAt();
    if (this.dueTimer) clearTimeout(this.dueTimer);
    this.dueTimer = null;
    if (next === null) return;
    this.dueTimer = setTimeout(() => this.kick(), Math.min(Math.max(0, next - Date.now()) + 1, 60_000));
  }

  /** Stop everything running here before another instance may take it over. */
  private onLeaseLost(): void {
    if (this.running.size) this.logger.warn({ msg: 'lease not renewed in time; stopping running attempts', running: this.running.size });
    this.leaseLost = true;
    for (const { attempt } of this.running.values()) attempt.abort(leaseLostAbort());
  }

  /**
   * Attempts of dead workers (lease not renewed) are retried; after a lost lease, also this worker's
   * own attempts it stopped. ExpireLease names the attempt and worker, so a repeat or a race is harmless.
   */
  private async reap(): Promise<void> {
    if (this.stopping) return;
    const now = Date.now();
    const ownOrphan = (e: BookEntry) =>
      this.leaseLost && this.lease.healthy && !this.running.has(e.state.operationId) && !this.claiming.has(e.state.operationId);
    const suspects = [...this.book.values()].filter(
      (e) => e.state.status === 'active' && (e.state.workerId === this.workerId ? ownOrphan(e) : Date.parse(e.state.leaseUntil ?? '') < now),
    );
    // Once nothing aborted by the lost lease is left running or unrecorded, stop looking at our own attempts.
    if (this.leaseLost && this.lease.healthy && this.running.size === 0 && !suspects.some((e) => e.state.workerId === this.workerId)) this.leaseLost = false;
    if (!suspects.length) return;
    const live = await this.lease.liveWorkers();
    live.delete(this.workerId);
    for (const entry of suspects) {
      const { operationId, workerId, attempt } = entry.state;
      if (!workerId || live.has(workerId)) continue;
      const writer = new TaskStreamWriter(this.store, this.batcher, operationId, entry.state, entry.revision, entry.correlationId, this.workerId);
      try {
        await writer.execute({ type: 'ExpireLease', attempt, workerId, now: new Date(), random: Math.random() });
        this.logger.warn({ msg: 'lease expired; attempt retried', operationId, attempt, deadWorker: workerId });
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
      }
    }
    await this.lease.sweep();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    for (const timer of [this.dueTimer, this.tickTimer, this.reaperTimer]) if (timer) clearTimeout(timer);
    const running = () => [...this.running.values()].map((r) => r.done);
    if (this.running.size) {
      await Promise.race([Promise.all(running()), sleep(this.config.OPSLEDGER_TASKS_SHUTDOWN_GRACE_MS)]);
      for (const { attempt } of this.running.values()) attempt.abort(shutdownAbort());
      await Promise.race([Promise.all(running()), sleep(5000)]);
      // Outcomes that still could not be recorded: the lease (deleted below) lets another instance retry them.
      for (const { attempt } of this.running.values()) attempt.close();
    }
    await this.reaping?.catch(() => undefined);
    await this.subscription?.close();
    await this.lease.stop();
  }
}
