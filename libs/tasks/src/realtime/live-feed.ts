import { comparePositions, EVENT_STORE, type EventStore, parsePosition, type Position, START } from '@app/event-store';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { TASK_EVENT_TYPES } from '../domain/task.events.js';
import { SubscriptionHub } from './subscription-hub.js';
import { type LiveEvent, toLiveEvent } from './subscription.js';
import { type TaskEventsMessage, toWireEvent, type WireEvent } from './wire.js';

const PAGE = 1000;

/**
 * The task events this api node receives from the process manager's broadcaster, in order and without
 * gaps: a message that does not start where the last one ended (a lost notification, a new broadcaster)
 * makes the node read the missing range from the event store instead.
 */
@Injectable()
export class TaskLiveFeed {
  private readonly logger = new Logger('task-live-feed');
  private seen: Position = START;
  private chain: Promise<void> | null = null;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly hub: SubscriptionHub,
  ) {}

  /**
   * Events before the node started are history (replayed on request), not live; messages that come earlier
   * are dropped (nobody can have subscribed yet) and later ones wait until the head is known.
   */
  start(): void {
    this.chain = this.store.headPosition().then((head) => {
      this.seen = head ?? START;
    });
  }

  receive(message: TaskEventsMessage): void {
    if (!this.chain) return;
    this.chain = this.chain.then(() => this.process(message)).catch((error) => this.logger.warn({ msg: 'live task events could not be processed', err: error }));
  }

  private async process(message: TaskEventsMessage): Promise<void> {
    const after = parsePosition(message.after);
    const upTo = parsePosition(message.upTo);
    if (!after || !upTo) return;
    const events = comparePositions(after, this.seen) > 0 ? await this.read(this.seen, upTo) : message.events.map(toLiveEvent);
    for (const event of events) {
      if (comparePositions(event.position, this.seen) > 0) {
        this.hub.deliver(event);
        this.seen = event.position;
      }
    }
    if (comparePositions(upTo, this.seen) > 0) this.seen = upTo;
  }

  private async read(from: Position, upTo: Position): Promise<LiveEvent[]> {
    const out: LiveEvent[] = [];
    for (let cursor = from; ; ) {
      const page = await this.store.readAll({ fromPosition: cursor.commit < 0n ? 'start' : cursor, filter: { eventTypes: TASK_EVENT_TYPES }, maxCount: PAGE });
      for (const recorded of page) {
        if (comparePositions(recorded.position, upTo) > 0) return out;
        const wire = toWireEvent(recorded);
        if (wire) out.push(toLiveEvent(wire as WireEvent));
      }
      if (page.length < PAGE) return out;
      cursor = page[page.length - 1].position;
    }
  }
}
