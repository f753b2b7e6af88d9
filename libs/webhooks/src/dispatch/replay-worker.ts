import { type ExternalEventCatalog, handleCommand, systemContext, toExternalEvent } from '@app/core';
import { type Pool, withTransaction } from '@app/database';
import type { EventMetadata, EventStore, Position } from '@app/event-store';
import type { Logger } from '@nestjs/common';
import type { ScheduledData } from '../deliveries/delivery.decider.js';
import { endpointDecider, endpointStreamId } from '../endpoints/endpoint.decider.js';
import { enqueue } from './delivery-queue.js';
import { planDelivery } from './delivery-planner.js';
import type { RegisteredEndpoint } from './endpoint-registry.js';
import { causedBy } from './router.js';

const PAGE = 500;
/** created_at follows commit order only roughly; read this far past `until` before stopping. */
const CLOCK_SLACK_MS = 60_000;
const POLL_MS = 2000;

interface Job {
  replay_id: string;
  endpoint_id: string;
  since: Date;
  until: Date;
  c: string;
  p: string;
  scheduled: number;
}

/**
 * Replays: events in [since, until) that match the endpoint as it is now are delivered again, under a
 * delivery id of their own (derived from the replay id) and the original webhook-id. A job is worked one
 * page at a time under a row lock (SKIP LOCKED: one process per job); its cursor moves in the same
 * transaction as the page's queue rows, so a crash repeats at most one page, and that page's ids repeat too.
 */
export class ReplayWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly store: EventStore,
    private readonly catalog: ExternalEventCatalog,
    private readonly endpoint: (id: string) => RegisteredEndpoint | undefined,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), POLL_MS);
    this.timer.unref();
    this.kick();
  }

  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((error) => this.logger.error({ err: error, msg: 'webhook replay failed; retrying' }))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async drain(): Promise<void> {
    while (!this.stopped && (await this.step())) {
      // one page per transaction
    }
  }

  /** Works one page of one job; false when no job is left for this process. */
  private async step(): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<Job>(
        `SELECT replay_id, endpoint_id, since, until, position_commit AS c, position_prepare AS p, scheduled FROM webhook_replay_jobs
         WHERE NOT done ORDER BY replay_id LIMIT 1 FOR UPDATE SKIP LOCKED`,
      );
      const job = rows[0];
      if (!job) return false;
      const endpoint = this.endpoint(job.endpoint_id);
      const from: Position | 'start' = BigInt(job.c) < 0n ? 'start' : { commit: BigInt(job.c), prepare: BigInt(job.p) };
      const events = endpoint?.status === 'enabled' ? await this.store.readAll({ fromPosition: from, filter: { eventTypes: Object.keys(this.catalog) }, maxCount: PAGE }) : [];
      const deliveries: ScheduledData[] = [];
      const metadata = new Map<string, EventMetadata>();
      const now = new Date();
      let finished = events.length < PAGE;
      for (const event of events) {
        const at = event.createdAt.getTime();
        if (at > job.until.getTime() + CLOCK_SLACK_MS) {
          finished = true;
          break;
        }
        if (at < job.since.getTime() || at >= job.until.getTime()) continue;
        const external = toExternalEvent(this.catalog, event);
        const planned = external && endpoint ? planDelivery(event.id, external, endpoint, now, job.replay_id) : null;
        if (planned) {
          deliveries.push(planned);
          metadata.set(planned.deliveryId, causedBy(event, 'webhook-replay'));
        }
      }
      await enqueue(client, deliveries, (d) => metadata.get(d.deliveryId)!);
      const last = events.length ? events[events.length - 1].position : null;
      const scheduled = job.scheduled + deliveries.length;
      if (finished) {
        // Recorded before the job is marked done: a crash in between repeats the page and the decider ignores the second completion.
        await handleCommand(this.store, endpointDecider, endpointStreamId(job.endpoint_id), { type: 'CompleteReplay', replayId: job.replay_id, scheduled, now }, systemContext('webhook-replay'));
        this.logger.log({ replayId: job.replay_id, endpointId: job.endpoint_id, scheduled, msg: 'webhook replay completed' });
      }
      await client.query(
        `UPDATE webhook_replay_jobs SET position_commit = coalesce($2, position_commit), position_prepare = coalesce($3, position_prepare), scheduled = $4, done = $5 WHERE replay_id = $1`,
        [job.replay_id, last?.commit.toString() ?? null, last?.prepare.toString() ?? null, scheduled, finished],
      );
      return true;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
