import type { ExpectedRevision } from './types.js';

export class EventStoreError extends Error {
  readonly code: string = 'EVENT_STORE_ERROR';
}

/** The stream's revision did not match the expected revision of an append. */
export class WrongExpectedVersionError extends EventStoreError {
  override readonly code = 'WRONG_EXPECTED_VERSION';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    /** The stream's current revision, or 'no_stream'. */
    readonly actual: bigint | 'no_stream',
  ) {
    super(`stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`);
  }
}

/** A re-append reused event ids that were written differently (not an idempotent retry). */
export class IdempotencyConflictError extends EventStoreError {
  override readonly code = 'IDEMPOTENCY_CONFLICT';
  constructor(readonly streamId: string, readonly eventId: string) {
    super(`event ${eventId} already exists and the append to ${streamId} is not an exact retry`);
  }
}

export class StreamDeletedError extends EventStoreError {
  override readonly code = 'STREAM_DELETED';
  constructor(readonly streamId: string) {
    super(`stream ${streamId} is deleted`);
  }
}

/** The store could not be reached or refused the request for now (not leader, unavailable). */
export class EventStoreUnavailableError extends EventStoreError {
  override readonly code = 'EVENT_STORE_UNAVAILABLE';
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
  }
}
