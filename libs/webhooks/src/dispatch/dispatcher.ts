import { type ExternalEvent, fold, toDomainEvent } from '@app/core';
import type { Pool } from '@app/database';
import { type EventStore, IdempotencyConflictError, type StreamAppender, WrongExpectedVersionError } from '@app/event-store';
import type { Logger } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { DELIVERY_BATCH_EVENT_TYPE, deliveryBatchStreamId, type SucceededEntry } from '../deliveries/delivery-batch.js';
import { scheduledEventIdFor } from '../deliveries/delivery-ids.js';
import { type DeliveryCommand, deliveryDecider, type DeliveryEvent, type DeliveryState, deliveryStreamId, type ScheduledData } from '../deliveries/delivery.decider.js';
import { WEBHOOK_PROVIDERS } from '../deliveries/providers.js';
import type { SecretBox } from '../security/secret-box.js';
import { signatureHeader } from '../security/signing.js';
import { type QueuedScheduled, WEBHOOKS_CHANNEL } from './delivery-queue.js';
import type { RegisteredEndpoint } from './endpoint-registry.js';
import { EndpointHealth } from './endpoint-health.js';
import { LiveEndpointRegistry } from './live-registry.js';
import type { WebhookHttpClient } from './webhook-client.js';

interface ClaimedRow {
  delivery_id: string;
  endpoint_id: string;
  message_id: string;
  correlation_id: string;
  revision: string;
  attempts: number;
  retry_base: number;
  claims: number;
  payload: ExternalEvent;
  /** Set while the delivery's stream does not exist yet (revision -1): what its Scheduled event says. */
  scheduled: QueuedScheduled | null;
  /** Only on the one row per endpoint without a delivery: how many requests this process may start now. */
  startable: number | null;
}

/** A row claimed ahead, waiting for one of this process's requests to the endpoint to finish. */
interface ReadyRow {
  row: ClaimedRow;
  /** Start it no later than this (ms since epoch): it must finish within its lease. */
  startBy: number;
}

interface Completion {
  id: string;
  status: string;
  revision: bigint;
  attempts: number;
  nextAt: string | null;
}

/**
 * Collects first-attempt successes and writes them as one WebhookDeliveriesSucceeded event per flush, into a
 * new stream (no_stream: through the AppendBatcher, with the other delivery appends). A flush starts when the
 * previous one has returned, or at once when idle, so entries wait at most one append.
 */
class SuccessBatcher {
  private pending: { entry: SucceededEntry; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private flushing = false;

  constructor(private readonly appends: StreamAppender, private readonly owner: string) {}

  add(entry: SucceededEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      if (!this.flushing) setImmediate(() => void this.flush());
      this.flushing = true;
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0, MAX_SUCCESS_BATCH);
      const batchId = randomUUID();
      try {
        await this.appends.append(
          deliveryBatchStreamId(batchId),
          [{
            id: batchId,
            type: DELIVERY_BATCH_EVENT_TYPE,
            data: { deliveries: batch.map((b) => b.entry) },
            metadata: { actor: { kind: 'system', id: 'webhook-dispatcher' }, correlationId: batchId, causationId: batchId, dispatcher: this.owner },
          }],
          'no_stream',
        );
        for (const b of batch) b.resolve();
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
    this.flushing = false;
  }
}

const MAX_SUCCESS_BATCH = 500;

/** A lease outlives the longest attempt by this much, so a live sender never loses its claim. */
const LEASE_MARGIN_MS = 10_000;
const SWEEP_LEASE_MS = 30_000;
const IDLE_POLL_MS = 1000;
const SWEEP_EVERY_MS = 30_000;
const UNKNOWN_ENDPOINT_DELAY_MS = 1000;
/** Settled queue rows are only an index of the delivery streams; a redelivery recreates a deleted one. */
const SETTLED_RETENTION = '7 days';
const PRUNE_EVERY_MS = 600_000;

export interface DispatcherOptions {
  autoDisableAfterMs: number;
  connectionString: string;
  /** Where claim rounds run (a pool without synchronous commit); the main pool when absent. */
  claimPool?: Pool;
}

/**
 * Sends due deliveries. Each cycle is one call of webhook_claim: it stores the attempts finished since
 * the last call and claims due rows, per endpoint within its concurrency and rate limit across every
 * process manager. A claimed attempt is sent, then recorded in the delivery stream with the revision the
 * row was claimed at, so whatever happened to the delivery meanwhile (a cancel, another sender after a
 * lost lease) is seen and folded in, never overwritten.
 */
export class WebhookDispatcher {
  private readonly owner = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly registry: LiveEndpointRegistry;
  private readonly health: EndpointHealth;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly secrets = new Map<string, string>();
  /** Disabled or deleted endpoints whose pending deliveries must be cancelled. */
  private readonly sweep = new Set<string>();
  private completions: Completion[] = [];
  /** Rows claimed ahead per endpoint (see webhook_claim p_prefetch), started as this process's requests finish. */
  private readonly ready = new Map<string, ReadyRow[]>();
  /** Deliveries waiting in `ready` or being sent by this process. */
  private readonly active = new Set<string>();
  /** Claimed rows whose request has finished and whose outcome is being recorded: delivery id → endpoint id. */
  private readonly sent = new Map<string, string>();
  private readonly successes: SuccessBatcher;
  private listener: pg.Client | null = null;
  private wakeUp: (() => void) | null = null;
  private wakeRequested = false;
  private wakeTimer: NodeJS.Timeout | null = null;
  /** When retries this process scheduled fall due (a few thousand at most; later ones are found by polling). */
  private dueTimes: number[] = [];
  private lastSweepAt = 0;
  private lastPruneAt = 0;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly store: EventStore,
    /** Appends of delivery events (see WebhookDelivery): attempts finishing together are written together. */
    private readonly deliveryAppends: StreamAppender,
    private readonly box: SecretBox,
    private readonly http: WebhookHttpClient,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions,
  ) {
    this.health = new EndpointHealth(pool, store, logger, options.autoDisableAfterMs);
    this.successes = new SuccessBatcher(deliveryAppends, this.owner);
    this.registry = new LiveEndpointRegistry(store, logger, (endpoint) => {
      if (endpoint.status !== 'enabled') this.sweep.add(endpoint.id);
      this.wake();
    });
  }

  async start(): Promise<void> {
    this.registry.start();
    await this.listen();
    await Promise.race([this.registry.ready, new Promise((r) => setTimeout(r, 5000).unref())]);
    this.running = this.loop();
  }

  wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  /** After a finished attempt: attempts finishing within a couple of milliseconds share one claim round trip. */
  private wakeSoon(): void {
    if (this.wakeTimer) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.wake();
    }, 2);
  }

  endpoint(id: string): RegisteredEndpoint | undefined {
    return this.registry.get(id);
  }

  private async listen(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.options.connectionString, application_name: 'opsledger-webhooks-listen' });
    const retry = () => {
      if (this.listener !== client) return;
      this.listener = null;
      client.removeAllListeners();
      client.on('error', () => undefined);
      void client.end().catch(() => undefined);
      if (!this.stopped) setTimeout(() => void this.listen(), 1000).unref();
    };
    client.on('notification', () => this.wake());
    client.on('error', retry);
    client.on('end', retry);
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${WEBHOOKS_CHANNEL}`);
    } catch {
      retry();
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.wakeRequested = false;
      try {
        await this.cycle();
      } catch (error) {
        this.logger.warn({ err: error, msg: 'webhook claim failed; retrying' });
        await this.sleep(1000);
        continue;
      }
      if (this.wakeRequested) continue;
      const now = Date.now();
      let nextDue = Number.POSITIVE_INFINITY;
      this.dueTimes = this.dueTimes.filter((t) => t > now);
      for (const t of this.dueTimes) nextDue = Math.min(nextDue, t);
      await this.sleep(Math.max(5, Math.min(IDLE_POLL_MS, nextDue - now, this.rateLimitedPollMs())));
    }
  }

  private rateLimitedPollMs(): number {
    let poll = IDLE_POLL_MS;
    for (const e of this.registry.all()) if (e.status === 'enabled' && e.definition.rateLimitPerSecond) poll = Math.min(poll, Math.ceil(1000 / e.definition.rateLimitPerSecond));
    return poll;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = null;
        done();
      };
    });
  }

  private async prune(): Promise<void> {
    for (;;) {
      const { rowCount } = await this.pool.query(
        `DELETE FROM webhook_queue WHERE delivery_id IN (
           SELECT delivery_id FROM webhook_queue WHERE status <> 'pending' AND created_at < now() - interval '${SETTLED_RETENTION}' LIMIT 5000)`,
      );
      if ((rowCount ?? 0) < 5000 || this.stopped) return;
    }
  }

  private async cycle(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPruneAt > PRUNE_EVERY_MS) {
      this.lastPruneAt = now;
      void this.prune().catch((error) => this.logger.warn({ err: error, msg: 'pruning settled webhook queue rows failed' }));
    }
    if (now - this.lastSweepAt > SWEEP_EVERY_MS) {
      this.lastSweepAt = now;
      for (const e of this.registry.all()) if (e.status !== 'enabled') this.sweep.add(e.id);
    }
    // Rows held ready for an endpoint that is no longer enabled go back to the queue (a sweep cancels them).
    for (const [id, list] of this.ready) if (this.registry.get(id)?.status !== 'enabled') this.handBack(id, list.length);
    const targets: { id: string; concurrency: number; rate: number | null; leaseMs: number; anyTime: boolean; prefetch: number }[] = [];
    for (const e of this.registry.all()) {
      const { maxConcurrency: concurrency, rateLimitPerSecond: rate, timeoutMs } = e.definition;
      // Claimed ahead (no rate limit: a token bucket is spent when a row is claimed): a ready row may wait for
      // one request to finish before its own, so its lease covers two.
      if (e.status === 'enabled') targets.push({ id: e.id, concurrency, rate, leaseMs: (rate ? 1 : 2) * timeoutMs + LEASE_MARGIN_MS, anyTime: false, prefetch: rate ? 0 : concurrency });
      else if (this.sweep.has(e.id)) targets.push({ id: e.id, concurrency: 100, rate: null, leaseMs: SWEEP_LEASE_MS, anyTime: true, prefetch: 0 });
    }
    // One order for every process, so the per-endpoint advisory locks never deadlock.
    targets.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const done = this.completions;
    if (!targets.length && !done.length) return;
    const sent = this.sentPerEndpoint();
    this.completions = [];
    let rows: ClaimedRow[];
    try {
      ({ rows } = await (this.options.claimPool ?? this.pool).query<ClaimedRow>(
        `SELECT * FROM webhook_claim($1, $2::uuid[], $3::text[], $4::bigint[], $5::integer[], $6::timestamptz[], $7::text[], $8::integer[], $9::float8[], $10::integer[], $11::boolean[], $12::integer[], $13::integer[], $14::integer[])`,
        [
          this.owner,
          done.map((c) => c.id),
          done.map((c) => c.status),
          done.map((c) => c.revision.toString()),
          done.map((c) => c.attempts),
          done.map((c) => c.nextAt),
          targets.map((t) => t.id),
          targets.map((t) => t.concurrency),
          targets.map((t) => t.rate),
          targets.map((t) => t.leaseMs),
          targets.map((t) => t.anyTime),
          targets.map((t) => sent.get(t.id) ?? 0),
          targets.map((t) => this.ready.get(t.id)?.length ?? 0),
          targets.map((t) => t.prefetch),
        ],
      ));
    } catch (error) {
      this.completions.unshift(...done);
      throw error;
    }
    for (const t of targets) if (t.anyTime && !rows.some((r) => r.endpoint_id === t.id && r.delivery_id)) this.sweep.delete(t.id);
    const claimedAt = Date.now();
    const leaseOf = new Map(targets.map((t) => [t.id, t.leaseMs]));
    const startable = new Map<string, number>();
    for (const row of rows) {
      if (row.delivery_id === null) {
        startable.set(row.endpoint_id, row.startable ?? 0);
        continue;
      }
      const endpoint = this.registry.get(row.endpoint_id);
      const timeoutMs = endpoint?.definition.timeoutMs ?? 0;
      const entry = { row, startBy: claimedAt + leaseOf.get(row.endpoint_id)! - LEASE_MARGIN_MS - timeoutMs };
      const list = this.ready.get(row.endpoint_id) ?? [];
      // Claimed again by this process (its lease ran out while it waited here, or while it was being sent):
      // a waiting row takes the new lease; a row being sent is not sent twice (its completion clears the lease).
      if (this.active.has(row.delivery_id)) {
        const waiting = list.findIndex((r) => r.row.delivery_id === row.delivery_id);
        if (waiting >= 0) list[waiting] = entry;
        continue;
      }
      this.active.add(row.delivery_id);
      list.push(entry);
      this.ready.set(row.endpoint_id, list);
    }
    for (const [id, n] of startable) for (let i = 0; i < n && this.startNext(id); i++);
  }

  /** Starts the oldest ready row of the endpoint; false when there is none. Rows too old to finish within their lease go back. */
  private startNext(endpointId: string): boolean {
    const list = this.ready.get(endpointId);
    for (let next = list?.shift(); next; next = list!.shift()) {
      if (!list!.length) this.ready.delete(endpointId);
      if (Date.now() > next.startBy) {
        this.release(next.row);
        continue;
      }
      this.launch(next.row);
      return true;
    }
    return false;
  }

  /** Hands ready rows back to the queue (due now, for whoever claims next). */
  private handBack(endpointId: string, n: number): void {
    const list = this.ready.get(endpointId) ?? [];
    for (const { row } of list.splice(0, n)) this.release(row);
    if (!list.length) this.ready.delete(endpointId);
  }

  private release(row: ClaimedRow): void {
    this.active.delete(row.delivery_id);
    this.complete({ id: row.delivery_id, status: 'pending', revision: BigInt(row.revision), attempts: row.attempts, nextAt: new Date().toISOString() });
    this.wakeSoon();
  }

  /** Sends one claimed row (in the background; the loop goes on). */
  private launch(row: ClaimedRow): void {
    const work = this.process(row)
      .catch((error) => {
        // The lease stays until it runs out, and counts as open at the endpoint until then.
        this.unmarkSent(row.delivery_id);
        this.logger.error({ err: error, deliveryId: row.delivery_id, msg: 'delivery attempt failed unexpectedly; its lease expires and it is tried again' });
      })
      .finally(() => {
        this.active.delete(row.delivery_id);
        this.inFlight.delete(work);
        // Disabled or deleted while this attempt was under way: the sweep that followed could not take the
        // leased row, so it sweeps again now the row is handed back (its next attempt is cancelled).
        if (this.registry.get(row.endpoint_id)?.status !== 'enabled') this.sweep.add(row.endpoint_id);
        this.wakeSoon();
      });
    this.inFlight.add(work);
  }

  /** The request of a claimed row has finished: its endpoint slot is free while the outcome is recorded. */
  private markSent(row: ClaimedRow): void {
    this.sent.set(row.delivery_id, row.endpoint_id);
  }

  private unmarkSent(deliveryId: string): void {
    this.sent.delete(deliveryId);
  }

  /** Rows per endpoint whose request has finished (webhook_claim p_sent). */
  private sentPerEndpoint(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const endpointId of this.sent.values()) counts.set(endpointId, (counts.get(endpointId) ?? 0) + 1);
    return counts;
  }

  private complete(completion: Completion): void {
    this.unmarkSent(completion.id);
    // Done with it from here on: a claim that takes the row again (a sweep, a retry) may hand it out again.
    this.active.delete(completion.id);
    this.completions.push(completion);
    if (completion.status === 'pending' && completion.nextAt) {
      this.dueTimes.push(Date.parse(completion.nextAt));
      if (this.dueTimes.length > 2000) this.dueTimes = this.dueTimes.sort((a, b) => a - b).slice(0, 1000);
    }
  }

  private async process(row: ClaimedRow): Promise<void> {
    const endpoint = this.registry.get(row.endpoint_id);
    const state: DeliveryState = { status: 'pending', deliveryId: row.delivery_id, endpointId: row.endpoint_id, attempts: row.attempts, retryBase: row.retry_base };
    const revision = BigInt(row.revision);
    if (!endpoint) {
      // Not in this process's registry yet (it is still reading): hand the row back for a moment.
      const nextAt = new Date(Date.now() + UNKNOWN_ENDPOINT_DELAY_MS).toISOString();
      this.complete({ id: row.delivery_id, status: 'pending', revision, attempts: row.attempts, nextAt });
      return;
    }
    if (endpoint.status !== 'enabled') {
      await this.record(row, state, revision, { type: 'CancelDelivery', reason: endpoint.status === 'deleted' ? 'endpoint-deleted' : 'endpoint-disabled', now: new Date() });
      return;
    }
    if (revision < 0n && row.claims > 1 && (await this.settledInBatch(row))) return;
    const { definition } = endpoint;
    const formatted = WEBHOOK_PROVIDERS[definition.provider](row.payload, definition.template);
    const timestamp = new Date();
    const result = await this.http.send({
      url: definition.url,
      timeoutMs: definition.timeoutMs,
      body: formatted.body,
      headers: {
        'user-agent': 'OpsLedger-Webhooks/0.1',
        ...definition.headers,
        'content-type': formatted.contentType,
        'webhook-id': row.message_id,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signatureHeader(this.secretsOf(endpoint, timestamp.getTime()), row.message_id, timestamp, formatted.body),
      },
    });
    this.markSent(row);
    // Its slot goes to a row claimed ahead, if there is one; a claim round follows either way.
    this.startNext(row.endpoint_id);
    this.wakeSoon();
    const command: DeliveryCommand = { type: 'RecordAttempt', result, policy: definition.retry, random: Math.random(), now: new Date() };
    // Only a first claim knows that no stream exists: a row claimed before may have had an attempt recorded
    // in its own stream by the holder of the lost lease (the per-stream path then folds that in).
    const events = (revision < 0n && row.claims === 1 && (await this.recordFirstSuccess(row, state, command))) || (await this.record(row, state, revision, command));
    const attempted = events.find((e) => e.type === 'WebhookDeliveryAttempted');
    if (attempted?.type !== 'WebhookDeliveryAttempted') return;
    if (attempted.data.outcome === 'gone') await this.health.disable(endpoint.id, 'gone', `${definition.url} answered 410 Gone`);
    await this.health.noteOutcome(endpoint, attempted.data.outcome === 'succeeded', result.startedAt);
  }

  /**
   * A delivery without a stream whose first attempt succeeded joins the next batch event (see
   * delivery-batch.ts): deliveries succeeding within a few milliseconds of each other are one append.
   * Answers null (record it in its own stream instead) when the attempt did not succeed or the batch failed.
   */
  private async recordFirstSuccess(row: ClaimedRow, state: DeliveryState, command: DeliveryCommand): Promise<DeliveryEvent[] | null> {
    const events = deliveryDecider.decide(command, state);
    const [attempted, succeeded] = events;
    if (events.length !== 2 || attempted.type !== 'WebhookDeliveryAttempted' || succeeded.type !== 'WebhookDeliverySucceeded') return null;
    const scheduled = this.scheduledEvent(row);
    try {
      await this.successes.add({ scheduled: scheduled.data, attempt: attempted.data, at: succeeded.data.at, correlationId: row.correlation_id, causationId: scheduled.metadata.causationId });
    } catch (error) {
      this.logger.warn({ err: error, deliveryId: row.delivery_id, msg: 'recording a batch of successful deliveries failed; recording this one on its own' });
      return null;
    }
    this.complete({ id: row.delivery_id, status: 'succeeded', revision: -1n, attempts: attempted.data.attempt, nextAt: null });
    return events;
  }

  /**
   * A row without a stream claimed before (a lease lost with its process): its success may sit in a batch event
   * whose completion never reached the queue. The read model has folded that batch in long before a lease runs
   * out (timeout + LEASE_MARGIN_MS), so it tells; the row is completed as it was, nothing is sent again.
   */
  private async settledInBatch(row: ClaimedRow): Promise<boolean> {
    const { rows } = await this.pool.query<{ attempts: number }>(`SELECT attempts FROM webhook_deliveries WHERE delivery_id = $1 AND status = 'succeeded'`, [row.delivery_id]);
    if (!rows[0]) return false;
    this.complete({ id: row.delivery_id, status: 'succeeded', revision: -1n, attempts: rows[0].attempts, nextAt: null });
    return true;
  }

  /** Appends what the decider makes of the command at the claimed revision; on a concurrent change, folds the stream and decides again. */
  private async record(row: ClaimedRow, state: DeliveryState, revision: bigint, command: DeliveryCommand): Promise<DeliveryEvent[]> {
    const stream = deliveryStreamId(row.delivery_id);
    const metadata = { actor: { kind: 'system' as const, id: 'webhook-dispatcher' }, correlationId: row.correlation_id, causationId: row.delivery_id, dispatcher: this.owner };
    for (let attempt = 0; ; attempt++) {
      const events = deliveryDecider.decide(command, state);
      if (!events.length) {
        this.complete({ id: row.delivery_id, status: state.status === 'none' ? 'cancelled' : state.status, revision, attempts: state.status === 'none' ? 0 : state.attempts, nextAt: null });
        return events;
      }
      try {
        const appended = await this.deliveryAppends.append(
          stream,
          [...(revision < 0n ? [this.scheduledEvent(row)] : []), ...events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data, metadata }))],
          revision < 0n ? 'no_stream' : revision,
        );
        const next = events.reduce((s, e) => deliveryDecider.evolve(s, e), state);
        const attempted = events.find((e) => e.type === 'WebhookDeliveryAttempted');
        const nextAt = attempted?.type === 'WebhookDeliveryAttempted' ? attempted.data.nextAttemptAt : null;
        if (next.status !== 'none') this.complete({ id: row.delivery_id, status: next.status, revision: appended.nextExpectedRevision, attempts: next.attempts, nextAt });
        return events;
      } catch (error) {
        // The stream was started meanwhile (by the holder of a lost lease): either a wrong expected version,
        // or, as the append opens with the Scheduled event whose id is derived, that id found in the stream.
        const started = error instanceof WrongExpectedVersionError || (error instanceof IdempotencyConflictError && revision < 0n);
        if (!started || attempt >= 5) throw error;
        const recorded = await this.store.readStream(stream);
        state = fold(deliveryDecider, recorded.map(toDomainEvent) as DeliveryEvent[]);
        revision = recorded.length ? recorded[recorded.length - 1].revision : -1n;
      }
    }
  }

  /**
   * The first event of a delivery's stream, written with its first outcome. Its id derives from the delivery
   * id, and its data and metadata come from the queue row the router stored: every writer makes the same one.
   */
  private scheduledEvent(row: ClaimedRow) {
    const s = row.scheduled;
    if (!s) throw new Error(`queue row of delivery ${row.delivery_id} has neither a stream nor its scheduled data`);
    const data: ScheduledData = {
      deliveryId: row.delivery_id, endpointId: row.endpoint_id, messageId: row.message_id, sourceEventId: s.sourceEventId, replayId: s.replayId, test: s.test, payload: row.payload, scheduledAt: s.scheduledAt,
    };
    return { id: scheduledEventIdFor(row.delivery_id), type: 'WebhookDeliveryScheduled' as const, data, metadata: { actor: s.actor, correlationId: row.correlation_id, causationId: s.causationId } };
  }

  /** The current secret, and the previous one while its overlap lasts: receivers on either secret verify. */
  private secretsOf(endpoint: RegisteredEndpoint, now: number): string[] {
    const open = (sealed: string) => {
      let plain = this.secrets.get(sealed);
      if (!plain) {
        plain = this.box.open(sealed, endpoint.id);
        this.secrets.set(sealed, plain);
      }
      return plain;
    };
    const secrets = [open(endpoint.secret)];
    if (endpoint.previousSecret && endpoint.previousSecret.expiresAt > now) secrets.push(open(endpoint.previousSecret.sealed));
    return secrets;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.running;
    await Promise.allSettled([...this.inFlight]);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    for (const [id, list] of [...this.ready]) this.handBack(id, list.length);
    // Hand back the finished attempts so their slots and states are right for whoever continues.
    if (this.completions.length) await this.cycleCompletionsOnly().catch(() => undefined);
    const listener = this.listener;
    this.listener = null;
    if (listener) {
      listener.removeAllListeners();
      listener.on('error', () => undefined);
      await listener.end().catch(() => undefined);
    }
    await this.registry.stop();
  }

  private async cycleCompletionsOnly(): Promise<void> {
    const done = this.completions;
    this.completions = [];
    await (this.options.claimPool ?? this.pool).query(
      `SELECT * FROM webhook_claim($1, $2::uuid[], $3::text[], $4::bigint[], $5::integer[], $6::timestamptz[], '{}', '{}', '{}', '{}', '{}')`,
      [this.owner, done.map((c) => c.id), done.map((c) => c.status), done.map((c) => c.revision.toString()), done.map((c) => c.attempts), done.map((c) => c.nextAt)],
    );
  }
}
