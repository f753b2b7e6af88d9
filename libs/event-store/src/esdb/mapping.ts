import {
  ANY,
  CancelledError,
  DeadlineExceededError,
  excludeSystemEvents,
  eventTypeFilter,
  NO_STREAM,
  NotLeaderError,
  STREAM_EXISTS,
  StreamDeletedError as EsdbStreamDeletedError,
  streamNameFilter,
  UnavailableError,
  WrongExpectedVersionError as EsdbWrongExpectedVersionError,
  type AppendExpectedRevision,
  type Filter,
  type JSONEventData,
  type Position as EsdbPosition,
} from '@eventstore/db-client';
import { EventStoreUnavailableError, IdempotencyConflictError, StreamDeletedError, WrongExpectedVersionError } from '../errors.js';
import type { EventFilter, EventMetadata, ExpectedRevision, NewEvent, Position, RecordedEvent } from '../types.js';

/** The parts of the client's recorded event we read (its union type is awkward to narrow). */
export interface EsdbRecord {
  streamId: string;
  id: string;
  revision: bigint;
  type: string;
  created: Date;
  data: unknown;
  metadata?: unknown;
  position?: EsdbPosition;
}

export function isSystemEvent(type: string): boolean {
  return type.startsWith('$');
}

export function toExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      return expected;
  }
}

/** Our metadata plus EventStoreDB's own correlation keys, so its tooling and projections see them. */
export function toEventData(event: NewEvent): JSONEventData {
  const metadata = { ...event.metadata, $correlationId: event.metadata.correlationId, $causationId: event.metadata.causationId };
  return { id: event.id, contentType: 'application/json', type: event.type, data: (event.data ?? null) as JSONEventData['data'], metadata };
}

export function toRecordedEvent(record: EsdbRecord): RecordedEvent {
  if (!record.position) throw new Error(`event ${record.id} in ${record.streamId} came without a position (server older than 20.6?)`);
  const { $correlationId: _correlation, $causationId: _causation, ...metadata } = (record.metadata ?? {}) as Record<string, unknown>;
  return {
    id: record.id,
    type: record.type,
    data: record.data,
    metadata: metadata as EventMetadata,
    streamId: record.streamId,
    revision: record.revision,
    position: record.position,
    createdAt: record.created,
  };
}

export function toAppendError(error: unknown, streamId: string, expected: ExpectedRevision, firstEventId: string): unknown {
  if (error instanceof EsdbWrongExpectedVersionError) {
    // With 'any' a conflict can only mean the ids matched part of an earlier append (EventStoreDB's corrupted idempotency).
    if (expected === 'any') return new IdempotencyConflictError(streamId, firstEventId);
    return new WrongExpectedVersionError(streamId, expected, error.actualVersion);
  }
  return toStoreError(error, streamId);
}

export function toStoreError(error: unknown, streamId?: string): unknown {
  if (error instanceof EsdbStreamDeletedError) return new StreamDeletedError(error.streamName ?? streamId ?? '');
  if (isUnavailable(error)) return new EventStoreUnavailableError(`EventStoreDB unavailable: ${(error as Error).message}`, error);
  return error;
}

/** The call did not complete and its outcome is unknown: a lost connection cancels calls in flight (CANCELLED). */
export function isUnavailable(error: unknown): boolean {
  return (
    error instanceof UnavailableError || error instanceof NotLeaderError || error instanceof DeadlineExceededError || error instanceof CancelledError
  );
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The server-side filter for a subscription, and whether events must also be checked here: the
 * server filters on event type or on stream name, not both, so a filter naming both (or none)
 * runs on the client behind a filter that only drops system events. Every server filter makes
 * the server send checkpoints, so the subscription's checkpoint moves past filtered-out events.
 */
export function subscriptionFilter(
  filter: EventFilter | undefined,
  checkpointReached: (position: Position) => void,
): { server: Filter; clientSide: boolean } {
  const types = filter?.eventTypes ?? [];
  const typePrefixes = filter?.eventTypePrefixes ?? [];
  const streamPrefixes = filter?.streamPrefixes ?? [];
  const hasTypes = types.length > 0 || typePrefixes.length > 0;
  const base = { checkpointInterval: 1, checkpointReached: (_: unknown, position: Position) => checkpointReached(position) };
  if (hasTypes && streamPrefixes.length === 0) {
    if (types.length === 0) return { server: eventTypeFilter({ ...base, prefixes: [...typePrefixes] }), clientSide: false };
    const alternatives = [...types.map((t) => `${escapeRegex(t)}$`), ...typePrefixes.map(escapeRegex)];
    return { server: eventTypeFilter({ ...base, regex: `^(?:${alternatives.join('|')})` }), clientSide: false };
  }
  if (!hasTypes && streamPrefixes.length > 0) {
    return { server: streamNameFilter({ ...base, prefixes: [...streamPrefixes] }), clientSide: false };
  }
  return { server: excludeSystemEvents(base), clientSide: hasTypes };
}
