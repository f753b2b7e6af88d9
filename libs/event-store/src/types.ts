/** A global position in `$all`, totally ordered by (commit, prepare) as in EventStoreDB. */
export interface Position {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface Actor {
  kind: 'token' | 'user' | 'system';
  id: string;
}

/** Metadata every event carries (BRIEF §2); adapters may add keys but never drop these. */
export interface EventMetadata {
  actor: Actor;
  correlationId: string;
  causationId: string;
  requestId?: string;
  ip?: string;
  [key: string]: JsonValue | Actor | undefined;
}

export interface NewEvent<Type extends string = string, Data = unknown> {
  /** uuid; the idempotency key of the append. */
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
}

export interface RecordedEvent<Type extends string = string, Data = unknown> {
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
  streamId: string;
  /** 0-based, per stream. */
  revision: bigint;
  position: Position;
  createdAt: Date;
}

export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

export interface AppendOptions {
  expectedRevision?: ExpectedRevision;
}

export interface AppendResult {
  /** The stream's revision after the append (the last event's revision). */
  nextExpectedRevision: bigint;
  /** Position of the last event written (or of the original write on an idempotent re-append). */
  position: Position;
}

export interface ReadStreamOptions {
  direction?: 'forwards' | 'backwards';
  /** Inclusive; default: start (forwards) or end (backwards). */
  fromRevision?: bigint | 'start' | 'end';
  maxCount?: number;
}

export interface EventFilter {
  /** Event types to include (exact match). */
  eventTypes?: readonly string[];
  /** Event type prefixes to include. */
  eventTypePrefixes?: readonly string[];
  /** Stream name prefixes to include (e.g. `kv-`). */
  streamPrefixes?: readonly string[];
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. Default: start. */
  fromPosition?: Position | 'start';
  maxCount?: number;
  filter?: EventFilter;
}

export interface SubscriptionBatch {
  events: RecordedEvent[];
  /** Everything up to here (inclusive) has been delivered; a resume point. */
  checkpoint: Position;
  /** True once the subscription has read everything that existed when the batch was read. */
  caughtUp: boolean;
}

export interface SubscribeToAllOptions {
  /** Exclusive resume point; 'start' reads from the beginning, 'end' only new events. */
  fromPosition?: Position | 'start' | 'end';
  filter?: EventFilter;
  /** Largest batch handed to onBatch. */
  maxBatchSize?: number;
  /** Handles one batch; the next batch is read only after it resolves. */
  onBatch(batch: SubscriptionBatch): Promise<void>;
  /** Called when the subscription stops on an error it cannot recover from (or onBatch threw). */
  onError?(error: Error): void;
}

export interface AllSubscription {
  /** Stops the subscription; resolves when no onBatch call is running. */
  close(): Promise<void>;
  /** Settles when the subscription stops (resolves on close, rejects on error). */
  readonly done: Promise<void>;
}

export interface EventStore {
  readonly kind: 'postgres' | 'esdb';
  appendToStream(streamId: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /** Events of one stream; empty array for a stream that does not exist. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Position of the last event in `$all` that readers can see, or null for an empty store. */
  headPosition(): Promise<Position | null>;
  subscribeToAll(options: SubscribeToAllOptions): AllSubscription;
  /** Cheap liveness probe for health checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const EVENT_STORE = Symbol('EVENT_STORE');
