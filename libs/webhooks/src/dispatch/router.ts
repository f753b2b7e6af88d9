import { type ExternalEventCatalog, toExternalEvent } from '@app/core';
import { type Pool, type PoolClient, withTransaction } from '@app/database';
import { type AllSubscription, comparePositions, type EventMetadata, type EventStore, type Position, type RecordedEvent, START, type SubscriptionBatch } from '@app/event-store';
import type { Logger } from '@nestjs/common';
import { type DeliveryEvent, deliveryStreamId, type ScheduledData } from '../deliveries/delivery.decider.js';
import { ENDPOINT_STATE_EVENT_TYPES, type EndpointEvent } from '../endpoints/endpoint.decider.js';
import { enqueue, WEBHOOKS_CHANNEL } from './delivery-queue.js';
import { planDelivery, planTestDelivery } from './delivery-planner.js';
import { EndpointRegistry } from './endpoint-registry.js';
import { LeaderLock } from './leader-lock.js';

const CHECKPOINT = 'router';
const IDLE_PERSIST_MS = 1000;
const CONTROL_TYPES = ['WebhookTestRequested', 'WebhookReplayRequested', 'WebhookDeliveryRedeliveryRequested'];

class CheckpointMovedError extends Error {}

interface BatchPlan {
  deliveries: ScheduledData[];
  metadata: Map<string, EventMetadata>;
  redeliveries: { delivery_id: string; revision: string; attempts: number; correlation: string }[];
  replays: { replay_id: string; endpoint_id: string; since: string; until: string }[];
}

/** Metadata of what the process manager records for an event: the same correlation, caused by it. */
export function causedBy(event: RecordedEvent, id: string): EventMetadata {
  return { actor: { kind: 'system', id }, correlationId: event.metadata.correlationId, causationId: event.id };
}

/**
 * Turns events into deliveries. One process at a time (advisory lock) follows $all from a checkpoint in
 * PostgreSQL; for each public event it matches the endpoints as they were at that position and stores the
 * deliveries' queue rows and the checkpoint in one transaction. A crash before that commit reads the batch
 * again: the deterministic delivery ids make the second pass change nothing. Each delivery's stream starts
 * when the dispatcher records its first outcome (Scheduled and Attempted in one append).
 */
export class WebhookRouter {
  private readonly lock: LeaderLock;
  private subscription: AllSubscription | null = null;
  private registry = new EndpointRegistry();
  private persisted: Position = START;
  private persistedAt = 0;
  private electionTimer: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly store: EventStore,
    private readonly catalog: ExternalEventCatalog,
    connectionString: string,
    private readonly logger: Logger,
    private readonly onReplayRequested: () => void,
    /** After a commit that queued deliveries: the dispatcher of this process claims at once (others hear the NOTIFY). */
    private readonly onQueued: () => void = () => undefined,
  ) {
    this.lock = new LeaderLock(connectionString, 'opsledger:webhook-router', () => void this.stopSubscription());
  }

  get leading(): boolean {
    return this.lock.held;
  }

  start(electionIntervalMs = 2000): void {
    this.stopped = false;
    void this.elect();
    this.electionTimer = setInterval(() => void this.elect(), electionIntervalMs);
    this.electionTimer.unref();
  }

  private async elect(): Promise<void> {
    if (this.stopped || this.subscription || this.restartTimer) return;
    if (!(await this.lock.tryAcquire()) || this.stopped) return;
    try {
      await this.subscribe();
    } catch (error) {
      this.logger.error({ err: error, msg: 'webhook router failed to start; retrying' });
      this.scheduleRestart();
    }
  }

  private async subscribe(): Promise<void> {
    const { rows } = await this.pool.query<{ c: string; p: string }>('SELECT position_commit AS c, position_prepare AS p FROM webhook_router_checkpoint WHERE name = $1', [CHECKPOINT]);
    const from: Position = rows[0] ? { commit: BigInt(rows[0].c), prepare: BigInt(rows[0].p) } : START;
    this.persisted = from;
    this.registry = await this.registryAt(from);
    const eventTypes = [...new Set([...Object.keys(this.catalog), ...ENDPOINT_STATE_EVENT_TYPES, ...CONTROL_TYPES])];
    this.subscription = this.store.subscribeToAll({
      fromPosition: from.commit < 0n ? 'start' : from,
      filter: { eventTypes },
      maxBatchSize: 500,
      onBatch: async (batch) => {
        await this.handle(batch);
        this.failures = 0;
      },
      onError: (error) => {
        this.subscription = null;
        if (this.stopped || !this.lock.held) return;
        if (!(error instanceof CheckpointMovedError)) this.logger.error({ err: error, msg: 'webhook router stopped; restarting from its checkpoint' });
        this.failures++;
        this.scheduleRestart();
      },
    });
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.elect();
    }, Math.min(100 * 2 ** this.failures, 10_000));
    this.restartTimer.unref();
  }

  /** The endpoints as they were at `position` (their events are few; read from the start). */
  private async registryAt(position: Position): Promise<EndpointRegistry> {
    const registry = new EndpointRegistry();
    let from: Position | 'start' = 'start';
    for (;;) {
      const events = await this.store.readAll({ fromPosition: from, filter: { eventTypes: ENDPOINT_STATE_EVENT_TYPES }, maxCount: 1000 });
      for (const event of events) {
        if (comparePositions(event.position, position) > 0) return registry;
        registry.apply(event);
      }
      if (events.length < 1000) return registry;
      from = events[events.length - 1].position;
    }
  }

  /** What a batch asks for: deliveries to schedule, redeliveries to queue again, replays to start. */
  private plan(batch: SubscriptionBatch): BatchPlan {
    const now = new Date();
    const plan: BatchPlan = { deliveries: [], metadata: new Map(), redeliveries: [], replays: [] };
    const add = (d: ScheduledData, source: RecordedEvent) => {
      plan.deliveries.push(d);
      plan.metadata.set(d.deliveryId, causedBy(source, 'webhook-router'));
    };
    for (const event of batch.events) {
      this.registry.apply(event);
      const control = { type: event.type, data: event.data } as EndpointEvent | DeliveryEvent;
      if (control.type === 'WebhookTestRequested') {
        const endpoint = this.registry.get(control.data.endpointId);
        if (endpoint?.status === 'enabled') add(planTestDelivery(control.data.testId, control.data.data, event.createdAt, endpoint, now), event);
        continue;
      }
      if (control.type === 'WebhookReplayRequested') {
        const d = control.data;
        plan.replays.push({ replay_id: d.replayId, endpoint_id: d.endpointId, since: d.since, until: d.until });
        continue;
      }
      if (control.type === 'WebhookDeliveryRedeliveryRequested') {
        const d = control.data;
        plan.redeliveries.push({ delivery_id: d.deliveryId, revision: event.revision.toString(), attempts: d.attemptsSoFar, correlation: event.metadata.correlationId });
        continue;
      }
      let external;
      try {
        external = toExternalEvent(this.catalog, event);
      } catch (error) {
        this.logger.error({ err: error, eventId: event.id, type: event.type, msg: 'cannot map event to its public form; no webhook for it' });
        continue;
      }
      if (!external) continue;
      for (const endpoint of this.registry.all()) {
        if (endpoint.status !== 'enabled') continue;
        const planned = planDelivery(event.id, external, endpoint, now);
        if (planned) add(planned, event);
      }
    }
    return plan;
  }

  private async handle(batch: SubscriptionBatch): Promise<void> {
    const { deliveries, metadata, redeliveries, replays } = this.plan(batch);
    if (!deliveries.length && !redeliveries.length && !replays.length && Date.now() - this.persistedAt < IDLE_PERSIST_MS) return;
    await withTransaction(this.pool, async (client) => {
      // Not waiting for the WAL flush: a database crash that loses this commit loses everything written after
      // it too (the claims and records of these rows); the router reads the batch again and queues the same
      // deliveries under the same ids, and a request already sent is sent again with the same webhook-id.
      await client.query('SET LOCAL synchronous_commit = off');
      await this.fence(client);
      await enqueue(client, deliveries, (d) => metadata.get(d.deliveryId)!);
      if (redeliveries.length) {
        const correlation = new Map(redeliveries.map((r) => [r.delivery_id, r.correlation]));
        await enqueue(client, await this.pruned(client, redeliveries), (d) => ({ actor: { kind: 'system', id: 'webhook-router' }, correlationId: correlation.get(d.deliveryId)!, causationId: d.deliveryId }));
        await client.query(
          `UPDATE webhook_queue q SET status = 'pending', next_attempt_at = now(), revision = r.revision, attempts = r.attempts, retry_base = r.attempts
           FROM jsonb_to_recordset($1::jsonb) AS r(delivery_id uuid, revision bigint, attempts integer)
           WHERE q.delivery_id = r.delivery_id AND q.revision < r.revision`,
          [JSON.stringify(redeliveries)],
        );
        await client.query(`SELECT pg_notify('${WEBHOOKS_CHANNEL}', 'due')`);
      }
      if (replays.length) {
        await client.query(
          `INSERT INTO webhook_replay_jobs (replay_id, endpoint_id, since, until) SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(replay_id text, endpoint_id text, since timestamptz, until timestamptz)
           ON CONFLICT DO NOTHING`,
          [JSON.stringify(replays)],
        );
      }
      await client.query(
        `INSERT INTO webhook_router_checkpoint (name, position_commit, position_prepare) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET position_commit = $2, position_prepare = $3, updated_at = now()`,
        [CHECKPOINT, batch.checkpoint.commit.toString(), batch.checkpoint.prepare.toString()],
      );
    });
    this.persisted = batch.checkpoint;
    this.persistedAt = Date.now();
    if (deliveries.length || redeliveries.length) this.onQueued();
    if (replays.length) this.onReplayRequested();
  }

  /** Redeliveries whose queue row is gone (deleted once delivered, or pruned): the delivery as its stream records it, to enqueue again. */
  private async pruned(client: PoolClient, redeliveries: { delivery_id: string }[]): Promise<ScheduledData[]> {
    const { rows } = await client.query<{ id: string }>('SELECT delivery_id AS id FROM webhook_queue WHERE delivery_id = ANY($1::uuid[])', [redeliveries.map((r) => r.delivery_id)]);
    const present = new Set(rows.map((r) => r.id));
    const missing: ScheduledData[] = [];
    for (const { delivery_id: id } of redeliveries) {
      if (present.has(id)) continue;
      const [first] = await this.store.readStream(deliveryStreamId(id), { maxCount: 1 });
      if (first?.type === 'WebhookDeliveryScheduled') missing.push(first.data as ScheduledData);
    }
    return missing;
  }

  /** A second router (lock lost and taken over) must not move the checkpoint under the first. */
  private async fence(client: PoolClient): Promise<void> {
    const { rows } = await client.query<{ c: string; p: string }>(
      'SELECT position_commit AS c, position_prepare AS p FROM webhook_router_checkpoint WHERE name = $1 FOR UPDATE',
      [CHECKPOINT],
    );
    const stored = rows[0] ? { commit: BigInt(rows[0].c), prepare: BigInt(rows[0].p) } : START;
    if (comparePositions(stored, this.persisted) !== 0) throw new CheckpointMovedError('the webhook router checkpoint moved under this process');
  }

  private async stopSubscription(): Promise<void> {
    const sub = this.subscription;
    this.subscription = null;
    await sub?.close();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.electionTimer) clearInterval(this.electionTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    await this.stopSubscription();
    await this.lock.release();
  }
}
