import { CancelledError, START, type AllStreamResolvedEvent, type AllStreamSubscription, type EventStoreDBClient } from '@eventstore/db-client';
import { EventStoreUnavailableError } from '../errors.js';
import { comparePositions, matchesFilter, maxPosition } from '../position.js';
import type { AllSubscription, Position, RecordedEvent, SubscribeToAllOptions } from '../types.js';
import { isSystemEvent, isUnavailable, subscriptionFilter, toRecordedEvent, toStoreError } from './mapping.js';

/** Checkpoints and caught-up signals are pushed into the event stream, so they stay in order with the events. */
const MARKER = Symbol('marker');
type Marker = { [MARKER]: 'checkpoint'; position: Position } | { [MARKER]: 'caughtUp' | 'fellBehind' };
type Item = AllStreamResolvedEvent | Marker;

const isMarker = (item: Item): item is Marker => MARKER in item;

/** Wraps an onBatch failure so it is never mistaken for a connection problem worth retrying. */
class HandlerFailed extends Error {
  constructor(readonly error: Error) {
    super(error.message);
  }
}

class SubscriptionEnded extends Error {}

export interface EsdbSubscriptionDeps {
  client: EventStoreDBClient;
  /** Position of the last record in $all, system events included; null when empty. */
  lastPosition(): Promise<Position | null>;
  maxReconnectAttempts: number;
}

/**
 * A catch-up subscription to $all that hands batches to onBatch one at a time. While onBatch runs
 * nothing is read from the stream, so the client's buffer fills and gRPC flow control pauses the
 * server. On a connection loss it subscribes again from the last checkpoint onBatch completed.
 */
export class EsdbAllSubscription implements AllSubscription {
  readonly done: Promise<void>;
  private closed = false;
  private closeSignal!: () => void;
  private readonly closing = new Promise<void>((resolve) => (this.closeSignal = resolve));
  private stream: AllStreamSubscription | null = null;
  /** Exclusive resume point: everything up to here was handed to onBatch and completed. */
  private handled: Position | 'start' | null = null;
  private received = false;

  constructor(
    private readonly deps: EsdbSubscriptionDeps,
    private readonly options: SubscribeToAllOptions,
  ) {
    this.done = this.run().catch((error: unknown) => {
      const failure = error instanceof HandlerFailed ? error.error : (error as Error);
      this.closed = true;
      options.onError?.(failure);
      throw failure;
    });
    this.done.catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closeSignal();
    await this.stream?.unsubscribe().catch(() => undefined);
    await this.done.catch(() => undefined);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        this.handled ??= await this.startPosition();
        this.received = false;
        await this.follow(this.handled);
      } catch (error) {
        if (this.closed) return;
        if (error instanceof HandlerFailed) throw error;
        if (this.received) failures = 0;
        if (!isTransient(error)) throw toStoreError(error);
        if (++failures > this.deps.maxReconnectAttempts) {
          throw new EventStoreUnavailableError(`subscription to $all lost after ${this.deps.maxReconnectAttempts} attempts to reconnect`, error);
        }
        await Promise.race([sleep(Math.min(50 * 2 ** failures, 2000)), this.closing]);
      }
    }
  }

  private async startPosition(): Promise<Position | 'start'> {
    const from = this.options.fromPosition ?? 'start';
    // 'end' is pinned to a position so that a reconnection before the first event misses nothing.
    if (from === 'end') return (await this.deps.lastPosition()) ?? 'start';
    return from;
  }

  /** Reads one server subscription until it fails or the subscription is closed. */
  private async follow(from: Position | 'start'): Promise<void> {
    const maxBatch = this.options.maxBatchSize ?? 500;
    const headAtStart = await this.deps.lastPosition();
    const { server, clientSide } = subscriptionFilter(this.options.filter, (position) => stream.push({ [MARKER]: 'checkpoint', position }));
    const stream = this.deps.client.subscribeToAll(
      { fromPosition: from === 'start' ? START : from, filter: server },
      { highWaterMark: maxBatch },
    );
    this.stream = stream;
    stream.on('caughtUp', () => stream.push({ [MARKER]: 'caughtUp' }));
    stream.on('fellBehind', () => stream.push({ [MARKER]: 'fellBehind' }));
    const failed = new Promise<never>((_, reject) => {
      stream.on('error', reject);
      stream.on('end', () => reject(new SubscriptionEnded('the server ended the subscription')));
    });
    failed.catch(() => undefined);

    let checkpoint: Position | null = from === 'start' ? null : from;
    let live: boolean | null = null;
    let reportedCaughtUp = false;
    try {
      while (!this.closed) {
        const events: RecordedEvent[] = [];
        const before = checkpoint;
        let item: Item | null;
        while (events.length < maxBatch && (item = stream.read() as Item | null) !== null) {
          this.received = true;
          if (isMarker(item)) {
            if (item[MARKER] === 'checkpoint') checkpoint = checkpoint ? maxPosition(checkpoint, item.position) : item.position;
            else live = item[MARKER] === 'caughtUp';
            // Caught up, the server has looked at everything that existed when we subscribed; a filtered
            // subscription hears of that only through this message (checkpoints come every N records).
            if (live && headAtStart) checkpoint = checkpoint ? maxPosition(checkpoint, headAtStart) : headAtStart;
            continue;
          }
          const record = item.event;
          if (!record?.position) continue;
          checkpoint = checkpoint ? maxPosition(checkpoint, record.position) : record.position;
          if (isSystemEvent(record.type) || (clientSide && !matchesFilter(this.options.filter, record.type, record.streamId))) continue;
          events.push(toRecordedEvent(record));
        }
        const advanced = checkpoint !== null && (before === null || comparePositions(checkpoint, before) > 0);
        // Servers before 23.10 send no caught-up message: then reaching the head seen at start counts.
        const caughtUp = checkpoint !== null && (live ?? (headAtStart === null || comparePositions(checkpoint, headAtStart) >= 0));
        // Going live is news even when nothing moved (a filter that matched nothing): subscribers wait for it.
        if (!events.length && !advanced && !(caughtUp && !reportedCaughtUp)) {
          await Promise.race([new Promise((resolve) => stream.once('readable', resolve)), failed, this.closing]);
          continue;
        }
        try {
          await this.options.onBatch({ events, checkpoint: checkpoint!, caughtUp });
        } catch (error) {
          throw new HandlerFailed(error as Error);
        }
        reportedCaughtUp = caughtUp;
        this.handled = checkpoint!;
      }
    } finally {
      this.stream = null;
      stream.removeAllListeners('caughtUp').removeAllListeners('fellBehind');
      stream.on('error', () => undefined);
      await stream.unsubscribe().catch(() => undefined);
    }
  }
}

function isTransient(error: unknown): boolean {
  return (
    isUnavailable(error) || error instanceof EventStoreUnavailableError || error instanceof CancelledError || error instanceof SubscriptionEnded
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
