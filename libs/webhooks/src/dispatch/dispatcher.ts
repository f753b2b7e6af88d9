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
  /** Above 0: an owner of the endpoint whose lease ran out may have sent it (see migration 104). */
  claims: number;
  payload: ExternalEvent;
  /** Set while the delivery's stream does not exist yet (revision -1): what its Scheduled event says. */
  scheduled: QueuedScheduled | null;
  /** Only on the one row per endpoint without a delivery: whether this process owns the endpoint … */
  owned: boolean | null;
  /** … and whether that is beyond its fair share (another process manager should have it). */
  surplus: boolean | null;
}

/** An endpoint this process owns: it alone sends its deliveries while its lease lasts. */
interface Ownership {
  /** The lease as this process knows it (ms since epoch, from before the round that renewed it). */
  validUntil: number;
  renewedAt: number;
  surplus: boolean;
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
 * new stream (no_stream: through the AppendBatcher, with the other delivery appends). A flush waits
 * SUCCESS_LINGER_MS for more entries (unless a full batch is waiting): the receiver has its request already, and
 * only the record comes that much later, in batches a few times larger (about 65 entries instead of 19 at
 * 2,000 deliveries/s, which cut the appends' PostgreSQL time per delivery by a tenth).
 */
class SuccessBatcher {
  private pending: { entry: SucceededEntry; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private flushing = false;

  constructor(private readonly appends: StreamAppender, private readonly owner: string) {}

  add(entry: SucceededEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      if (!this.flushing) setTimeout(() => void this.flush(), SUCCESS_LINGER_MS);
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
      if (this.pending.length && this.pending.length < MAX_SUCCESS_BATCH) await new Promise((r) => setTimeout(r, SUCCESS_LINGER_MS));
    }
    this.flushing = false;
  }
}

const MAX_SUCCESS_BATCH = 500;
const SUCCESS_LINGER_MS = 10;

/**
 * An attempt starts only while the endpoint's lease has this much beyond the attempt's timeout left, so it is
 * over, and its success recorded and projected, long before another process manager can take the endpoint.
 */
const LEASE_MARGIN_MS = 10_000;
/** Leases are renewed about once a second (every claim round until then only checks them) … */
const RENEW_EVERY_MS = 1000;
/** … and last this much beyond the margin and the timeout, so a renewal a few seconds late stops nothing. */
const RENEW_SLACK_MS = 3000;
/** Cancelling a disabled endpoint's deliveries sends nothing. */
const SWEEP_TIMEOUT_MS = 5000;
/** After an unexpected failure (the database away while recording, say), a row waits this long before it is tried again. */
const FAILED_PROCESSING_DELAY_MS = 5000;
const HEARTBEAT_EVERY_MS = 1000;
const WAKE_SOON_MS = 10;
/** Rows read ahead per endpoint: eight times its concurrency, within these bounds (see cycle). */
const MIN_READ_AHEAD = 64;
const MAX_READ_AHEAD = 512;
const IDLE_POLL_MS = 1000;
const SWEEP_EVERY_MS = 30_000;
const UNKNOWN_ENDPOINT_DELAY_MS = 1000;
/**
 * Queue rows are only an index of work: delivered ones are deleted at once (webhook_claim), failed and cancelled
 * ones after this long; a redelivery queues a deleted one again from its record.
 */
const SETTLED_RETENTION = '7 days';
const PRUNE_EVERY_MS = 600_000;

export interface DispatcherOptions {
  autoDisableAfterMs: number;
  connectionString: string;
  /** Where claim rounds run (a pool without synchronous commit); the main pool when absent. */
  claimPool?: Pool;
}

/**
 * Sends due deliveries. An endpoint is owned by one process manager at a time (webhook_claim keeps a lease
 * per endpoint and shares the endpoints fairly among the process managers alive): the owner alone sends its
 * deliveries, so the concurrency limit is kept here, in memory, and the rate limit's bucket in the database.
 * Each cycle is one call of webhook_claim: it stores the outcomes finished since the last call, renews the
 * leases and reads due rows. A row is sent, then recorded in the delivery stream with the revision it was read
 * at, so whatever happened to the delivery meanwhile (a cancel, a redelivery request, a previous owner's
 * attempt) is seen and folded in, never overwritten.
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
  private readonly owned = new Map<string, Ownership>();
  /** Rows read per endpoint, started as this process's requests to it finish. */
  private readonly ready = new Map<string, ClaimedRow[]>();
  /** Deliveries waiting in `ready` or being processed here: never read again until their outcome is stored. */
  private readonly active = new Set<string>();
  /** Requests open per endpoint (its concurrency limit) … */
  private readonly open = new Map<string, number>();
  /** … and rows being processed per endpoint (sent or not): an endpoint is handed over only without any. */
  private readonly busy = new Map<string, Set<string>>();
  /** Rows whose processing failed unexpectedly: when read again they are checked like a previous owner's. */
  private readonly doubtful = new Set<string>();
  private lastHeartbeatAt = 0;
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

  /**
   * After a finished attempt: attempts finishing within WAKE_SOON_MS share one claim round trip. Nothing waits
   * for that round but the outcomes' storing and the read-ahead's refill (a finished request's slot goes to a
   * ready row at once, and new deliveries wake the loop through NOTIFY).
   */
  private wakeSoon(): void {
    if (this.wakeTimer) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.wake();
    }, WAKE_SOON_MS);
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
    // Rows held for an endpoint that is no longer enabled are let go (nothing was written for them; a sweep cancels them).
    for (const id of [...this.ready.keys()]) if (this.registry.get(id)?.status !== 'enabled' || this.owned.get(id)?.surplus) this.forget(id);
    const targets: { id: string; want: number; rate: number | null; leaseMs: number; renew: boolean; anyTime: boolean }[] = [];
    const release: string[] = [];
    for (const e of this.registry.all()) {
      const own = this.owned.get(e.id);
      const held = (this.ready.get(e.id)?.length ?? 0) + (this.open.get(e.id) ?? 0);
      const renew = !own || now - own.renewedAt >= RENEW_EVERY_MS;
      if (own?.surplus) {
        // Another process manager should have it: once nothing of it is under way here, it is let go.
        if (this.idle(e.id)) release.push(e.id);
        else targets.push({ id: e.id, want: 0, rate: null, leaseMs: this.leaseMs(e.definition.timeoutMs), renew, anyTime: false });
      } else if (e.status === 'enabled') {
        const { maxConcurrency, rateLimitPerSecond: rate, timeoutMs } = e.definition;
        // Reading a row writes nothing, so rows are read ahead in chunks: a read skips past the rows held here
        // (p_exclude), and reading a few at a time would skip the same held rows again and again. A rate-limited
        // endpoint spends its bucket when a row is read, so it reads only what it can start.
        const ahead = Math.min(MAX_READ_AHEAD, Math.max(MIN_READ_AHEAD, 8 * maxConcurrency));
        const want = rate ? maxConcurrency - held : held <= ahead / 4 ? ahead - held : 0;
        targets.push({ id: e.id, want, rate, leaseMs: this.leaseMs(timeoutMs), renew, anyTime: false });
      } else if (this.sweep.has(e.id) || !this.idle(e.id)) {
        targets.push({ id: e.id, want: this.sweep.has(e.id) ? 100 - held : 0, rate: null, leaseMs: this.leaseMs(SWEEP_TIMEOUT_MS), renew, anyTime: true });
      }
    }
    // Owned, and neither enabled nor being swept (or unknown): let go once idle.
    for (const id of this.owned.keys()) if (!targets.some((t) => t.id === id) && !release.includes(id) && this.idle(id)) release.push(id);
    // One order for every process, so the endpoints' lease rows are locked without deadlocks.
    targets.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const done = this.completions;
    const heartbeat = now - this.lastHeartbeatAt >= HEARTBEAT_EVERY_MS;
    if (!targets.length && !done.length && !release.length && !heartbeat) return;
    this.completions = [];
    let rows: ClaimedRow[];
    try {
      ({ rows } = await (this.options.claimPool ?? this.pool).query<ClaimedRow>(
        `SELECT * FROM webhook_claim($1, $2, $3::uuid[], $4::text[], $5::bigint[], $6::integer[], $7::timestamptz[], $8::text[], $9::integer[], $10::float8[], $11::integer[], $12::boolean[], $13::boolean[], $14::uuid[], $15::text[])`,
        [
          this.owner,
          heartbeat,
          done.map((c) => c.id),
          done.map((c) => c.status),
          done.map((c) => c.revision.toString()),
          done.map((c) => c.attempts),
          done.map((c) => c.nextAt),
          targets.map((t) => t.id),
          targets.map((t) => t.want),
          targets.map((t) => t.rate),
          targets.map((t) => t.leaseMs),
          targets.map((t) => t.renew),
          targets.map((t) => t.anyTime),
          this.held(targets.filter((t) => t.want > 0).map((t) => t.id)),
          release,
        ],
      ));
    } catch (error) {
      this.completions.unshift(...done);
      throw error;
    }
    if (heartbeat) this.lastHeartbeatAt = now;
    for (const id of release) this.owned.delete(id);
    const targetOf = new Map(targets.map((t) => [t.id, t]));
    for (const row of rows) {
      if (row.delivery_id === null) {
        const target = targetOf.get(row.endpoint_id)!;
        const previous = this.owned.get(row.endpoint_id);
        if (!row.owned) {
          // Not ours (any more): what is held for it is let go; requests under way finish, their outcomes are
          // not stored (the owner sends those rows again, same webhook-id).
          this.owned.delete(row.endpoint_id);
          this.forget(row.endpoint_id);
          if (target.anyTime) this.sweep.delete(row.endpoint_id);
          continue;
        }
        const renewed = target.renew || !previous;
        this.owned.set(row.endpoint_id, {
          validUntil: renewed ? now + target.leaseMs : previous!.validUntil,
          renewedAt: renewed ? now : previous!.renewedAt,
          surplus: row.surplus === true,
        });
        continue;
      }
      // Read again while this process still holds it (the round was under way when it was handed back): kept once.
      if (this.active.has(row.delivery_id)) continue;
      this.active.add(row.delivery_id);
      const list = this.ready.get(row.endpoint_id) ?? [];
      list.push(row);
      this.ready.set(row.endpoint_id, list);
    }
    for (const t of targets) if (t.anyTime && !rows.some((r) => r.endpoint_id === t.id && r.delivery_id)) this.sweep.delete(t.id);
    for (const id of this.ready.keys()) this.fill(id);
  }

  /** The deliveries of these endpoints held here (ready or being processed): a read skips them. */
  private held(endpointIds: string[]): string[] {
    const ids: string[] = [];
    for (const id of endpointIds) {
      for (const row of this.ready.get(id) ?? []) ids.push(row.delivery_id);
      for (const deliveryId of this.busy.get(id) ?? []) if (this.active.has(deliveryId)) ids.push(deliveryId);
    }
    return ids;
  }

  private leaseMs(timeoutMs: number): number {
    return timeoutMs + LEASE_MARGIN_MS + RENEW_SLACK_MS;
  }

  /** Nothing of the endpoint held or under way in this process. */
  private idle(endpointId: string): boolean {
    return !this.ready.has(endpointId) && !this.busy.has(endpointId);
  }

  /** Whether the endpoint's lease, as this process knows it, lasts at least that long from now (false when not owned). */
  private leaseLasts(endpointId: string, ms: number): boolean {
    return Date.now() + ms <= (this.owned.get(endpointId)?.validUntil ?? 0);
  }

  /** Whether a request to the endpoint may start now: owned, and the lease outlasts the attempt by the margin. */
  private mayStart(endpointId: string, timeoutMs: number): boolean {
    return !this.owned.get(endpointId)?.surplus && this.leaseLasts(endpointId, timeoutMs + LEASE_MARGIN_MS);
  }

  /** Starts ready rows of the endpoint while its concurrency limit and its lease allow. */
  private fill(endpointId: string): void {
    const endpoint = this.registry.get(endpointId);
    const limit = endpoint?.status === 'enabled' ? endpoint.definition.maxConcurrency : Number.POSITIVE_INFINITY;
    const timeoutMs = endpoint?.status === 'enabled' ? endpoint.definition.timeoutMs : SWEEP_TIMEOUT_MS;
    const list = this.ready.get(endpointId);
    while (!this.stopped && list?.length && (this.open.get(endpointId) ?? 0) < limit && this.mayStart(endpointId, timeoutMs)) {
      this.launch(list.shift()!);
    }
    if (list && !list.length) this.ready.delete(endpointId);
  }

  /** Lets go of the rows held ready for the endpoint: nothing was written for them, they stay due for whoever reads next. */
  private forget(endpointId: string): void {
    for (const row of this.ready.get(endpointId) ?? []) this.active.delete(row.delivery_id);
    this.ready.delete(endpointId);
  }

  private countOpen(endpointId: string, by: number): void {
    const n = (this.open.get(endpointId) ?? 0) + by;
    if (n) this.open.set(endpointId, n);
    else this.open.delete(endpointId);
  }

  /** Processes one row in the background (the loop goes on); its request counts as open until it is sent. */
  private launch(row: ClaimedRow): void {
    let sending = true;
    const sent = () => {
      if (!sending) return;
      sending = false;
      this.countOpen(row.endpoint_id, -1);
      // Its slot goes to a row held ready, if there is one; a claim round follows either way.
      this.fill(row.endpoint_id);
      this.wakeSoon();
    };
    this.countOpen(row.endpoint_id, 1);
    const busy = this.busy.get(row.endpoint_id) ?? new Set<string>();
    this.busy.set(row.endpoint_id, busy.add(row.delivery_id));
    const work = this.process(row, sent)
      .catch((error) => {
        this.logger.error({ err: error, deliveryId: row.delivery_id, msg: 'delivery attempt failed unexpectedly; it is tried again shortly' });
        if (this.active.has(row.delivery_id)) {
          this.complete({ id: row.delivery_id, status: 'pending', revision: BigInt(row.revision), attempts: row.attempts, nextAt: new Date(Date.now() + FAILED_PROCESSING_DELAY_MS).toISOString() });
          // It may have been sent, and its success even recorded in a batch that reported a failure.
          if (this.doubtful.size < 10_000) this.doubtful.add(row.delivery_id);
        }
      })
      .finally(() => {
        sent();
        this.active.delete(row.delivery_id);
        busy.delete(row.delivery_id);
        if (!busy.size && this.busy.get(row.endpoint_id) === busy) this.busy.delete(row.endpoint_id);
        this.inFlight.delete(work);
        // Disabled or deleted while this attempt was under way: the row's next attempt is cancelled by a sweep.
        if (this.registry.get(row.endpoint_id)?.status !== 'enabled') this.sweep.add(row.endpoint_id);
        this.wakeSoon();
      });
    this.inFlight.add(work);
  }

  private complete(completion: Completion): void {
    // Done with it from here on: the next round stores this outcome before it reads rows again.
    this.active.delete(completion.id);
    this.doubtful.delete(completion.id);
    this.completions.push(completion);
    if (completion.status === 'pending' && completion.nextAt) {
      this.dueTimes.push(Date.parse(completion.nextAt));
      if (this.dueTimes.length > 2000) this.dueTimes = this.dueTimes.sort((a, b) => a - b).slice(0, 1000);
    }
  }

  /** `sent`: called once its request is over (or when none will be made), to free its slot at the endpoint. */
  private async process(row: ClaimedRow, sent: () => void): Promise<void> {
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
    // Possibly sent before by a previous owner (or by this process, before an unexpected failure).
    const doubtful = row.claims > 0 || this.doubtful.has(row.delivery_id);
    if (revision < 0n && doubtful && (await this.settledInBatch(row))) return;
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
    sent();
    const command: DeliveryCommand = { type: 'RecordAttempt', result, policy: definition.retry, random: Math.random(), now: new Date() };
    // Only a row nobody can have sent before knows that no stream exists: a previous owner may have recorded an
    // attempt in the row's own stream (the per-stream path then folds that in). Likewise only while the lease
    // surely lasts: after a stall (the event loop blocked, say) another owner may have taken the endpoint and
    // sent the row again; in its own stream the second record meets the first, in a batch it would not.
    const batchable = revision < 0n && !doubtful && this.leaseLasts(row.endpoint_id, LEASE_MARGIN_MS);
    const events = (batchable && (await this.recordFirstSuccess(row, state, command))) || (await this.record(row, state, revision, command));
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
   * A row without a stream that a previous owner of the endpoint may have sent (its lease ran out): its success
   * may sit in a batch event whose completion never reached the queue. The read model has folded that batch in
   * long before the lease runs out (the last attempt started LEASE_MARGIN_MS + its timeout before that), so it
   * tells; the row is completed as it was, nothing is sent again.
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
    for (const id of [...this.ready.keys()]) this.forget(id);
    // The outcomes stored and the endpoints let go, so another process manager continues at once. If this fails,
    // the leases run out and whoever takes the endpoints checks what this process may have sent.
    await this.finalRound().catch((error) => this.logger.warn({ err: error, msg: 'handing the webhook endpoints over failed; their leases run out' }));
    const listener = this.listener;
    this.listener = null;
    if (listener) {
      listener.removeAllListeners();
      listener.on('error', () => undefined);
      await listener.end().catch(() => undefined);
    }
    await this.registry.stop();
  }

  private async finalRound(): Promise<void> {
    const done = this.completions;
    this.completions = [];
    await (this.options.claimPool ?? this.pool).query(
      `SELECT * FROM webhook_claim($1, false, $2::uuid[], $3::text[], $4::bigint[], $5::integer[], $6::timestamptz[], '{}', '{}', '{}', '{}', '{}', '{}', '{}', $7::text[])`,
      [this.owner, done.map((c) => c.id), done.map((c) => c.status), done.map((c) => c.revision.toString()), done.map((c) => c.attempts), done.map((c) => c.nextAt), [...this.owned.keys()]],
    );
    this.owned.clear();
    // Gone from the fair share at once.
    await this.pool.query('DELETE FROM webhook_dispatchers WHERE owner = $1', [this.owner]);
  }
}
