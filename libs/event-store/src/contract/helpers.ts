import { randomUUID } from 'node:crypto';
import { comparePositions, formatPosition } from '../position.js';
import type {
  AllSubscription,
  EventMetadata,
  EventStore,
  NewEvent,
  Position,
  RecordedEvent,
  SubscribeToAllOptions,
  SubscriptionBatch,
} from '../types.js';

export type EventStoreFactory = () => Promise<{ store: EventStore; cleanup(): Promise<void> }>;

export interface ContractContext {
  readonly store: EventStore;
  /** Subscribes and closes the subscription after the test; an unexpected subscription error fails the test. */
  subscribe(options: SubscribeToAllOptions): AllSubscription;
}

/**
 * Names unique to one test, so the suite also runs against a shared server (a real EventStoreDB)
 * whose `$all` already holds other events: assertions only look at this test's streams.
 */
export function testScope() {
  const run = randomUUID().replace(/-/g, '').slice(0, 10);
  return {
    stream: (category: string, id: string | number = 1) => `${category}${run}-${id}`,
    prefix: (category: string) => `${category}${run}-`,
  };
}

export function metadata(overrides: Partial<EventMetadata> = {}): EventMetadata {
  return { actor: { kind: 'system', id: 'contract' }, correlationId: randomUUID(), causationId: randomUUID(), ...overrides };
}

export function newEvent(type: string, data: unknown = {}, meta: EventMetadata = metadata()): NewEvent {
  return { id: randomUUID(), type, data, metadata: meta };
}

export function newEvents(count: number, type: string, from = 0): NewEvent[] {
  return Array.from({ length: count }, (_, i) => newEvent(type, { n: from + i }));
}

/** Where a test starts reading `$all`: just after whatever the store already holds. */
export async function startPosition(store: EventStore): Promise<Position | 'start'> {
  return (await store.headPosition()) ?? 'start';
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `what` may be a function so the timeout message shows the state at the time of failure. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(10);
  }
}

export function expectAscending(events: readonly RecordedEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    if (comparePositions(events[i - 1].position, events[i].position) >= 0) {
      throw new Error(`positions not strictly increasing at index ${i}: ${formatPosition(events[i - 1].position)} then ${formatPosition(events[i].position)}`);
    }
  }
}

/** Records every batch a subscription hands over and checks the handler is never re-entered. */
export class BatchCollector {
  readonly batches: SubscriptionBatch[] = [];
  private running = 0;
  maxConcurrent = 0;

  constructor(private readonly handlerDelayMs = 0) {}

  readonly onBatch = async (batch: SubscriptionBatch): Promise<void> => {
    this.running++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.running);
    try {
      if (this.handlerDelayMs) await sleep(this.handlerDelayMs);
      this.batches.push(batch);
    } finally {
      this.running--;
    }
  };

  get events(): RecordedEvent[] {
    return this.batches.flatMap((b) => b.events);
  }

  eventsOf(streamPrefix: string): RecordedEvent[] {
    return this.events.filter((e) => e.streamId.startsWith(streamPrefix));
  }

  get lastCheckpoint(): Position | undefined {
    return this.batches[this.batches.length - 1]?.checkpoint;
  }

  describe(): string {
    const last = this.lastCheckpoint;
    return `${this.batches.length} batches, ${this.events.length} events, last checkpoint ${last ? formatPosition(last) : 'none'}`;
  }
}

export function ids(events: readonly { id: string }[]): string[] {
  return events.map((e) => e.id);
}
