import { createPool, type Pool } from '@app/database';
import { type AllSubscription, EVENT_STORE, type EventStore, formatPosition, type Position, START } from '@app/event-store';
import { DATABASE_URL } from '@app/platform';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import { TASK_EVENT_TYPES } from '../domain/task.events.js';
import type { TaskProgressPublisher, TaskProgressUpdate } from '../worker/progress-publisher.js';
import { PostgresSocketEmitter } from './postgres-emitter.js';
import { type ProgressMessage, TASK_EVENTS_CHANNEL, TASK_PROGRESS_CHANNEL, type TaskEventsMessage, toWireEvent, type WireEvent } from './wire.js';

const LEADER_LOCK = 'opsledger:task-event-broadcaster';
const HEARTBEAT_MS = 5000;
/** Event bytes per message, leaving room for the envelope within PostgreSQL's 8000-byte NOTIFY payload. */
const MESSAGE_BYTES = 7000;

/**
 * Process manager → every api node: stored task events in order (one broadcaster at a time, elected by an
 * advisory lock, so two instances do not send everything twice) and fine-grained progress from each worker.
 */
@Injectable()
export class TaskEventBroadcaster implements OnApplicationBootstrap, OnApplicationShutdown, TaskProgressPublisher {
  private readonly logger = new Logger('task-broadcast');
  private readonly pool: Pool;
  private readonly emitter: PostgresSocketEmitter;
  private lockClient: pg.Client | null = null;
  private subscription: AllSubscription | null = null;
  private electionTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private progress: TaskProgressUpdate[] = [];
  private progressTimer: NodeJS.Timeout | null = null;
  /** Everything up to here has been broadcast (the `after` of the next message). */
  private sent: Position = START;
  private sending: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(DATABASE_URL) private readonly databaseUrl: string,
  ) {
    this.pool = createPool(databaseUrl, { max: 3, applicationName: 'opsledger-task-broadcast' });
    this.emitter = new PostgresSocketEmitter(this.pool);
  }

  onApplicationBootstrap(): void {
    void this.elect();
    this.electionTimer = setInterval(() => void this.elect(), 2000);
  }

  private async elect(): Promise<void> {
    if (this.stopped || this.lockClient) return;
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'opsledger-task-broadcast-lock' });
    const lost = () => {
      if (this.lockClient !== client) return;
      this.lockClient = null;
      void this.stepDown();
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [LEADER_LOCK]);
      if (!rows[0].ok || this.stopped) {
        client.removeAllListeners();
        client.on('error', () => undefined);
        await client.end();
        return;
      }
      this.lockClient = client;
      await this.lead();
    } catch (error) {
      this.logger.warn({ msg: 'broadcaster election failed', err: error });
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }

  private async lead(): Promise<void> {
    this.sent = (await this.store.headPosition()) ?? START;
    this.subscription = this.store.subscribeToAll({
      fromPosition: this.sent.commit < 0n ? 'start' : this.sent,
      filter: { eventTypes: TASK_EVENT_TYPES },
      maxBatchSize: 1000,
      onBatch: async ({ events, checkpoint }) => {
        // Messages stay under the NOTIFY payload limit where they can: larger ones go through the attachments table.
        let chunk: WireEvent[] = [];
        let size = 0;
        for (const [i, recorded] of events.entries()) {
          const wire = toWireEvent(recorded);
          if (!wire) continue;
          const bytes = Buffer.byteLength(JSON.stringify(wire));
          if (chunk.length && size + bytes > MESSAGE_BYTES) {
            await this.send(chunk, events[i - 1].position);
            chunk = [];
            size = 0;
          }
          chunk.push(wire);
          size += bytes + 1;
        }
        if (chunk.length || events.length) await this.send(chunk, checkpoint);
      },
      onError: (error) => {
        this.logger.warn({ msg: 'broadcast subscription failed; electing again', err: error });
        void this.stepDown();
      },
    });
    this.heartbeatTimer = setInterval(() => {
      // Lets api nodes notice a lost notification even when no task event follows it.
      if (!this.stopped) void this.send([], null).catch(() => undefined);
    }, HEARTBEAT_MS);
  }

  /** Serialised, so messages commit (and arrive) in order; upTo null: a heartbeat that covers nothing new. */
  private send(events: WireEvent[], upTo: Position | null): Promise<void> {
    const next = this.sending.then(async () => {
      const to = upTo ?? this.sent;
      const message: TaskEventsMessage = { after: formatPosition(this.sent), upTo: formatPosition(to), events };
      await this.emitter.serverSideEmit(TASK_EVENTS_CHANNEL, message);
      this.sent = to;
    });
    this.sending = next.catch(() => undefined);
    return next;
  }

  private async stepDown(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    const subscription = this.subscription;
    this.subscription = null;
    await subscription?.close();
    const client = this.lockClient;
    this.lockClient = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }

  /** Fine-grained progress, coalesced into one message per 50 ms. */
  publish(update: TaskProgressUpdate): void {
    if (this.stopped) return;
    this.progress.push(update);
    this.progressTimer ??= setTimeout(() => {
      this.progressTimer = null;
      const message: ProgressMessage = { updates: this.progress.splice(0) };
      this.emitter.serverSideEmit(TASK_PROGRESS_CHANNEL, message).catch(() => undefined);
    }, 50);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.electionTimer) clearInterval(this.electionTimer);
    if (this.progressTimer) clearTimeout(this.progressTimer);
    await this.stepDown();
    await this.pool.end();
  }
}
