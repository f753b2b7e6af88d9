import { BACKWARDS, END, EventStoreDBClient, FORWARDS, START, StreamNotFoundError } from '@eventstore/db-client';
import { comparePositions, matchesFilter } from '../position.js';
import type {
  AllSubscription,
  AppendOptions,
  AppendResult,
  EventStore,
  NewEvent,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeToAllOptions,
} from '../types.js';
import { EsdbAllSubscription } from './esdb-subscription.js';
import { isSystemEvent, toAppendError, toEventData, toExpectedRevision, toRecordedEvent, toStoreError, type EsdbRecord } from './mapping.js';

/** Same default as the postgres adapter when readAll gets no maxCount. */
const READ_ALL_DEFAULT_COUNT = 4096;
const READ_ALL_PAGE = 512;

export interface EsdbEventStoreOptions {
  /** Consecutive failed attempts to resubscribe before a subscription gives up (default 30, about a minute). */
  maxReconnectAttempts?: number;
}

/** EventStoreDB adapter of the event store port, through @eventstore/db-client (gRPC). */
export class EsdbEventStore implements EventStore {
  readonly kind = 'esdb' as const;
  private readonly subscriptions = new Set<AllSubscription>();

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly options: EsdbEventStoreOptions = {},
  ) {}

  /** e.g. `esdb://127.0.0.1:2113?tls=false` or `esdb+discover://cluster.example:2113`. */
  static fromConnectionString(connectionString: string, options?: EsdbEventStoreOptions): EsdbEventStore {
    return new EsdbEventStore(EventStoreDBClient.connectionString(connectionString), options);
  }

  async appendToStream(streamId: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (events.length === 0) throw new Error('appendToStream needs at least one event');
    const expected = options.expectedRevision ?? 'any';
    try {
      const result = await this.client.appendToStream(streamId, events.map(toEventData), { expectedRevision: toExpectedRevision(expected) });
      // An idempotent retry may be answered without a position: look up the original event's.
      const position = result.position ?? (await this.readStream(streamId, { fromRevision: result.nextExpectedRevision, maxCount: 1 }))[0]?.position;
      if (!position) throw new Error(`append to ${streamId} succeeded but its last event cannot be read`);
      return { nextExpectedRevision: result.nextExpectedRevision, position };
    } catch (error) {
      throw toAppendError(error, streamId, expected, events[0].id);
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const from = options.fromRevision ?? (backwards ? 'end' : 'start');
    const events: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(streamId, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: from === 'start' ? START : from === 'end' ? END : from,
        maxCount: options.maxCount ?? Number.MAX_SAFE_INTEGER,
      });
      for await (const resolved of read) if (resolved.event) events.push(toRecordedEvent(resolved.event as EsdbRecord));
      return events;
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw toStoreError(error, streamId);
    }
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const maxCount = options.maxCount ?? READ_ALL_DEFAULT_COUNT;
    let after = options.fromPosition && options.fromPosition !== 'start' ? options.fromPosition : null;
    const events: RecordedEvent[] = [];
    // Reading $all forwards from a position includes the event at it, and the filter runs here (the
    // client's readAll has none), so read pages until enough events match.
    while (events.length < maxCount) {
      const page = await this.readAllPage(after ?? 'start', 'forwards', READ_ALL_PAGE);
      for (const record of page) {
        if (after && comparePositions(record.position!, after) <= 0) continue;
        if (isSystemEvent(record.type) || !matchesFilter(options.filter, record.type, record.streamId)) continue;
        events.push(toRecordedEvent(record));
        if (events.length === maxCount) break;
      }
      if (page.length < READ_ALL_PAGE) break;
      after = page[page.length - 1].position!;
    }
    return events;
  }

  async headPosition(): Promise<Position | null> {
    return this.lastPosition(false);
  }

  subscribeToAll(options: SubscribeToAllOptions): AllSubscription {
    const deps = { client: this.client, lastPosition: () => this.lastPosition(true), maxReconnectAttempts: this.options.maxReconnectAttempts ?? 30 };
    const subscription = new EsdbAllSubscription(deps, options);
    this.subscriptions.add(subscription);
    const forget = () => this.subscriptions.delete(subscription);
    subscription.done.then(forget, forget);
    return subscription;
  }

  async ping(): Promise<void> {
    await this.readAllPage('end', 'backwards', 1);
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.client.dispose();
  }

  /** The last record of $all; system events only count when asked (they are invisible to readers). */
  private async lastPosition(includeSystem: boolean): Promise<Position | null> {
    const pageSize = 64;
    let from: Position | 'end' = 'end';
    for (;;) {
      const page = await this.readAllPage(from, 'backwards', pageSize);
      const last = includeSystem ? page[0] : page.find((r) => !isSystemEvent(r.type));
      if (last) return last.position!;
      if (page.length < pageSize) return null;
      from = page[page.length - 1].position!;
    }
  }

  private async readAllPage(from: Position | 'start' | 'end', direction: 'forwards' | 'backwards', maxCount: number): Promise<EsdbRecord[]> {
    const records: EsdbRecord[] = [];
    try {
      const read = this.client.readAll({
        fromPosition: from === 'start' ? START : from === 'end' ? END : from,
        direction: direction === 'forwards' ? FORWARDS : BACKWARDS,
        maxCount,
      });
      for await (const resolved of read) if (resolved.event?.position) records.push(resolved.event as EsdbRecord);
    } catch (error) {
      throw toStoreError(error);
    }
    return records;
  }
}
